import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { GREEDY, nextToken, type SamplingParams, seededRandom } from "../../src/tasks/sampling.js";
import { StreamDecoder } from "../../src/text/stream-decoder.js";
import { byteTokenizer } from "../helpers/byte-tokenizer.js";

const tokenizer = byteTokenizer();

function stream(text: string, stops: string[] = []) {
  const decoder = new StreamDecoder(tokenizer, stops);
  const pieces: string[] = [];
  let stopped = false;
  for (const id of tokenizer.encode(text, false)) {
    const result = decoder.push(id);
    if (result.text) pieces.push(result.text);
    if (result.stopped) {
      stopped = true;
      break;
    }
  }
  const tail = decoder.flush();
  if (tail) pieces.push(tail);
  return { pieces, stopped, text: decoder.text };
}

describe("streaming detokenization", () => {
  for (const text of [
    "你好，我的订单 A1234567 在哪里？",
    "Emoji 😀👍🏽 and café",
    "混合 mixed 文本 🚚 delivery",
  ]) {
    test(`pieces are whole characters and add up to the text: ${text}`, () => {
      assert.ok(tokenizer.encode(text, false).length > [...text].length, "multi-byte characters span tokens");
      const { pieces, text: full } = stream(text);
      assert.equal(pieces.join(""), text);
      assert.equal(full, text);
      for (const piece of pieces)
        assert.ok(!piece.includes("\uFFFD"), `no half character in ${JSON.stringify(piece)}`);
    });
  }

  test("a stop string spanning tokens is never emitted", () => {
    const { pieces, stopped } = stream("Your order ships today.\nUser: thanks", ["\nUser:"]);
    assert.equal(stopped, true);
    assert.equal(pieces.join(""), "Your order ships today.");
  });

  test("text that only looks like the start of a stop string is released", () => {
    const { pieces, stopped } = stream("a\nUsers are welcome", ["\nUser:"]);
    assert.equal(stopped, false);
    assert.equal(pieces.join(""), "a\nUsers are welcome");
  });

  test("Chinese stop strings", () => {
    const { pieces, stopped } = stream("您的订单已发货。谢谢您的耐心", ["谢谢"]);
    assert.equal(stopped, true);
    assert.equal(pieces.join(""), "您的订单已发货。");
  });
});

describe("sampling", () => {
  const logits = () => Float32Array.from([1, 3, 2, 0.5, -1]);
  const params = (overrides: Partial<SamplingParams>): SamplingParams => ({ ...GREEDY, ...overrides });

  test("greedy takes the argmax", () => {
    assert.equal(nextToken(logits(), GREEDY, [], [], Math.random), 1);
  });

  test("the same seed draws the same tokens", () => {
    const draw = (seed: number) => {
      const random = seededRandom(seed);
      return Array.from({ length: 20 }, () =>
        nextToken(logits(), params({ temperature: 1.5 }), [], [], random),
      );
    };
    assert.deepEqual(draw(42), draw(42));
    assert.notDeepEqual(draw(42), draw(43));
  });

  test("top_k 1, tiny top_p and min_p near 1 all reduce to the argmax", () => {
    const random = seededRandom(1);
    for (let i = 0; i < 50; i++) {
      assert.equal(nextToken(logits(), params({ temperature: 2, topK: 1 }), [], [], random), 1);
      assert.equal(nextToken(logits(), params({ temperature: 2, topP: 0.01 }), [], [], random), 1);
      assert.equal(nextToken(logits(), params({ temperature: 2, minP: 0.99 }), [], [], random), 1);
    }
  });

  test("top_k 2 only ever draws the two best tokens", () => {
    const random = seededRandom(7);
    const seen = new Set<number>();
    for (let i = 0; i < 300; i++)
      seen.add(nextToken(logits(), params({ temperature: 5, topK: 2 }), [], [], random));
    assert.deepEqual([...seen].sort(), [1, 2]);
  });

  test("logit_bias -100 bans a token and +100 forces one", () => {
    assert.equal(nextToken(logits(), params({ logitBias: new Map([[1, -100]]) }), [], [], Math.random), 2);
    assert.equal(nextToken(logits(), params({ logitBias: new Map([[4, 100]]) }), [], [], Math.random), 4);
  });

  test("repetition penalty divides positive and multiplies negative logits of seen tokens", () => {
    const values = logits();
    nextToken(values, params({ repetitionPenalty: 2 }), [1, 4], [], Math.random);
    assert.equal(values[1], 1.5);
    assert.equal(values[4], -2);
    assert.equal(values[2], 2);
  });

  test("frequency and presence penalties count generated tokens only", () => {
    const values = logits();
    nextToken(
      values,
      params({ frequencyPenalty: 0.5, presencePenalty: 0.25 }),
      [2, 2],
      [1, 1, 1],
      Math.random,
    );
    assert.equal(values[1], 3 - 1.5 - 0.25);
    assert.equal(values[2], 2);
  });
});
