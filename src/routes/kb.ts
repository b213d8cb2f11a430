import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../env.js";
import { invalidParam } from "../errors.js";
import { readJson } from "../http.js";
import { embed, l2Normalize, openEncoder, tokenize } from "../tasks/encoder.js";
import { openKnowledgeBase, search } from "../tasks/knowledge-base.js";

export const searchRequest = z.strictObject({
  query: z.string().max(4000),
  top_k: z.number().int().min(1).max(50).optional(),
});

/** Searches a knowledge base pushed with `npm run kb:push`, with the model that embedded it. */
export const kb = new Hono<AppEnv>().post("/v1/kb/:kb/search", async (c) => {
  const registry = c.get("registry");
  const body = await readJson(c, searchRequest);
  if (body.query.trim() === "") throw invalidParam("query", "query is empty.", "empty_input");
  const base = await openKnowledgeBase(registry, c.req.param("kb"));
  try {
    const { manifest } = base.value;
    const encoder = await openEncoder(registry, await registry.manifest(manifest.model), manifest.dtype);
    try {
      const batch = tokenize(encoder.value, [body.query], true);
      const [vectors] = await embed(encoder.value, batch.ids, { pooling: undefined, normalize: true });
      const query = l2Normalize(vectors?.[0] ?? new Float32Array(manifest.dimensions));
      const hits = search(base.value, query, body.top_k ?? 5);
      const tokens = batch.ids[0]?.length ?? 0;
      return c.json({
        kb: manifest.id,
        model: manifest.model,
        results: hits.map((hit) => ({ ...hit.entry, score: hit.score })),
        ...(batch.truncated[0] ? { truncated: true } : {}),
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      });
    } finally {
      encoder.release();
    }
  } finally {
    base.release();
  }
});
