import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { languageTokens, matchLanguage } from "../../src/text/languages.js";
import { TextTokenizer } from "../../src/text/tokenizer.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "hf");

async function languagesOf(fixture: string) {
  const read = async (name: string) => JSON.parse(await readFile(join(FIXTURES, fixture, name), "utf8"));
  const tokenizer = new TextTokenizer({
    tokenizerJson: await read("tokenizer.json"),
    tokenizerConfig: await read("tokenizer_config.json"),
  });
  return { tokenizer, languages: languageTokens(tokenizer) };
}

describe("translation languages read from the vocabulary", () => {
  for (const [fixture, scheme, zh, en] of [
    ["m2m100", "m2m100", "__zh__", "__en__"],
    ["nllb", "nllb", "zho_Hans", "eng_Latn"],
    ["mbart", "mbart", "zh_CN", "en_XX"],
  ] as const) {
    test(`${fixture}: the scheme, and Chinese and English however a user names them`, async () => {
      const { tokenizer, languages } = await languagesOf(fixture);
      assert.equal(languages.scheme, scheme);
      for (const [token, names] of [
        [zh, ["zh", "zho", "Chinese", "zh-CN", zh]],
        [en, ["en", "eng", "English", en]],
      ] as const) {
        for (const name of names) {
          const code = matchLanguage(languages, name);
          assert.ok(code, `${name} is found`);
          assert.equal(languages.tokens.get(code), tokenizer.tokenId(token), `${name} is ${token}`);
        }
      }
      assert.equal(matchLanguage(languages, "klingon"), undefined);
    });
  }

  test("a one-pair model (Marian opus-mt style) needs no language", async () => {
    assert.equal((await languagesOf("marian-merged")).languages.scheme, "single-pair");
  });
});
