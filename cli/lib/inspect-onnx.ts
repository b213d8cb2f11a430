import { readFile } from "node:fs/promises";
import { createSession } from "../../src/runtime/load-session.js";
import type { OrtRuntime } from "../../src/runtime/ort.js";
import { startOrtInNode } from "../../src/runtime/ort-node.js";
import { describeValues } from "../../src/runtime/session.js";

/**
 * Runs as its own process, so it gets a fresh ORT with nothing else loaded: the growth of ORT's
 * wasm memory while creating the session is what this model costs an isolate. A fresh heap has
 * free space that an isolate serving other models would not have, so it is filled first. With an ORT-format
 * copy, the copy is what the worker loads, so it is measured first (on the fresh ORT); the `.onnx`
 * is then loaded for its inputs and outputs.
 * Usage: inspect-onnx.ts <file.onnx> [<file.ort>]; prints one JSON line.
 */
const [onnxPath = "", ortPath] = process.argv.slice(2);
try {
  const runtime = await startOrtInNode();
  fillFreeHeap(runtime);
  const load = async (path: string, format: "onnx" | "ort") => {
    const bytes = new Uint8Array(await readFile(path));
    const created = await createSession(runtime, bytes, format);
    return { created, size: bytes.byteLength };
  };
  const measured = ortPath ? await load(ortPath, "ort") : undefined;
  const onnx = await load(onnxPath, "onnx");
  const cost = measured ?? onnx;
  process.stdout.write(
    `${JSON.stringify({
      inputs: describeValues(onnx.created.session.inputMetadata),
      outputs: describeValues(onnx.created.session.outputMetadata),
      memory_bytes: Math.max(cost.created.grownBytes, cost.size),
    })}\n`,
  );
} catch (error) {
  process.stdout.write(
    `${JSON.stringify({ error: error instanceof Error ? error.message : String(error) })}\n`,
  );
}

/** Takes the fresh heap's free space (the blocks live as long as the process), so loads grow it. */
function fillFreeHeap(runtime: OrtRuntime): void {
  const start = runtime.wasmMemoryBytes();
  while (runtime.heap && runtime.wasmMemoryBytes() === start) runtime.heap.allocate(64 * 1024);
}
