import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../env.js";
import { readJson } from "../http.js";
import { classify, encodeInputs, openEncoder } from "../tasks/encoder.js";
import { findModelFor } from "./aliases.js";
import { leased } from "./lease.js";
import { encoderText, MAX_INPUTS, modelRef } from "./schemas.js";

/** /v1/classify: label scores from a text-classification model, best first. */
export const classifyRequest = z.strictObject({
  model: modelRef,
  input: z.union([encoderText, z.array(encoderText).min(1).max(MAX_INPUTS)]),
  top_k: z.number().int().min(1).max(1000).optional(),
  truncate: z.boolean().optional(),
});

export const classifyRoute = new Hono<AppEnv>().post("/v1/classify", async (c) => {
  const body = await readJson(c, classifyRequest);
  const { manifest, dtype } = await findModelFor(c, body.model);
  return leased(c, openEncoder(c.get("registry"), manifest, dtype), async (encoder) => {
    const batch = encodeInputs(encoder, body.input, body.truncate ?? true);
    const results = await classify(encoder, batch.ids, body.top_k ?? encoder.assets.config.labels.length);
    const tokens = batch.ids.reduce((sum, ids) => sum + ids.length, 0);
    return c.json({
      object: "list",
      model: body.model,
      data: results.map((labels, index) => ({
        index,
        labels,
        ...(batch.truncated[index] ? { truncated: true } : {}),
      })),
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  });
});
