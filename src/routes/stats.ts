import { Hono } from "hono";
import type { AppEnv } from "../env.js";
import { ModelSession } from "../runtime/session.js";
import { batchStatsOf } from "../tasks/batcher.js";
import { microBatchStatsOf } from "../tasks/micro-batch.js";
import { seq2seqBatchStatsOf } from "../tasks/seq2seq-batch.js";

/** What this isolate holds: cached models, ORT's wasm memory, cache and store counters. */
export const stats = new Hono<AppEnv>().get("/v1/stats", async (c) => {
  const registry = c.get("registry");
  const runtime = await registry.runtime();
  const cache = registry.cache.stats();
  return c.json({
    ort: { wasm_memory_bytes: runtime.wasmMemoryBytes() },
    cache,
    sessions: registry.cache.loaded().flatMap(([key, value]) => {
      if (!(value instanceof ModelSession)) return [];
      const batch = batchStatsOf(value);
      const microBatch = microBatchStatsOf(value);
      const seq2seqBatch = seq2seqBatchStatsOf(value);
      return [
        {
          key,
          runs: value.runs,
          ...(batch ? { batch } : {}),
          ...(microBatch ? { micro_batch: microBatch } : {}),
          ...(seq2seqBatch ? { seq2seq_batch: seq2seqBatch } : {}),
        },
      ];
    }),
    store: {
      bytes_read: registry.store.bytesRead,
      reads: Object.fromEntries(registry.store.reads),
    },
  });
});
