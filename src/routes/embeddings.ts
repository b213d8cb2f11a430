import { type Context, Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../env.js";
import { invalidParam } from "../errors.js";
import { readJson } from "../http.js";
import {
  classify,
  type EncodedBatch,
  type Encoder,
  embed,
  l2Normalize,
  openEncoder,
  tokenize,
} from "../tasks/encoder.js";
import { parseModelRef } from "../tasks/model-files.js";

export const MAX_INPUTS = 64;
const MAX_INPUT_CHARS = 20_000;

const textInput = z.string().max(MAX_INPUT_CHARS);
const tokenInput = z.array(z.number().int()).max(8192);

const embeddingsRequest = z.object({
  model: z.string().min(1).max(200),
  input: z.union([
    textInput,
    z.array(textInput).min(1).max(MAX_INPUTS),
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

const classifyRequest = z.object({
  model: z.string().min(1).max(200),
  input: z.union([textInput, z.array(textInput).min(1).max(MAX_INPUTS)]),
  top_k: z.number().int().min(1).max(1000).optional(),
  truncate: z.boolean().optional(),
});

/** Texts (checked non-empty) or token arrays (checked against the vocabulary) into a batch. */
export function prepareInput(
  encoder: Encoder,
  input: string | string[] | number[] | number[][],
  truncate: boolean,
): EncodedBatch {
  const list: (string | number[])[] =
    typeof input === "string"
      ? [input]
      : typeof input[0] === "number"
        ? [input as number[]]
        : (input as (string | number[])[]);
  const param = (index: number) => (list.length === 1 && !Array.isArray(input) ? "input" : `input[${index}]`);
  if (typeof list[0] === "string") {
    const texts = list as string[];
    texts.forEach((text, index) => {
      if (text.trim() === "")
        throw invalidParam(param(index), `Input ${index} is an empty string.`, "empty_input");
    });
    return tokenize(encoder, texts, truncate, param);
  }
  const vocab = encoder.assets.tokenizer.vocabSize;
  const rows = list as number[][];
  rows.forEach((ids, index) => {
    const bad = ids.find((id) => id < 0 || id >= vocab);
    if (bad !== undefined)
      throw invalidParam(
        param(index),
        `Token id ${bad} is not in the vocabulary (0..${vocab - 1}).`,
        "invalid_token",
      );
    if (ids.length > encoder.maxTokens) {
      throw invalidParam(
        param(index),
        `Input ${index} has ${ids.length} tokens; the model takes at most ${encoder.maxTokens}.`,
        "input_too_long",
      );
    }
  });
  return { ids: rows, truncated: rows.map(() => false) };
}

function toBase64(vector: Float32Array): string {
  const bytes = new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

async function withEncoder<T>(
  c: Context<AppEnv>,
  model: string,
  use: (encoder: Encoder) => Promise<T>,
): Promise<T> {
  const registry = c.get("registry");
  const { id, dtype } = parseModelRef(model);
  const lease = await openEncoder(registry, await registry.manifest(id), dtype);
  try {
    return await use(lease.value);
  } finally {
    lease.release();
  }
}

export const embeddings = new Hono<AppEnv>()
  .post("/v1/embeddings", async (c) => {
    const body = await readJson(c, embeddingsRequest);
    return withEncoder(c, body.model, async (encoder) => {
      const batch = prepareInput(encoder, body.input, body.truncate ?? true);
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
  })
  .post("/v1/classify", async (c) => {
    const body = await readJson(c, classifyRequest);
    return withEncoder(c, body.model, async (encoder) => {
      const batch = prepareInput(encoder, body.input, body.truncate ?? true);
      const results = await classify(encoder, batch.ids, body.top_k ?? encoder.labels.length);
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
