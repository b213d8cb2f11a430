import { nodeRegistry } from "../host/engine.js";
import { MemoryStore } from "../host/memory-store.js";
import { MODEL_ID, singleFileModel } from "./memory.js";

/**
 * Runs as its own process with --expose-gc: `memory-probe.ts <file.onnx> [<file.ort>]` loads one
 * model through the engine's registry (from its ORT-format copy when one is given) and prints one
 * JSON line: the growth of ORT's wasm memory, and the JS ArrayBuffer bytes the engine still holds
 * once the session is loaded (after collections), beyond the store's own copy.
 */
const [onnxPath = "", ortPath] = process.argv.slice(2);
const { gc } = globalThis;
if (!gc) throw new Error("run with --expose-gc");
const collect = gc;

async function collected(): Promise<number> {
  // V8 releases ArrayBuffer memory on a sweep after the collection, not during it.
  for (let pass = 0; pass < 3; pass++) {
    collect();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return process.memoryUsage().arrayBuffers;
}

const store = new MemoryStore();
for (const [key, bytes] of await singleFileModel(onnxPath, ortPath)) store.objects.set(key, bytes);
const registry = nodeRegistry(store);
const runtime = await registry.runtime();
const jsBefore = await collected();
const wasmBefore = runtime.wasmMemoryBytes();
const manifest = await registry.manifest(MODEL_ID);
const [file] = manifest.files;
if (!file) throw new Error("the model has no file");
const lease = await registry.session(manifest, file);
const grown = runtime.wasmMemoryBytes() - wasmBefore;
const retained = (await collected()) - jsBefore;
lease.release();
process.stdout.write(`${JSON.stringify({ grown_bytes: grown, js_retained_bytes: retained })}\n`);
