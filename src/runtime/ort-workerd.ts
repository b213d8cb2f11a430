import ortWasm from "../../node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm";
import { type OrtRuntime, startOrt } from "./ort.js";

/** workerd bootstrap: wrangler precompiles the imported wasm into a WebAssembly.Module. */
export function startOrtInWorkerd(): Promise<OrtRuntime> {
  return startOrt(ortWasm);
}
