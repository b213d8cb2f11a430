import { readFile } from "node:fs/promises";
import { startOrtInNode } from "../../src/runtime/ort-node.js";
import { describeValues } from "../../src/runtime/session.js";

/**
 * Runs as its own process, so it gets a fresh ORT with nothing else loaded: the growth of ORT's
 * wasm memory while creating the session is what this model costs an isolate.
 * Usage: inspect-onnx.ts <file.onnx>; prints one JSON line.
 */
const path = process.argv[2] ?? "";
const bytes = new Uint8Array(await readFile(path));
const runtime = await startOrtInNode();
const before = runtime.wasmMemoryBytes();
try {
  const session = await runtime.ort.InferenceSession.create(bytes, {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
  });
  const grown = runtime.wasmMemoryBytes() - before;
  process.stdout.write(
    `${JSON.stringify({
      inputs: describeValues(session.inputMetadata),
      outputs: describeValues(session.outputMetadata),
      memory_bytes: Math.max(grown, bytes.byteLength),
    })}\n`,
  );
} catch (error) {
  process.stdout.write(
    `${JSON.stringify({ error: error instanceof Error ? error.message : String(error) })}\n`,
  );
}
