import type { Tensor } from "onnxruntime-web/wasm";
import { ApiError, invalidParam } from "../errors.js";
import { findFile, type Manifest } from "../runtime/manifest.js";
import type { ModelRegistry } from "../runtime/registry.js";
import type { Feeds, ModelSession } from "../runtime/session.js";
import { MicroBatcher, microBatcherFor } from "./micro-batch.js";
import { pickOnnx } from "./model-files.js";
import { type Opener, openForTask, specialTokenId, type TextAssets, textAssets } from "./open-model.js";
import { chunkRows, type RunCost, runBytes, runCost } from "./run-memory.js";
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
  /** Concurrent requests' inputs share encoder runs (off: each request runs alone). */
  batching: boolean;
  keepAlive: (work: Promise<unknown>) => void;
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
      runCost: runCost(config, { logits: false, cache: false }),
      runAllowance: registry.runAllowanceBytes,
      batching: registry.batching,
      keepAlive: (work) => registry.keepAlive(work),
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

/** One encoder run over a padded batch: its outputs and the padding it used. */
interface EncoderRun {
  /** An output's values as float32, converted once per run (fp16 models return half floats). */
  floats: (name: string) => { data: Float32Array; dims: readonly number[] };
  mask: BigInt64Array;
  length: number;
}

/** Runs the encoder on a padded batch; returns the outputs the caller asks for. */
async function runBatch(encoder: Encoder, batch: number[][], outputs: string[]): Promise<EncoderRun> {
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
  const results = await session.run(feeds, wanted);
  const converted = new Map<string, Float32Array>();
  const floats = (name: string) => {
    const tensor = results[name] as Tensor;
    let data = converted.get(name);
    if (!data) {
      data = floatData(tensor);
      converted.set(name, data);
    }
    return { data, dims: tensor.dims };
  };
  return { floats, mask: padded.maskData, length: padded.length };
}

/** One request's part of a run: its rows, the outputs it reads, and how it reads its row of them. */
interface EncoderJob<R> {
  rows: number[][];
  outputs: string[];
  read: (run: EncoderRun, row: number) => R;
  results: R[];
}

/** Rows one micro-batched encoder run may hold (the requests' own limit on inputs). */
export const MAX_ENCODER_BATCH_ROWS = 64;

function encoderBatcher(encoder: Encoder): MicroBatcher<EncoderJob<unknown>> {
  return microBatcherFor(
    encoder.session,
    () =>
      new MicroBatcher<EncoderJob<unknown>>({
        rows: (job) => job.rows.length,
        fits: (jobs) => {
          const rows = jobs.flatMap((job) => job.rows);
          const longest = Math.max(...rows.map((row) => row.length));
          return (
            rows.length <= MAX_ENCODER_BATCH_ROWS &&
            runBytes(encoder.runCost, rows.length, longest) <= encoder.runAllowance
          );
        },
        run: async (jobs) => {
          const outputs = [...new Set(jobs.flatMap((job) => job.outputs))];
          const run = await runBatch(
            encoder,
            jobs.flatMap((job) => job.rows),
            outputs,
          );
          let offset = 0;
          for (const job of jobs) {
            job.results = job.rows.map((_, r) => job.read(run, offset + r));
            offset += job.rows.length;
          }
        },
        yieldTurn: () => encoder.session.yieldTurn(),
      }),
  );
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
 * longest row), letting other requests in between them; results come back in input order. With
 * batching, each chunk shares its run with other requests' inputs that wait at the same time.
 */
async function inChunks<R>(
  encoder: Encoder,
  batch: number[][],
  outputs: string[],
  read: (run: EncoderRun, row: number) => R,
): Promise<R[]> {
  const results: R[] = [];
  const bytes = (rows: number, longest: number) => runBytes(encoder.runCost, rows, longest);
  const chunks = chunkRows(batch, (row) => row.length, bytes, encoder.runAllowance);
  for (const chunk of chunks) {
    if (encoder.batching) {
      const job: EncoderJob<R> = { rows: chunk, outputs, read, results: [] };
      await encoderBatcher(encoder).submit(job as EncoderJob<unknown>, encoder.keepAlive);
      results.push(...job.results);
      continue;
    }
    if (chunks.length > 1) await encoder.session.yieldTurn();
    const run = await runBatch(encoder, chunk, outputs);
    results.push(...chunk.map((_, r) => read(run, r)));
  }
  return results;
}

/** One embedding per input (pooled), or per token when pooling is "none". */
export function embed(
  encoder: Encoder,
  batch: number[][],
  options: EmbedOptions = {},
): Promise<Float32Array[][]> {
  const pooling = options.pooling ?? encoder.defaults.pooling;
  const normalize = options.normalize ?? encoder.defaults.normalize;
  const finish = (vector: Float32Array) => (normalize ? l2Normalize(vector) : vector);
  if (!encoder.session.hasOutput("last_hidden_state")) {
    if (pooling === "none") throw invalidParam("pooling", "This model only returns pooled embeddings.");
    return inChunks(encoder, batch, ["sentence_embedding"], ({ floats }, r) => {
      const {
        data,
        dims: [, dims = 0],
      } = floats("sentence_embedding");
      return [finish(data.slice(r * dims, (r + 1) * dims))];
    });
  }
  return inChunks(encoder, batch, ["last_hidden_state"], ({ floats, mask, length }, r) => {
    const {
      data,
      dims: [, , dims = 0],
    } = floats("last_hidden_state");
    const token = (i: number) => data.subarray((r * length + i) * dims, (r * length + i + 1) * dims);
    const real = Array.from({ length }, (_, i) => i).filter((i) => mask[r * length + i] === 1n);
    if (pooling === "none") return real.map((i) => (normalize ? l2Normalize(token(i)) : token(i).slice()));
    if (pooling === "cls") return [finish(token(0).slice())];
    const vector = new Float32Array(dims);
    for (const i of real) {
      const values = token(i);
      for (let d = 0; d < dims; d++) vector[d] = (vector[d] ?? 0) + (values[d] ?? 0);
    }
    for (let d = 0; d < dims; d++) vector[d] = (vector[d] ?? 0) / Math.max(1, real.length);
    return [finish(vector)];
  });
}

export interface LabelScore {
  label: string;
  score: number;
}

/** Label scores per input, best first: softmax over id2label, or sigmoid per label if multi-label. */
export function classify(encoder: Encoder, batch: number[][], topK: number): Promise<LabelScore[][]> {
  if (!encoder.session.hasOutput("logits")) {
    throw new ApiError(
      400,
      `The model '${encoder.manifest.id}' has no classification head.`,
      "wrong_task",
      "model",
    );
  }
  const { labels, multiLabel } = encoder.assets.config;
  return inChunks(encoder, batch, ["logits"], ({ floats }, r) => {
    const {
      data,
      dims: [, width = 0],
    } = floats("logits");
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
