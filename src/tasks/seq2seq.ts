import type { Tensor } from "onnxruntime-web/wasm";
import type { Ort } from "../runtime/ort.js";
import type { Feeds, ModelSession } from "../runtime/session.js";
import { BeamHypotheses, type BeamOptions, beamStep, type Hypothesis, logSoftmax } from "./beam-search.js";
import { argmax } from "./sampling.js";

/**
 * Encoder-decoder generation over Optimum's exports: `encoder_model.onnx` plus either the merged
 * decoder (`decoder_model_merged.onnx`, `use_cache_branch`) or the pair `decoder_model.onnx` /
 * `decoder_with_past_model.onnx`. Several inputs and all their beams run as one batch through
 * every session call. The encoder-side cache is computed on the first step and then reused.
 */
export interface Seq2SeqModel {
  ort: Ort;
  encoder: ModelSession;
  /** The merged decoder, or the first-step decoder of the pair. */
  decoder: ModelSession;
  decoderWithPast?: ModelSession;
  layers: number;
  heads: number;
  headDim: number;
}

export interface Seq2SeqOptions {
  numBeams: number;
  numReturnSequences: number;
  lengthPenalty: number;
  earlyStopping: boolean;
  noRepeatNgramSize: number;
  maxNewTokens: number;
  decoderStartId: number;
  eosIds: ReadonlySet<number>;
  padId: number;
  forcedBosId?: number;
  forcedEosId?: number;
  badWordsIds: number[][];
}

/** Number of decoder layers, read from the merged decoder's (or the pair's) inputs and outputs. */
export function countLayers(decoder: ModelSession, decoderWithPast?: ModelSession): number {
  const names = [...decoder.inputs, ...decoder.outputs, ...(decoderWithPast?.inputs ?? [])].map(
    (v) => v.name,
  );
  let layers = 0;
  while (names.some((name) => name.includes(`.${layers}.decoder.key`))) layers++;
  return layers;
}

