import { join } from "node:path";
import * as ort from "onnxruntime-web";

/**
 * `@huggingface/transformers` v4 on onnxruntime-web (the same wasm build the worker runs, one
 * thread), offline, reading model folders from disk. Without this it would use onnxruntime-node.
 * onnxruntime-web's Node entry is used because transformers.js hands ORT file paths in Node.
 */
export async function loadTransformers(modelsDir: string) {
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  (globalThis as Record<symbol, unknown>)[Symbol.for("onnxruntime")] = ort;
  const transformers = await import("@huggingface/transformers");
  transformers.env.allowRemoteModels = false;
  transformers.env.allowLocalModels = true;
  transformers.env.localModelPath = `${join(modelsDir)}/`;
  transformers.env.useWasmCache = false;
  const wasm = transformers.env.backends.onnx.wasm;
  if (wasm) {
    wasm.wasmPaths = undefined;
    wasm.numThreads = 1;
  }
  return transformers;
}

/** Options every transformers.js load needs here: WASM only, an explicit dtype. */
export function wasmOptions(dtype: "fp32" | "q8") {
  return {
    dtype,
    device: "auto" as const,
    session_options: { executionProviders: ["wasm"] },
    local_files_only: true,
  };
}
