import ortWasm from "../../node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm";
import { type OrtRuntime, startOrt } from "./ort.js";

/**
 * workerd bootstrap: wrangler precompiles the imported wasm into a WebAssembly.Module. A zero
 * timer is workerd's way to let pending I/O in (time does not advance while code runs).
 */
export function startOrtInWorkerd(): Promise<OrtRuntime> {
  return startOrt(ortWasm, () => new Promise((resolve) => setTimeout(resolve, 0)));
}
