import { createHash } from "node:crypto";
import { nodeRegistry } from "../../host/engine.js";
import { MemoryStore } from "../../host/memory-store.js";
import {
  MANIFEST_FILE,
  manifestSchema,
  modelKey,
  storedFiles,
  storeKey,
} from "../../src/runtime/manifest.js";
import { embed, openEncoder, tokenize } from "../../src/tasks/encoder.js";
import { type KbEntry, type KbManifest, kbKey, quantizeRows } from "../../src/tasks/knowledge-base.js";
import { parseModelRef } from "../../src/tasks/model-files.js";
import { Progress } from "./progress.js";
import type { Target } from "./targets.js";

export interface KbPushOptions {
  id: string;
  model: string;
  entries: KbEntry[];
  batchSize?: number;
  quiet?: boolean;
}

/** Copies a model from a bucket into memory, so the CLI embeds with exactly the stored model. */
async function modelFrom(target: Target, id: string): Promise<MemoryStore> {
  const store = new MemoryStore();
  const manifestBytes = await target.get(modelKey(id, MANIFEST_FILE));
  if (!manifestBytes) throw new Error(`The model '${id}' is not in ${target.description}: push it first.`);
  const manifest = manifestSchema.parse(JSON.parse(new TextDecoder().decode(manifestBytes)));
  store.objects.set(modelKey(id, MANIFEST_FILE), manifestBytes);
  for (const file of storedFiles(manifest)) {
    const key = storeKey(manifest, file);
    const bytes = await target.get(key);
    if (bytes) store.objects.set(key, bytes);
  }
  return store;
}

/** Embeds the entries and writes vectors, entries and (last) the manifest of a knowledge base. */
export async function pushKnowledgeBase(target: Target, options: KbPushOptions): Promise<KbManifest> {
  const { id: modelId, dtype } = parseModelRef(options.model);
  const registry = nodeRegistry(await modelFrom(target, modelId));
  const encoder = await openEncoder(registry, await registry.manifest(modelId), dtype);
  const vectors: Float32Array[] = [];
  const progress = options.quiet
    ? undefined
    : new Progress(`${options.id}: embedding`, options.entries.length, "items");
  try {
    const batchSize = options.batchSize ?? 32;
    for (let start = 0; start < options.entries.length; start += batchSize) {
      const slice = options.entries.slice(start, start + batchSize);
      const batch = tokenize(
        encoder.value,
        slice.map((entry) => entry.text),
        true,
      );
      for (const perInput of await embed(encoder.value, batch.ids, { normalize: true })) {
        vectors.push(perInput[0] ?? new Float32Array());
      }
      progress?.advance(slice.length, `${start + slice.length} entries`);
    }
  } finally {
    encoder.release();
    progress?.finish();
  }
  const dimensions = vectors[0]?.length ?? 0;
  const vectorBytes = quantizeRows(vectors, dimensions);
  const entryBytes = new TextEncoder().encode(JSON.stringify(options.entries));
  const digest = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
  const manifest: KbManifest = {
    schema_version: 1,
    id: options.id,
    model: modelId,
    ...(dtype ? { dtype } : {}),
    dimensions,
    count: vectors.length,
    created_at: new Date().toISOString(),
    files: {
      vectors: { size: vectorBytes.byteLength, sha256: digest(vectorBytes) },
      entries: { size: entryBytes.byteLength, sha256: digest(entryBytes) },
    },
  };
  // Old manifest out first, new one in last: readers never see a half-written knowledge base.
  await target.delete(kbKey(options.id, "manifest.json"));
  await target.put(kbKey(options.id, "vectors.bin"), vectorBytes);
  await target.put(kbKey(options.id, "entries.json"), entryBytes);
  await target.put(
    kbKey(options.id, "manifest.json"),
    new TextEncoder().encode(JSON.stringify(manifest, null, 2)),
  );
  return manifest;
}

/** Reads FAQ lines: `{id?, question | text, answer?, ...}`; the embedded text is `field`. */
export function parseEntries(jsonl: string, field: string): KbEntry[] {
  return jsonl
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line, index) => {
      const record = JSON.parse(line) as Record<string, unknown>;
      const text = record[field];
      if (typeof text !== "string" || text.trim() === "") {
        throw new Error(`line ${index + 1} has no '${field}' text`);
      }
      return { ...record, id: String(record.id ?? index + 1), text };
    });
}
