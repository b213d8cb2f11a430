import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { ImageCodecs } from "../src/image/decode.js";

/** The image decoders' wasm under Node: the same files the worker ships, compiled from disk. */
const require = createRequire(import.meta.url);

async function compile(file: string): Promise<WebAssembly.Module> {
  return WebAssembly.compile(await readFile(require.resolve(file)));
}

export const nodeImageCodecs: ImageCodecs = {
  jpeg: () => compile("@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm"),
  webp: () => compile("@jsquash/webp/codec/dec/webp_dec.wasm"),
};
