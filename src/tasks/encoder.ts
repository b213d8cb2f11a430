import type { Tensor } from "onnxruntime-web/wasm";
import { ApiError, invalidParam } from "../errors.js";
import { findFile, type Manifest } from "../runtime/manifest.js";
import type { ModelRegistry } from "../runtime/registry.js";
import type { Feeds, ModelSession } from "../runtime/session.js";
import { pickOnnx } from "./model-files.js";
import { type Opener, openForTask, specialTokenId, type TextAssets, textAssets } from "./open-model.js";
import { chunkRows, fileRunCost, type RunCost, runBytes } from "./run-memory.js";
import { floatData, paddedBatch } from "./tensors.js";

/**
 * BERT-family encoders and static embeddings: padded batches, truncation that is reported,
 * pooling (mean, CLS, none) and L2 normalisation as the folder's sentence-transformers files
 * say, and classification heads (softmax, or sigmoid for multi-label models).
 */
export type Pooling = "mean" | "cls" | "none";

export interface EncoderConfig {
  pooling: Pooling;
  normalize: boolean;
}

export interface Encoder {
  manifest: Manifest;
  session: ModelSession;
  assets: TextAssets;
  defaults: EncoderConfig;
  maxTokens: number;
  padId: number;
  runCost: RunCost;
  runAllowance: number;
}

const ENCODER_TASKS = ["feature-extraction", "text-classification"] as const;

export const openEncoder: Opener<Encoder> = (registry, manifest, dtype) =>
  openForTask<Encoder>(manifest, ENCODER_TASKS, "an embedding or classification", async (group) => {
    const file = pickOnnx(manifest, ["model"], dtype);
    const assets = await group.take(textAssets(registry, manifest));
    const pooling = await group.take(
      registry.asset(manifest, "pooling", 1024, () => poolingConfig(registry, manifest)),
    );
    const session = await group.take(registry.session(manifest, file));
    const { config, tokenizer } = assets;
    const tokenizerMax = tokenizer.config.model_max_length;
    return {
      manifest,
      session,
      assets,
      defaults: pooling,
      maxTokens: Math.min(
        config.contextLength ?? 512,
        typeof tokenizerMax === "number" ? tokenizerMax : Number.POSITIVE_INFINITY,
      ),
      padId: specialTokenId(tokenizer, "pad_token") ?? config.padId ?? 0,
      runCost: fileRunCost(file, config, { logits: false, cache: false }),
      runAllowance: registry.runAllowanceBytes,
    };
  });

/** sentence-transformers' modules.json + 1_Pooling/config.json; mean + normalise where absent. */
async function poolingConfig(registry: ModelRegistry, manifest: Manifest): Promise<EncoderConfig> {
  const modules = await registry.readJson(manifest, "modules.json");
  const parsed = Array.isArray(modules) ? (modules as { type?: string; path?: string }[]) : undefined;
  const poolingPath = parsed?.find((m) => m.type?.endsWith("Pooling"))?.path ?? "1_Pooling";
  const poolingFile = `${poolingPath}/config.json`;
  const pooling = findFile(manifest, poolingFile)
    ? await registry.readJson(manifest, poolingFile)
    : undefined;
  return {
    pooling: pooling?.pooling_mode_cls_token === true ? "cls" : "mean",
    normalize: parsed ? parsed.some((m) => m.type?.endsWith("Normalize")) : true,
  };
}

export interface EncodedBatch {
  ids: number[][];
  truncated: boolean[];
}

/** Tokenises texts; longer than the model allows is truncated (and said) or refused. */
export function tokenize(
  encoder: Encoder,
  texts: string[],
  truncate: boolean,
  param: (index: number) => string = (index) => `input[${index}]`,
): EncodedBatch {
  const { tokenizer } = encoder.assets;
  const specials = tokenizer.encode("", true).length;
  const ids: number[][] = [];
  const truncated: boolean[] = [];
  texts.forEach((text, index) => {
    let tokens = tokenizer.encode(text, true);
    const cut = tokens.length > encoder.maxTokens;
    if (cut && !truncate) {
      throw invalidParam(
        param(index),
        `Input ${index} has ${tokens.length} tokens; the model takes at most ${encoder.maxTokens} (allow truncation to cut it).`,
        "input_too_long",
      );
    }
    if (cut) {
      // Keep the closing special token ([SEP]) where the template adds one.
      tokens =
        specials >= 2
          ? [...tokens.slice(0, encoder.maxTokens - 1), tokens[tokens.length - 1] ?? 0]
          : tokens.slice(0, encoder.maxTokens);
    }
    ids.push(tokens);
    truncated.push(cut);
  });
  return { ids, truncated };
}

/** Runs the encoder on a padded batch; returns the outputs the caller asks for. */
async function runBatch(encoder: Encoder, batch: number[][], outputs: string[]) {
  const { session } = encoder;
  const padded = paddedBatch(session.ort, batch, encoder.padId);
  const feeds: Feeds = { input_ids: padded.ids, attention_mask: padded.mask };
  if (session.hasInput("token_type_ids")) {
    feeds.token_type_ids = new session.ort.Tensor("int64", new BigInt64Array(padded.maskData.length), [
      batch.length,
      padded.length,
    ]);
  }
  const wanted = outputs.filter((name) => session.hasOutput(name));
  return { result: await session.run(feeds, wanted), mask: padded.maskData, length: padded.length };
}

