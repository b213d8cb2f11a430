import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { type OrtRuntime, startOrt } from "./ort.js";

/**
 * Node bootstrap: compile the same wasm file the worker ships, then start ORT the same way.
 * setImmediate lets I/O in without the 1 ms floor of Node's timers.
 */
export async function startOrtInNode(): Promise<OrtRuntime> {
  const require = createRequire(import.meta.url);
  const dist = dirname(require.resolve("onnxruntime-web/wasm"));
  const bytes = await readFile(join(dist, "ort-wasm-simd-threaded.wasm"));
  return startOrt(await WebAssembly.compile(bytes), () => new Promise((resolve) => setImmediate(resolve)));
}
