import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { splitSentences } from "../../src/text/sentences.js";

const rejoin = ({ sentences, separators }: ReturnType<typeof splitSentences>) =>
  (separators[0] ?? "") + sentences.map((sentence, i) => sentence + (separators[i + 1] ?? "")).join("");

describe("sentence splitting for translation", () => {
  for (const [text, expected] of [
    ["Your order shipped. It arrives Monday!", ["Your order shipped.", "It arrives Monday!"]],
    ["您的订单已发货。周一到达！谢谢", ["您的订单已发货。", "周一到达！", "谢谢"]],
    ["  Line one\n\nLine two?  ", ["  Line one", "Line two?"]],
    ["Pick up at 7.30 tomorrow.", ["Pick up at 7.30 tomorrow."]],
  ] as const) {
    test(JSON.stringify(text), () => {
      const split = splitSentences(text);
      assert.deepEqual(split.sentences, expected);
      assert.equal(split.separators.length, split.sentences.length + 1);
      assert.equal(rejoin(split), text, "separators keep the text's own spacing and line breaks");
    });
  }

  test("blank text has no sentences and keeps its whitespace", () => {
    assert.deepEqual(splitSentences(" \n "), { sentences: [], separators: [" \n "] });
  });
});
