import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../env.js";
import { invalidParam } from "../errors.js";
import { readJson } from "../http.js";
import { embed, encodeInputs, l2Normalize, openEncoder } from "../tasks/encoder.js";
import { findModelFor } from "./aliases.js";
import { leased } from "./lease.js";
import { encoderText, MAX_INPUTS, modelRef } from "./schemas.js";

/** OpenAI's /v1/embeddings, plus pooling, normalisation and truncation controls. */
const tokenInput = z.array(z.number().int()).max(8192);

export const embeddingsRequest = z.strictObject({
  model: modelRef,
  input: z.union([
    encoderText,
    z.array(encoderText).min(1).max(MAX_INPUTS),
    tokenInput.min(1),
    z.array(tokenInput.min(1)).min(1).max(MAX_INPUTS),
  ]),
  encoding_format: z.enum(["float", "base64"]).optional(),
  dimensions: z.number().int().min(1).optional(),
  user: z.string().max(256).optional(),
  pooling: z.enum(["mean", "cls", "none"]).optional(),
  normalize: z.boolean().optional(),
  truncate: z.boolean().optional(),
});

function toBase64(vector: Float32Array): string {
  const bytes = new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export const embeddings = new Hono<AppEnv>().post("/v1/embeddings", async (c) => {
  const body = await readJson(c, embeddingsRequest);
  const { manifest, dtype } = await findModelFor(c, body.model);
  return leased(c, openEncoder(c.get("registry"), manifest, dtype), async (encoder) => {
    const batch = encodeInputs(encoder, body.input, body.truncate ?? true);
    const vectors = await embed(encoder, batch.ids, { pooling: body.pooling, normalize: body.normalize });
    const dims = vectors[0]?.[0]?.length ?? 0;
    if (body.dimensions !== undefined && body.dimensions > dims) {
      throw invalidParam(
        "dimensions",
        `dimensions is ${body.dimensions}, but the model's embeddings have ${dims}.`,
      );
    }
    const shape = (vector: Float32Array) => {
      const cut = body.dimensions === undefined ? vector : l2Normalize(vector.slice(0, body.dimensions));
      return body.encoding_format === "base64" ? toBase64(cut) : Array.from(cut);
    };
    const truncated = batch.truncated.flatMap((cut, index) => (cut ? [index] : []));
    const tokens = batch.ids.reduce((sum, ids) => sum + ids.length, 0);
    return c.json({
      object: "list",
      data: vectors.map((perInput, index) => ({
        object: "embedding",
        index,
        embedding: body.pooling === "none" ? perInput.map(shape) : shape(perInput[0] ?? new Float32Array()),
      })),
      model: body.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
      ...(truncated.length > 0 ? { truncated } : {}),
    });
  });
});
