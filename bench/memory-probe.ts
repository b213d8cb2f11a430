import { readFile } from "node:fs/promises";
import { nodeRegistry } from "../host/engine.js";
import { MemoryStore } from "../host/memory-store.js";
import { type CreatedSession, createSession } from "../src/runtime/load-session.js";
import { MODEL_ID, singleFileModel } from "./memory.js";

/** Enough sessions for about 64 MiB of model bytes, so the heap's growth steps average out. */
const extraSessions = (size: number) => Math.min(16, Math.max(2, Math.floor((64 << 20) / size)));

/**
 * Runs as its own process with --expose-gc: `memory-probe.ts <file.onnx> [<file.ort>]` loads one
 * model through the engine's registry (from its ORT-format copy when one is given) and prints one
 * JSON line: the growth of ORT's wasm memory, the growth per further session of the same file, and
 * the JS ArrayBuffer bytes the engine still holds once the session is loaded (after collections),
 * beyond the store's own copy.
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

// More sessions of the same file, past the first one's overhead and the heap's free space: the
// growth per session is what each further model of this kind costs.
const bytes = new Uint8Array(await readFile(ortPath ?? onnxPath));
const copies = extraSessions(bytes.byteLength);
const extraBefore = runtime.wasmMemoryBytes();
const extra: CreatedSession[] = [];
for (let copy = 0; copy < copies; copy++)
  extra.push(await createSession(runtime, bytes, ortPath ? "ort" : "onnx"));
const perSession = (runtime.wasmMemoryBytes() - extraBefore) / copies;
for (const session of extra) await session.release();
lease.release();
process.stdout.write(
  `${JSON.stringify({ grown_bytes: grown, per_session_bytes: perSession, js_retained_bytes: retained })}\n`,
);