export function l2Normalize(vector: Float32Array): Float32Array {
  let norm = 0;
  for (const value of vector) norm += value * value;
  norm = Math.sqrt(norm) || 1;
  return vector.map((value) => value / norm);
}

export interface EmbedOptions {
  pooling?: Pooling;
  normalize?: boolean;
}

/**
 * Runs a batch in as many runs as the per-run memory allowance needs (each chunk padded to its own
 * longest row), letting other requests in between them; results come back in input order.
 */
async function inChunks<R>(encoder: Encoder, batch: number[][], run: (chunk: number[][]) => Promise<R[]>) {
  const results: R[] = [];
  const bytes = (rows: number, longest: number) => runBytes(encoder.runCost, rows, longest);
  const chunks = chunkRows(batch, (row) => row.length, bytes, encoder.runAllowance, encoder.runCost.basis);
  for (const chunk of chunks) {
    if (chunks.length > 1) await encoder.session.yieldTurn();
    results.push(...(await run(chunk)));
  }
  return results;
}

/** One embedding per input (pooled), or per token when pooling is "none". */
export function embed(
  encoder: Encoder,
  batch: number[][],
  options: EmbedOptions = {},
): Promise<Float32Array[][]> {
  return inChunks(encoder, batch, (chunk) => embedRun(encoder, chunk, options));
}

async function embedRun(
  encoder: Encoder,
  batch: number[][],
  options: EmbedOptions,
): Promise<Float32Array[][]> {
  const pooling = options.pooling ?? encoder.defaults.pooling;
  const normalize = options.normalize ?? encoder.defaults.normalize;
  const { session } = encoder;
  const hasHidden = session.hasOutput("last_hidden_state");
  if (!hasHidden) {
    if (pooling === "none") throw invalidParam("pooling", "This model only returns pooled embeddings.");
    const { result } = await runBatch(encoder, batch, ["sentence_embedding"]);
    const pooled = result.sentence_embedding as Tensor;
    const [, dims = 0] = pooled.dims;
    const data = floatData(pooled);
    return batch.map((_, r) => {
      const vector = data.slice(r * dims, (r + 1) * dims);
      return [normalize ? l2Normalize(vector) : vector];
    });
  }
  const { result, mask, length } = await runBatch(encoder, batch, ["last_hidden_state"]);
  const hidden = result.last_hidden_state as Tensor;
  const [, , dims = 0] = hidden.dims;
  const data = floatData(hidden);
  return batch.map((row, r) => {
    const token = (i: number) => data.subarray((r * length + i) * dims, (r * length + i + 1) * dims);
    if (pooling === "none") {
      return row.map((_, i) => (normalize ? l2Normalize(token(i)) : token(i).slice()));
    }
    let vector: Float32Array;
    if (pooling === "cls") {
      vector = token(0).slice();
    } else {
      vector = new Float32Array(dims);
      let count = 0;
      for (let i = 0; i < length; i++) {
        if (mask[r * length + i] !== 1n) continue;
        count++;
        const values = token(i);
        for (let d = 0; d < dims; d++) vector[d] = (vector[d] ?? 0) + (values[d] ?? 0);
      }
      for (let d = 0; d < dims; d++) vector[d] = (vector[d] ?? 0) / Math.max(1, count);
    }
    return [normalize ? l2Normalize(vector) : vector];
  });
}

export interface LabelScore {
  label: string;
  score: number;
}

/** Label scores per input, best first: softmax over id2label, or sigmoid per label if multi-label. */
export function classify(encoder: Encoder, batch: number[][], topK: number): Promise<LabelScore[][]> {
  return inChunks(encoder, batch, (chunk) => classifyRun(encoder, chunk, topK));
}

async function classifyRun(encoder: Encoder, batch: number[][], topK: number): Promise<LabelScore[][]> {
  if (!encoder.session.hasOutput("logits")) {
    throw new ApiError(
      400,
      `The model '${encoder.manifest.id}' has no classification head.`,
      "wrong_task",
      "model",
    );
  }
  const { result } = await runBatch(encoder, batch, ["logits"]);
  const logits = result.logits as Tensor;
  const [, width = 0] = logits.dims;
  const data = floatData(logits);
  const { labels, multiLabel } = encoder.assets.config;
  return batch.map((_, r) => {
    const row = Array.from(data.subarray(r * width, (r + 1) * width));
    let scores: number[];
    if (multiLabel) {
      scores = row.map((value) => 1 / (1 + Math.exp(-value)));
    } else {
      const max = Math.max(...row);
      const exps = row.map((value) => Math.exp(value - max));
      const total = exps.reduce((a, b) => a + b, 0);
      scores = exps.map((value) => value / total);
    }
    return scores
      .map((score, index) => ({ label: labels[index] ?? `LABEL_${index}`, score }))
      .sort((a, b) => b.score - a.score)
      .slice(0, topK);
  });
}

/** Texts (checked non-empty) or token arrays (checked against the vocabulary) into a batch. */
export function encodeInputs(
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
