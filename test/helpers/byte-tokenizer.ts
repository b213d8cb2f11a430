import { TextTokenizer } from "../../src/text/tokenizer.js";

/**
 * A real byte-level BPE tokenizer with no merges: one token per UTF-8 byte, GPT-2's byte-to-
 * unicode alphabet, decoded by the ByteLevel decoder. Every Chinese character or emoji spans
 * several tokens, which is what the streaming detokenizer has to get right.
 */
function bytesToUnicode(): string[] {
  const printable = new Set<number>();
  for (let b = 0x21; b <= 0x7e; b++) printable.add(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.add(b);
  for (let b = 0xae; b <= 0xff; b++) printable.add(b);
  let extra = 0;
  return Array.from({ length: 256 }, (_, byte) =>
    String.fromCodePoint(printable.has(byte) ? byte : 256 + extra++),
  );
}

export function byteTokenizer(): TextTokenizer {
  const alphabet = bytesToUnicode();
  const vocab = Object.fromEntries(alphabet.map((char, id) => [char, id]));
  const tokenizerJson = {
    version: "1.0",
    added_tokens: [{ id: 256, content: "<|eos|>", special: true, normalized: false }],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: { type: "BPE", vocab: { ...vocab, "<|eos|>": 256 }, merges: [], byte_fallback: false },
  };
  return new TextTokenizer({
    tokenizerJson,
    tokenizerConfig: { eos_token: "<|eos|>", clean_up_tokenization_spaces: false },
  });
}
