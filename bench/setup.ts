import { join } from "node:path";
import { nodeRegistry } from "../host/engine.js";
import { MemoryStore } from "../host/memory-store.js";
import { MODELS_DIR } from "../host/paths.js";
import { startWorker, type TestWorker } from "../host/worker.js";

/** Copies a model already pushed to a memory store (manifest included) into a worker's bucket. */
export async function copyModel(store: MemoryStore, worker: TestWorker): Promise<void> {
  for (const [key, bytes] of store.objects) await worker.bucket.put(key, bytes);
}

/**
 * One bundled model pushed once (its ONNX files inspected once), served both by the engine in
 * this process and by a fresh worker whose bucket gets the same objects.
 */
export async function prepareModel(id: string, options: { directSocket?: boolean } = {}) {
  const store = new MemoryStore();
  await store.push(join(MODELS_DIR, id), id);
  const registry = nodeRegistry(store);
  const manifest = await registry.manifest(id);
  const worker = await startWorker({ budgetMb: 1024, ...options });
  await copyModel(store, worker);
  return { registry, manifest, worker };
}
