import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { MODELS_DIR } from "../../host/paths.js";
import { TextTokenizer } from "../../src/text/tokenizer.js";

async function tokenizerOf(model: string): Promise<TextTokenizer> {
  const read = async (name: string) => JSON.parse(await readFile(join(MODELS_DIR, model, name), "utf8"));
  return new TextTokenizer({
    tokenizerJson: await read("tokenizer.json"),
    tokenizerConfig: await read("tokenizer_config.json"),
  });
}

const texts = [
  "Where is my order A1234567? It was due on Monday.",
  "我的订单 A1234567 在哪里？周一就该到了。",
  "   spaced      out\\n\\n\\ttext   ",
  "🚚📦 emoji and café, naïve façade",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "的".repeat(300),
];

describe("the token count bound used to refuse huge prompts before tokenizing", () => {
  for (const model of ["shop-assistant", "intent-bert", "phrase-translator", "glove-static"]) {
    test(`${model}: the bound never exceeds the real count`, async () => {
      const tokenizer = await tokenizerOf(model);
      for (const text of texts) {
        const real = tokenizer.encode(text, false).length;
        assert.ok(
          tokenizer.minimumTokens(text) <= real,
          `${JSON.stringify(text.slice(0, 20))}: ${real} tokens`,
        );
      }
      const huge = "order status please ".repeat(50_000);
      assert.ok(
        tokenizer.minimumTokens(huge) > 2048,
        "a megabyte of text is known to be too long untokenized",
      );
    });
  }
});
