/**
 * Adds V8 flags to the workerd config that Miniflare (tests, `npm run dev`) sends on stdin, a binary
 * Cap'n Proto `Config` message (node_modules/workerd/workerd.capnp): Miniflare has no option for
 * the config's `v8Flags` field. Plain JavaScript, because it runs before every workerd start and
 * must start fast. Usage: `node workerd-config-flags.mjs <flag>... < config.bin > patched.bin`.
 *
 * The flags go into a new segment that the root struct's `v8Flags` pointer (slot 2) reaches through
 * a far pointer, so nothing already in the message moves. A message that already has flags, or a
 * root it cannot read, is passed through unchanged, with a line on stderr.
 */
import { readFileSync, writeSync } from "node:fs";

const V8_FLAGS_POINTER = 2;
const WORD = 8;

function patch(message, flags) {
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const segmentCount = view.getUint32(0, true) + 1;
  const headerBytes = Math.ceil((4 + 4 * segmentCount) / WORD) * WORD;
  const segments = [];
  let offset = headerBytes;
  for (let i = 0; i < segmentCount; i++) {
    const bytes = view.getUint32(4 + 4 * i, true) * WORD;
    segments.push({ start: offset, bytes });
    offset += bytes;
  }
  const slot = v8FlagsSlot(view, segments);
  if (slot === undefined) return { message, problem: "its root struct could not be read" };
  if (view.getBigUint64(slot, true) !== 0n) return { message, problem: "it already sets v8Flags" };

  const texts = flags.map((flag) => new TextEncoder().encode(`${flag}\0`));
  const textWords = texts.map((text) => Math.ceil(text.length / WORD));
  const segmentWords = 1 + flags.length + textWords.reduce((sum, words) => sum + words, 0);
  const added = new DataView(new ArrayBuffer(segmentWords * WORD));
  // Word 0 is the far pointer's landing pad: a list of pointers, starting right after it.
  added.setBigUint64(0, listPointer(0, 6, flags.length), true);
  let textWord = 1 + flags.length;
  for (const [i, text] of texts.entries()) {
    const pointerWord = 1 + i;
    added.setBigUint64(pointerWord * WORD, listPointer(textWord - pointerWord - 1, 2, text.length), true);
    new Uint8Array(added.buffer, textWord * WORD, text.length).set(text);
    textWord += textWords[i];
  }

  const newCount = segmentCount + 1;
  const newHeaderBytes = Math.ceil((4 + 4 * newCount) / WORD) * WORD;
  const out = new Uint8Array(newHeaderBytes + (offset - headerBytes) + added.byteLength);
  const outView = new DataView(out.buffer);
  outView.setUint32(0, newCount - 1, true);
  for (const [i, segment] of segments.entries()) outView.setUint32(4 + 4 * i, segment.bytes / WORD, true);
  outView.setUint32(4 + 4 * segmentCount, segmentWords, true);
  out.set(message.subarray(headerBytes, offset), newHeaderBytes);
  out.set(new Uint8Array(added.buffer), newHeaderBytes + (offset - headerBytes));
  // A far pointer (type 2, one landing pad) to word 0 of the new segment.
  const farPointer = (BigInt(segmentCount) << 32n) | 2n;
  outView.setBigUint64(slot - headerBytes + newHeaderBytes, farPointer, true);
  return { message: out };
}

/** The byte offset of the root Config's v8Flags pointer, following a root far pointer if there is one. */
function v8FlagsSlot(view, segments) {
  const first = segments[0];
  if (!first) return undefined;
  let pointerAt = first.start;
  let pointer = view.getBigUint64(pointerAt, true);
  if ((pointer & 3n) === 2n) {
    if ((pointer & 4n) !== 0n) return undefined;
    const target = segments[Number(pointer >> 32n)];
    if (!target) return undefined;
    pointerAt = target.start + Number((pointer & 0xffffffffn) >> 3n) * WORD;
    pointer = view.getBigUint64(pointerAt, true);
  }
  if ((pointer & 3n) !== 0n) return undefined;
  const offsetWords = Number(BigInt.asIntN(30, (pointer & 0xffffffffn) >> 2n));
  const dataWords = Number((pointer >> 32n) & 0xffffn);
  const pointerWords = Number((pointer >> 48n) & 0xffffn);
  if (pointerWords <= V8_FLAGS_POINTER) return undefined;
  return pointerAt + (1 + offsetWords + dataWords + V8_FLAGS_POINTER) * WORD;
}

/** A list pointer: type 1, offset in words from the end of the pointer, element size code, count. */
function listPointer(offsetWords, sizeCode, count) {
  const low = BigInt((offsetWords << 2) | 1) & 0xffffffffn;
  return (BigInt(count) << 35n) | (BigInt(sizeCode) << 32n) | low;
}

const flags = process.argv.slice(2);
const input = readFileSync(0);
const { message, problem } = flags.length > 0 ? patch(input, flags) : { message: input };
if (problem) process.stderr.write(`workerd-config-flags: V8 flags not added, ${problem}\n`);
for (let written = 0; written < message.length; ) written += writeSync(1, message, written);
