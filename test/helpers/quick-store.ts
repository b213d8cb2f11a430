import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { hashFolder, inferTask } from "../../cli/lib/model-folder.js";
import { MemoryStore } from "../../host/memory-store.js";
import { MANIFEST_FILE, type Manifest, modelKey } from "../../src/runtime/manifest.js";

/**
 * A memory store holding one model folder, without the push's ONNX inspection (a subprocess per
 * file): ONNX entries get the EDGE-NOTES estimate of 3x their size as memory. Sessions still
 * read their real inputs and outputs from onnxruntime, so the engine runs as in production.
 */
export async function quickStore(folder: string, id: string): Promise<MemoryStore> {
  const store = new MemoryStore();
  const files = await hashFolder(folder);
  for (const file of files) {
    store.objects.set(modelKey(id, file.path), new Uint8Array(await readFile(join(folder, file.path))));
    if (file.path.endsWith(".onnx")) file.onnx = { inputs: [], outputs: [], memory_bytes: file.size * 3 };
  }
  const config = JSON.parse(await readFile(join(folder, "config.json"), "utf8")) as Record<string, unknown>;
  const manifest: Manifest = {
    schema_version: 1,
    id,
    task: inferTask(config),
    created_at: new Date(0).toISOString(),
    files,
  };
  store.objects.set(modelKey(id, MANIFEST_FILE), new TextEncoder().encode(JSON.stringify(manifest)));
  return store;
}