/** Translates a batch of tokenised inputs; returns, per input, its hypotheses best first. */
export async function generateSeq2Seq(
  model: Seq2SeqModel,
  inputs: number[][],
  options: Seq2SeqOptions,
): Promise<Hypothesis[][]> {
  const { ort } = model;
  const batch = inputs.length;
  const beams = Math.max(1, options.numBeams);
  const rows = batch * beams;

  const sourceLength = Math.max(...inputs.map((ids) => ids.length));
  const ids = new BigInt64Array(batch * sourceLength).fill(BigInt(options.padId));
  const mask = new BigInt64Array(batch * sourceLength);
  inputs.forEach((input, b) => {
    input.forEach((id, i) => {
      ids[b * sourceLength + i] = BigInt(id);
      mask[b * sourceLength + i] = 1n;
    });
  });
  const encoderFeeds: Feeds = {
    input_ids: new ort.Tensor("int64", ids, [batch, sourceLength]),
    attention_mask: new ort.Tensor("int64", mask, [batch, sourceLength]),
  };
  const encoded = (await model.encoder.run(encoderFeeds, ["last_hidden_state"])).last_hidden_state as Tensor;
  const encoderStates = repeatRows(ort, encoded, beams);
  const encoderMask = repeatRows(ort, encoderFeeds.attention_mask as Tensor, beams);

  const sequences: number[][] = Array.from({ length: rows }, () => []);
  const scores: number[] = Array.from({ length: rows }, (_, row) => (row % beams === 0 ? 0 : -1e9));
  const beamOptions: BeamOptions = {
    numBeams: beams,
    lengthPenalty: options.lengthPenalty,
    earlyStopping: options.earlyStopping,
    eosIds: options.eosIds,
  };
  const hypotheses = Array.from({ length: batch }, () => new BeamHypotheses(beamOptions));
  const finished = Array.from({ length: rows }, () => false);
  let cache: Feeds | undefined;

  for (let step = 0; step < options.maxNewTokens; step++) {
    const last = sequences.map((sequence) => sequence[sequence.length - 1] ?? options.decoderStartId);
    const tokens = step === 0 ? sequences.map(() => options.decoderStartId) : last;
    const { logits, present } = await decoderStep(model, tokens, encoderStates, encoderMask, cache, step);

    const processed = logits.map((row, r) => process(logSoftmax(row), sequences[r] ?? [], step, options));
    let sources: number[];
    if (beams === 1) {
      sources = processed.map((_, r) => r);
      processed.forEach((row, r) => {
        if (finished[r]) {
          sequences[r]?.push(options.padId);
          return;
        }
        const token = argmax(row);
        sequences[r]?.push(token);
        scores[r] = (scores[r] ?? 0) + (row[token] ?? 0);
        if (options.eosIds.has(token)) {
          finished[r] = true;
          hypotheses[r]?.add([...(sequences[r] ?? [])], scores[r] ?? 0, sequences[r]?.length ?? 1);
          if (hypotheses[r]) hypotheses[r].done = true;
        }
      });
    } else {
      sources = [];
      const nextSequences: number[][] = [];
      for (let b = 0; b < batch; b++) {
        const from = b * beams;
        const own = hypotheses[b];
        if (!own || own.done) {
          for (let k = 0; k < beams; k++) {
            sources.push(from + k);
            nextSequences.push([...(sequences[from + k] ?? []), options.padId]);
          }
          continue;
        }
        const { next } = beamStep(
          own,
          processed.slice(from, from + beams),
          scores.slice(from, from + beams),
          sequences.slice(from, from + beams),
          beamOptions,
        );
        for (let k = 0; k < beams; k++) {
          const chosen = next[k] ?? next[0];
          if (!chosen) continue;
          sources.push(from + chosen.source);
          nextSequences.push([...(sequences[from + chosen.source] ?? []), chosen.token]);
          scores[from + k] = chosen.score;
        }
      }
      nextSequences.forEach((sequence, r) => {
        sequences[r] = sequence;
      });
    }
    cache = reorderRows(ort, present, sources);
    if (hypotheses.every((h) => h.done)) break;
  }

  hypotheses.forEach((own, b) => {
    if (own.done) return;
    for (let k = 0; k < beams; k++) {
      const r = b * beams + k;
      const sequence = sequences[r] ?? [];
      own.add([...sequence], scores[r] ?? 0, Math.max(1, sequence.length));
    }
  });
  return hypotheses.map((own) => own.kept.slice(0, Math.max(1, options.numReturnSequences)));
}

/** Hugging Face's logits processors for translation, applied to log-probabilities. */
function process(
  logprobs: Float32Array,
  sequence: number[],
  step: number,
  options: Seq2SeqOptions,
): Float32Array {
  if (step === 0 && options.forcedBosId !== undefined) return forceToken(logprobs, options.forcedBosId);
  if (step === options.maxNewTokens - 1 && options.forcedEosId !== undefined) {
    return forceToken(logprobs, options.forcedEosId);
  }
  for (const bad of options.badWordsIds) {
    const prefix = bad.slice(0, -1);
    const banned = bad[bad.length - 1];
    if (banned === undefined) continue;
    if (prefix.every((id, i) => sequence[sequence.length - prefix.length + i] === id))
      logprobs[banned] = -Infinity;
  }
  const n = options.noRepeatNgramSize;
  const context = [options.decoderStartId, ...sequence];
  if (n > 0 && context.length >= n) {
    const tail = context.slice(context.length - n + 1);
    for (let start = 0; start + n <= context.length; start++) {
      if (tail.every((id, i) => context[start + i] === id)) {
        const banned = context[start + n - 1];
        if (banned !== undefined) logprobs[banned] = -Infinity;
      }
    }
  }
  return logprobs;
}

