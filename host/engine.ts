import { join } from "node:path";
import { startOrtInNode } from "../src/runtime/ort-node.js";
import { ModelRegistry } from "../src/runtime/registry.js";
import type { ObjectStore } from "../src/runtime/store.js";
import { MemoryStore } from "./memory-store.js";
import { MODELS_DIR } from "./paths.js";

/**
 * The worker's engine under plain Node: the same registry and tasks, onnxruntime-web started
 * from disk. The CLI, the benchmarks and the engine-level tests all run models through it.
 */
export function nodeRegistry(store: ObjectStore, budgetMb = 1024): ModelRegistry {
  return new ModelRegistry({ store, startOrt: startOrtInNode, budgetBytes: budgetMb * 1024 * 1024 });
}

/** The engine with bundled models pushed into a memory store. */
export async function engineWith(...ids: string[]): Promise<ModelRegistry> {
  const store = new MemoryStore();
  for (const id of ids) await store.push(join(MODELS_DIR, id), id);
  return nodeRegistry(store);
}

/** The engine with one model folder (anywhere on disk) pushed under `id`. */
export async function engineWithFolder(folder: string, id: string): Promise<ModelRegistry> {
  const store = new MemoryStore();
  await store.push(folder, id);
  return nodeRegistry(store);
}
