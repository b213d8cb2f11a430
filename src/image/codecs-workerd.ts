import jpegWasm from "../../node_modules/@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm";
import webpWasm from "../../node_modules/@jsquash/webp/codec/dec/webp_dec.wasm";
import type { ImageCodecs } from "./decode.js";

/** The decoders' wasm as wrangler precompiles it (workerd cannot compile wasm at run time). */
export const workerdImageCodecs: ImageCodecs = {
  jpeg: () => Promise.resolve(jpegWasm),
  webp: () => Promise.resolve(webpWasm),
};
