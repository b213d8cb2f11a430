import { z } from "zod";
import { ApiError } from "../errors.js";
import type { Lease } from "../runtime/isolate-cache.js";
import { isValidModelId } from "../runtime/manifest.js";
import { type ModelRegistry, sha256Hex } from "../runtime/registry.js";

/**
 * A knowledge base: entries embedded once by `kb:push`, stored in R2 as one int8 matrix (a row
 * per entry, with its own scale) plus the entries' JSON, and searched inside the isolate by
 * cosine similarity. Loaded once per isolate and cached beside the models.
 */
export const KB_PREFIX = "kb/";

export const kbManifestSchema = z.object({
  schema_version: z.literal(1),
  id: z.string(),
  model: z.string(),
  dtype: z.string().optional(),
  dimensions: z.number().int().positive(),
  count: z.number().int().nonnegative(),
  created_at: z.string(),
  files: z.object({
    vectors: z.object({ size: z.number().int(), sha256: z.string() }),
    entries: z.object({ size: z.number().int(), sha256: z.string() }),
  }),
});
export type KbManifest = z.infer<typeof kbManifestSchema>;

export interface KbEntry {
  id: string;
  text: string;
  [field: string]: unknown;
}

export interface KnowledgeBase {
  manifest: KbManifest;
  /** count x dimensions int8, each row scaled by `scales[row]`. */
  vectors: Int8Array;
  scales: Float32Array;
  entries: KbEntry[];
}

export function kbKey(id: string, file: "manifest.json" | "vectors.bin" | "entries.json"): string {
  return `${KB_PREFIX}${id}/${file}`;
}

/** Row-wise symmetric int8: vectors are unit length, so each row keeps its own scale. */
export function quantizeRows(rows: Float32Array[], dimensions: number): Uint8Array {
  const bytes = new Uint8Array(rows.length * 4 + rows.length * dimensions);
  const view = new DataView(bytes.buffer);
  rows.forEach((row, r) => {
    let peak = 0;
    for (const value of row) peak = Math.max(peak, Math.abs(value));
    const scale = peak > 0 ? peak / 127 : 1;
    view.setFloat32(r * 4, scale, true);
    for (let d = 0; d < dimensions; d++) {
      view.setInt8(
        rows.length * 4 + r * dimensions + d,
        Math.max(-127, Math.min(127, Math.round((row[d] ?? 0) / scale))),
      );
    }
  });
  return bytes;
}

export function openKnowledgeBase(registry: ModelRegistry, id: string): Promise<Lease<KnowledgeBase>> {
  if (!isValidModelId(id)) {
    return Promise.reject(
      new ApiError(400, `'${id.slice(0, 80)}' is not a valid knowledge base id.`, "invalid_kb_id", "kb"),
    );
  }
  return registry.cache.acquire({
    key: `kb:${id}`,
    estimatedCost: 0,
    load: async () => {
      const object = await registry.store.get(kbKey(id, "manifest.json"));
      if (!object)
        throw new ApiError(404, `The knowledge base '${id}' does not exist.`, "kb_not_found", "kb");
      const manifest = kbManifestSchema.parse(JSON.parse(await object.text()));
      const [vectorBytes, entryBytes] = await Promise.all([
        readChecked(registry, kbKey(id, "vectors.bin"), manifest.files.vectors),
        readChecked(registry, kbKey(id, "entries.json"), manifest.files.entries),
      ]);
      const scales = new Float32Array(manifest.count);
      const view = new DataView(vectorBytes.buffer, vectorBytes.byteOffset, vectorBytes.byteLength);
      for (let r = 0; r < manifest.count; r++) scales[r] = view.getFloat32(r * 4, true);
      const vectors = new Int8Array(vectorBytes.buffer, vectorBytes.byteOffset + manifest.count * 4);
      const entries = JSON.parse(new TextDecoder().decode(entryBytes)) as KbEntry[];
      // The int8 matrix stays as read; the entries' JSON costs a few times its size as objects.
      return {
        value: { manifest, vectors, scales, entries },
        measuredCost: vectorBytes.byteLength + entryBytes.byteLength * 3,
      };
    },
    dispose: () => undefined,
  });
}

async function readChecked(registry: ModelRegistry, key: string, expected: { size: number; sha256: string }) {
  const object = await registry.store.get(key);
  if (!object)
    throw new ApiError(
      502,
      `${key} is missing from the store: push the knowledge base again.`,
      "kb_file_missing",
    );
  const bytes = new Uint8Array(await object.arrayBuffer());
  if (bytes.byteLength !== expected.size || (await sha256Hex(bytes)) !== expected.sha256) {
    throw new ApiError(
      502,
      `${key} does not match its manifest: push the knowledge base again.`,
      "checksum_mismatch",
    );
  }
  return bytes;
}

export interface SearchHit {
  entry: KbEntry;
  score: number;
}

/** Cosine similarity of a unit query against every entry, best first. */
export function search(kb: KnowledgeBase, query: Float32Array, topK: number): SearchHit[] {
  const { dimensions, count } = kb.manifest;
  const hits: { row: number; score: number }[] = [];
  for (let r = 0; r < count; r++) {
    let dot = 0;
    const offset = r * dimensions;
    for (let d = 0; d < dimensions; d++) dot += (kb.vectors[offset + d] ?? 0) * (query[d] ?? 0);
    const score = dot * (kb.scales[r] ?? 0);
    if (hits.length < topK) {
      hits.push({ row: r, score });
      hits.sort((a, b) => b.score - a.score);
    } else if (score > (hits[topK - 1]?.score ?? -Infinity)) {
      hits[topK - 1] = { row: r, score };
      hits.sort((a, b) => b.score - a.score);
    }
  }
  return hits.map((hit) => ({ entry: kb.entries[hit.row] as KbEntry, score: hit.score }));
}
