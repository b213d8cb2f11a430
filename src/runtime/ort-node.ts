import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { type OrtRuntime, startOrt } from "./ort.js";

let compiled: Promise<WebAssembly.Module> | undefined;

/**
 * Node bootstrap: compile the same wasm file the worker ships, then start ORT the same way.
 * setImmediate lets I/O in without the 1 ms floor of Node's timers. The registry asks for the
 * runtime on every load, so the 14 MB file is read and compiled once, not on each call.
 */
export async function startOrtInNode(): Promise<OrtRuntime> {
  compiled ??= compileOrtWasm().catch((error: unknown) => {
    compiled = undefined;
    throw error;
  });
  return startOrt(await compiled, () => new Promise((resolve) => setImmediate(resolve)));
}

async function compileOrtWasm(): Promise<WebAssembly.Module> {
  const require = createRequire(import.meta.url);
  const dist = dirname(require.resolve("onnxruntime-web/wasm"));
  return WebAssembly.compile(await readFile(join(dist, "ort-wasm-simd-threaded.wasm")));
}
