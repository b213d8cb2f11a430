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
