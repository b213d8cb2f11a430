import { startOrtInNode } from "../../src/runtime/ort-node.js";
import { ModelRegistry } from "../../src/runtime/registry.js";
import type { ObjectStore } from "../../src/runtime/store.js";

/** The worker's engine under plain Node: same registry and tasks, onnxruntime-web started from disk. */
export function nodeRegistry(store: ObjectStore, budgetMb = 1024): ModelRegistry {
  return new ModelRegistry({ store, startOrt: startOrtInNode, budgetBytes: budgetMb * 1024 * 1024 });
}
