import { readFile } from "node:fs/promises";
import { startOrtInNode } from "../src/runtime/ort-node.js";

/**
 * Run as its own process, so ORT's wasm memory holds nothing else: prints one JSON line with how
 * much that memory grew while creating a session for the file (with the engine's options) and how
 * long creating it took. Usage: load-memory.ts <file.onnx>
 */
const bytes = new Uint8Array(await readFile(process.argv[2] ?? ""));
const runtime = await startOrtInNode();
const before = runtime.wasmMemoryBytes();
const started = performance.now();
await runtime.ort.InferenceSession.create(bytes, {
  executionProviders: ["wasm"],
  graphOptimizationLevel: "all",
});
const createMs = performance.now() - started;
process.stdout.write(`${JSON.stringify({ grownBytes: runtime.wasmMemoryBytes() - before, createMs })}\n`);
