import { join } from "node:path";
import { nodeRegistry } from "../../cli/lib/engine.js";
import { MemoryStore } from "../../cli/lib/memory-store.js";
import type { ModelRegistry } from "../../src/runtime/registry.js";
import { MODELS_DIR } from "./worker.js";

/** The engine under plain Node with bundled models pushed into a memory store. */
export async function engineWith(...ids: string[]): Promise<ModelRegistry> {
  const store = new MemoryStore();
  for (const id of ids) await store.push(join(MODELS_DIR, id), id);
  return nodeRegistry(store);
}

/** The engine under plain Node with one model folder (anywhere on disk) pushed under `id`. */
export async function engineWithFolder(folder: string, id: string): Promise<ModelRegistry> {
  const store = new MemoryStore();
  await store.push(folder, id);
  return nodeRegistry(store);
}