function forceToken(logprobs: Float32Array, token: number): Float32Array {
  const forced = new Float32Array(logprobs.length).fill(-Infinity);
  forced[token] = 0;
  return forced;
}

async function decoderStep(
  model: Seq2SeqModel,
  tokens: number[],
  encoderStates: Tensor,
  encoderMask: Tensor,
  cache: Feeds | undefined,
  step: number,
): Promise<{ logits: Float32Array[]; present: Feeds }> {
  const { ort } = model;
  const rows = tokens.length;
  const session = step > 0 && model.decoderWithPast ? model.decoderWithPast : model.decoder;
  const feeds: Feeds = {
    input_ids: new ort.Tensor("int64", BigInt64Array.from(tokens, BigInt), [rows, 1]),
  };
  if (session.hasInput("encoder_attention_mask")) feeds.encoder_attention_mask = encoderMask;
  if (session.hasInput("encoder_hidden_states")) feeds.encoder_hidden_states = encoderStates;
  if (session.hasInput("use_cache_branch")) {
    feeds.use_cache_branch = new ort.Tensor("bool", new Uint8Array([step > 0 ? 1 : 0]), [1]);
  }
  for (let layer = 0; layer < model.layers; layer++) {
    for (const side of ["decoder", "encoder"]) {
      for (const kind of ["key", "value"]) {
        const name = `past_key_values.${layer}.${side}.${kind}`;
        if (!session.hasInput(name)) continue;
        feeds[name] =
          cache?.[name] ??
          new ort.Tensor("float32", new Float32Array(0), [rows, model.heads, 0, model.headDim]);
      }
    }
  }
  const outputs = await session.run(feeds);
  const logits = outputs.logits as Tensor;
  const [, length = 1, vocab = 0] = logits.dims;
  const data = logits.data as Float32Array;
  const perRow = Array.from({ length: rows }, (_, r) =>
    data.slice((r * length + length - 1) * vocab, (r * length + length) * vocab),
  );
  const present: Feeds = {};
  for (let layer = 0; layer < model.layers; layer++) {
    for (const side of ["decoder", "encoder"]) {
      for (const kind of ["key", "value"]) {
        const output = outputs[`present.${layer}.${side}.${kind}`];
        // The pair's with-past decoder does not return the encoder side: it stays as computed on step one.
        present[`past_key_values.${layer}.${side}.${kind}`] =
          output ?? (cache?.[`past_key_values.${layer}.${side}.${kind}`] as Tensor);
      }
    }
  }
  return { logits: perRow, present };
}

function repeatRows(ort: Ort, tensor: Tensor, times: number): Tensor {
  if (times === 1) return tensor;
  const [rows = 1, ...rest] = tensor.dims;
  const size = rest.reduce((a, b) => a * b, 1);
  const source = tensor.data as Float32Array | BigInt64Array;
  const target = new (source.constructor as Float32ArrayConstructor)(source.length * times);
  for (let r = 0; r < rows; r++) {
    const row = source.subarray(r * size, (r + 1) * size) as Float32Array;
    for (let k = 0; k < times; k++) target.set(row, (r * times + k) * size);
  }
  return new ort.Tensor(tensor.type as "float32", target, [rows * times, ...rest]);
}

/** Row r of the result is row sources[r] of each cache tensor (beams follow their parents). */
function reorderRows(ort: Ort, cache: Feeds, sources: number[]): Feeds {
  const identity = sources.every((source, r) => source === r);
  if (identity) return cache;
  const reordered: Feeds = {};
  for (const [name, tensor] of Object.entries(cache)) {
    const [, ...rest] = tensor.dims;
    const size = rest.reduce((a, b) => a * b, 1);
    const source = tensor.data as Float32Array;
    const target = new Float32Array(sources.length * size);
    sources.forEach((from, r) => {
      target.set(source.subarray(from * size, (from + 1) * size), r * size);
    });
    reordered[name] = new ort.Tensor("float32", target, [sources.length, ...rest]);
  }
  return reordered;
}
