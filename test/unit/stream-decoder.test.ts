import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { MODELS_DIR } from "../../host/paths.js";
import { seededRandom } from "../../src/tasks/sampling.js";
import { StreamDecoder } from "../../src/text/stream-decoder.js";
import { TextTokenizer } from "../../src/text/tokenizer.js";
import { byteTokenizer } from "../helpers/byte-tokenizer.js";

async function tokenizerOf(model: string): Promise<TextTokenizer> {
  const read = async (name: string) => JSON.parse(await readFile(join(MODELS_DIR, model, name), "utf8"));
  return new TextTokenizer({
    tokenizerJson: await read("tokenizer.json"),
    tokenizerConfig: await read("tokenizer_config.json"),
  });
}

/**
 * The streaming rules applied to the whole id list decoded again at every token: what the
 * incremental decoder must reproduce piece for piece.
 */
function referencePieces(tokenizer: TextTokenizer, ids: number[], stops: string[]) {
  const pieces: string[] = [];
  let emitted = "";
  const advanceTo = (safe: string) => {
    if (!safe.startsWith(emitted) || safe.length <= emitted.length) return "";
    const piece = safe.slice(emitted.length);
    emitted = safe;
    return piece;
  };
  for (let n = 1; n <= ids.length; n++) {
    const full = tokenizer.decode(ids.slice(0, n));
    let stop: number | undefined;
    for (const s of stops) {
      const at = full.indexOf(s, Math.max(0, emitted.length - s.length + 1));
      if (at >= 0 && (stop === undefined || at < stop)) stop = at;
    }
    if (stop !== undefined) {
      pieces.push(advanceTo(full.slice(0, stop)));
      return { pieces, stopped: true };
    }
    if (full.endsWith("\uFFFD")) {
      pieces.push("");
      continue;
    }
    let held = 0;
    for (const s of stops) {
      for (let length = Math.min(s.length - 1, full.length); length > held; length--) {
        if (full.endsWith(s.slice(0, length))) {
          held = length;
          break;
        }
      }
    }
    pieces.push(advanceTo(full.slice(0, full.length - held)));
  }
  pieces.push(advanceTo(tokenizer.decode(ids)));
  return { pieces, stopped: false };
}

function streamedPieces(tokenizer: TextTokenizer, ids: number[], stops: string[]) {
  const decoder = new StreamDecoder(tokenizer, stops);
  const pieces: string[] = [];
  for (const id of ids) {
    const { text, stopped } = decoder.push(id);
    pieces.push(text);
    if (stopped) return { pieces, stopped: true };
  }
  pieces.push(decoder.flush());
  return { pieces, stopped: false };
}

const texts = [
  "Hello! Where is my order A1234567? It has been a week, and the tracking page says nothing.",
  "你好，我的订单 A7654321 现在到哪里了？已经一周了。谢谢您的耐心！",
  "Emoji 😀👍🏽🚚📦 and café, naïve façade — «quotes» ½ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
  "混合 mixed 文本 🚚 delivery 鿿 㐀 龘 (rare characters fall back to bytes)",
  "  spaced   out\n\n\ttext , with . odd ' spacing ?  ",
];
const stopSets = [[], ["\nUser:", "谢谢"], ["a", "。"], ["ing", "😀"]];

describe("incremental detokenization gives exactly the pieces of decoding everything at every token", () => {
  const tokenizers: [string, () => Promise<TextTokenizer>][] = [
    ...["shop-assistant", "captioner", "phrase-translator", "intent-bert"].map(
      (model) => [model, () => tokenizerOf(model)] as [string, () => Promise<TextTokenizer>],
    ),
    ["one token per byte", async () => byteTokenizer()],
  ];
  for (const [name, load] of tokenizers) {
    test(`${name}: encoded texts, every stop set`, async () => {
      const tokenizer = await load();
      for (const text of texts) {
        const ids = tokenizer.encode(text, false);
        for (const stops of stopSets) {
          assert.deepEqual(
            streamedPieces(tokenizer, ids, stops),
            referencePieces(tokenizer, ids, stops),
            `${JSON.stringify(text)} with stops ${JSON.stringify(stops)}`,
          );
        }
      }
    });

    test(`${name}: random ids, special tokens and broken characters included`, async () => {
      const tokenizer = await load();
      const random = seededRandom(7);
      for (let run = 0; run < 40; run++) {
        const ids = Array.from({ length: 60 }, () => Math.floor(random() * tokenizer.vocabSize));
        const stops = stopSets[run % stopSets.length] ?? [];
        assert.deepEqual(
          streamedPieces(tokenizer, ids, stops),
          referencePieces(tokenizer, ids, stops),
          `ids ${JSON.stringify(ids)} with stops ${JSON.stringify(stops)}`,
        );
      }
    });
  }

  test("the generating models' tokenizers take the incremental path; WordPiece with clean-up does not", async () => {
    for (const model of ["shop-assistant", "captioner", "phrase-translator"]) {
      assert.equal((await tokenizerOf(model)).decodesLocally, true, model);
    }
    assert.equal(byteTokenizer().decodesLocally, true);
    assert.equal((await tokenizerOf("intent-bert")).decodesLocally, false);
  });

  test("the byte tokenizer splits characters across tokens, so holding them back is exercised", () => {
    const tokenizer = byteTokenizer();
    const { pieces } = streamedPieces(tokenizer, tokenizer.encode(texts[2] ?? "", false), []);
    assert.ok(
      pieces.filter((piece) => piece === "").length > 10,
      "tokens ending inside a character give no piece",
    );
  });
});
