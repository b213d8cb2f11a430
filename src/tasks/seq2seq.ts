import type { Tensor } from "onnxruntime-web/wasm";
import { ApiError } from "../errors.js";
import type { Manifest } from "../runtime/manifest.js";
import type { Feeds, ModelSession } from "../runtime/session.js";
import { BeamHypotheses, type BeamOptions, beamStep, type Hypothesis, logSoftmax } from "./beam-search.js";
import type { ModelConfig } from "./model-config.js";
import type { TextAssets } from "./open-model.js";
import { argmax } from "./sampling.js";
import {
  type CacheType,
  cacheType,
  emptyCache,
  int64Tensor,
  lastLogits,
  paddedBatch,
  reorderRows,
} from "./tensors.js";

/**
 * Encoder-decoder generation over Optimum's exports: `encoder_model.onnx` plus either the merged
 * decoder (`decoder_model_merged.onnx`, `use_cache_branch`) or the pair `decoder_model.onnx` /
 * `decoder_with_past_model.onnx`. Several inputs and all their beams run as one batch through
 * every session call.
 *
 * The encoder side of the cache is computed on the first step and then kept: the pair's
 * with-past decoder does not return it, and Optimum's merged decoder returns constant empty
 * tensors for it on the cache branch. GPT-2 decoders of vision encoder-decoders cache only their
 * own keys and values (`past_key_values.{i}.key`) and read the encoder states at every step.
 */
export interface Seq2SeqModel {
  encoder: ModelSession;
  /** The merged decoder, or the first-step decoder of the pair. */
  decoder: ModelSession;
  decoderWithPast?: ModelSession;
  layout: Seq2SeqLayout;
}

/** An encoder-decoder model opened for a task (translation, captioning): its sessions and text files. */
export interface OpenedSeq2Seq {
  manifest: Manifest;
  model: Seq2SeqModel;
  assets: TextAssets;
}

export interface Seq2SeqLayout {
  layers: number;
  heads: number;
  headDim: number;
  cacheType: CacheType;
  /** The cache has an encoder side (`past_key_values.{i}.encoder.key`), not only the decoder's own. */
  crossCache: boolean;
}

const layouts = new WeakMap<ModelSession, Seq2SeqLayout>();

/** The cache layout, read once per decoder session from its inputs (config.json as a fallback). */
export function seq2seqModel(
  sessions: { encoder: ModelSession; decoder: ModelSession; decoderWithPast?: ModelSession },
  config: ModelConfig,
): Seq2SeqModel {
  let layout = layouts.get(sessions.decoder);
  if (!layout) {
    layout = seq2seqLayout(sessions.decoder, sessions.decoderWithPast, config);
    layouts.set(sessions.decoder, layout);
  }
  return { ...sessions, layout };
}

function seq2seqLayout(
  decoder: ModelSession,
  decoderWithPast: ModelSession | undefined,
  config: ModelConfig,
): Seq2SeqLayout {
  const withPast = decoderWithPast ?? decoder;
  const names = [...decoder.inputs, ...decoder.outputs, ...withPast.inputs].map((v) => v.name);
  const crossCache = names.some((name) => name.includes(".0.decoder.key"));
  const pastKey = (layer: number) =>
    crossCache ? `past_key_values.${layer}.decoder.key` : `past_key_values.${layer}.key`;
  let layers = 0;
  while (names.some((name) => name.includes(crossCache ? `.${layers}.decoder.key` : pastKey(layers))))
    layers++;
  const first = withPast.input(pastKey(0));
  const fixed = (axis: number) => (typeof first?.shape[axis] === "number" ? first.shape[axis] : undefined);
  const heads = fixed(1) ?? config.heads;
  const headDim = fixed(3) ?? config.headDim;
  if (layers > 0 && (!heads || !headDim)) {
    throw new ApiError(
      502,
      "The model's cache shape cannot be read from its inputs or config.json.",
      "bad_model",
    );
  }
  return { layers, heads: heads ?? 0, headDim: headDim ?? 0, cacheType: cacheType(first?.type), crossCache };
}

/** What the inputs of one batch may set each for itself (requests that share a batch differ in these). */
export interface InputSettings {
  numBeams: number;
  numReturnSequences: number;
  maxNewTokens: number;
  forcedBosId?: number;
  /**
   * Picks the next token of a one-beam input from its processed log-probabilities and its tokens so
   * far (a sampler); greedy without one. Beams always take the most likely.
   */
  choose?: (logprobs: Float32Array, generated: readonly number[]) => number;
}

export interface Seq2SeqOptions extends InputSettings {
  lengthPenalty: number;
  earlyStopping: boolean;
  noRepeatNgramSize: number;
  decoderStartId: number;
  eosIds: ReadonlySet<number>;
  padId: number;
  /** Tokens after the start token that the output continues (a caption prompt); not returned. */
  prefix?: number[];
  forcedEosId?: number;
  badWordsIds: number[][];
}

/** Translates a batch of tokenised inputs; returns, per input, its hypotheses best first. */
export async function generateSeq2Seq(
  model: Seq2SeqModel,
  inputs: number[][],
  options: Seq2SeqOptions,
): Promise<Hypothesis[][]> {
  const encoded = await encodeSeq2Seq(model, inputs, options.padId);
  return decodeSeq2Seq(model, encoded, options);
}

/** The encoder's states for a batch of tokenised inputs, padded on the right, with their mask. */
export async function encodeSeq2Seq(
  model: Seq2SeqModel,
  inputs: number[][],
  padId: number,
): Promise<{ states: Tensor; mask: Tensor }> {
  const source = paddedBatch(model.encoder.ort, inputs, padId);
  const encoded = (
    await model.encoder.run({ input_ids: source.ids, attention_mask: source.mask }, ["last_hidden_state"])
  ).last_hidden_state as Tensor;
  return { states: encoded, mask: source.mask };
}

/**
 * Generation from encoder states already computed (text or image encoders alike), one row per input.
 * `mask` is the encoder's attention mask, for decoders that take one (vision decoders do not).
 */
export async function decodeSeq2Seq(
  model: Seq2SeqModel,
  encoded: { states: Tensor; mask?: Tensor },
  options: Seq2SeqOptions,
): Promise<Hypothesis[][]> {
  const inputs = Array.from({ length: encoded.states.dims[0] ?? 0 }, () => options);
  const decode = new Seq2SeqDecode(model, encoded, options, inputs);
  while (!decode.done) {
    await model.decoder.yieldTurn();
    await decode.step();
  }
  return decode.results();
}

/**
 * One batch of encoder-decoder generations, a decoder step at a time, so that whoever holds it
 * decides what runs between steps. Each input has its own beams, length limit and forced first
 * token; all start together (the decoders give every row the same positions, so a row cannot
 * join later), and an input that is done keeps its rows, fed padding, until the batch ends.
 */
export class Seq2SeqDecode {
  private readonly inputs: { settings: InputSettings; from: number; hypotheses: BeamHypotheses }[];
  private readonly encoderStates: Tensor;
  private readonly encoderMask: Tensor | undefined;
  private readonly sequences: number[][];
  private readonly scores: number[];
  private cache: Feeds | undefined;
  private stepIndex = 0;

  constructor(
    private readonly model: Seq2SeqModel,
    encoded: { states: Tensor; mask?: Tensor },
    private readonly options: Seq2SeqOptions,
    settings: readonly InputSettings[],
  ) {
    const { ort } = model.encoder;
    let rows = 0;
    const rowInput: number[] = [];
    this.inputs = settings.map((own, input) => {
      const numBeams = Math.max(1, own.numBeams);
      const from = rows;
      rows += numBeams;
      for (let k = 0; k < numBeams; k++) rowInput.push(input);
      const hypotheses = new BeamHypotheses(this.beamOptions(numBeams));
      return { settings: { ...own, numBeams }, from, hypotheses };
    });
    this.encoderStates = reorderRows(ort, encoded.states, rowInput);
    this.encoderMask = encoded.mask && reorderRows(ort, encoded.mask, rowInput);
    this.sequences = Array.from({ length: rows }, () => []);
    // Only the first beam of an input starts live, so the others do not repeat its first choice.
    this.scores = rowInput.map((input, row) => (row === this.inputs[input]?.from ? 0 : -1e9));
    for (const input of this.inputs) if (input.settings.maxNewTokens <= 0) this.finalize(input);
  }

  get done(): boolean {
    return this.inputs.every((input) => input.hypotheses.done);
  }

  /** Rows each step runs: every input's beams. */
  get rows(): number {
    return this.sequences.length;
  }

  /**
   * The tokens a one-beam input has so far (its final tokens once it is done): what a stream shows
   * between steps. A beam input's best sequence is known only at its end.
   */
  tokensOf(input: number): readonly number[] {
    const own = this.inputs[input];
    if (!own) return [];
    const best = own.hypotheses.kept[0];
    if (own.hypotheses.done && best) return best.tokens;
    return this.sequences[own.from] ?? [];
  }

  isDone(input: number): boolean {
    return this.inputs[input]?.hypotheses.done ?? true;
  }

  /** Per input, its hypotheses best first (as many as it asked to return). */
  results(): Hypothesis[][] {
    return this.inputs.map(({ hypotheses, settings }) =>
      hypotheses.kept.slice(0, Math.max(1, settings.numReturnSequences)),
    );
  }

  async step(): Promise<void> {
    const { model, options, sequences, scores } = this;
    const { ort } = model.encoder;
    const step = this.stepIndex;
    const prefix = options.prefix ?? [];
    // The first step reads the start token and the whole prefix, as Hugging Face's generate() does.
    const tokens =
      step === 0
        ? sequences.map(() => [options.decoderStartId, ...prefix])
        : sequences.map((sequence) => [sequence[sequence.length - 1] ?? options.padId]);
    const { logits, present } = await decoderStep(
      model,
      tokens,
      this.encoderStates,
      this.encoderMask,
      this.cache,
      step,
    );

    const sources: number[] = [];
    for (const input of this.inputs) {
      const { settings, from, hypotheses } = input;
      const beams = settings.numBeams;
      const rows = Array.from({ length: beams }, (_, k) => from + k);
      if (hypotheses.done) {
        for (const r of rows) {
          sources.push(r);
          sequences[r]?.push(options.padId);
        }
        continue;
      }
      const processed = rows.map((r) =>
        process(logSoftmax(logits[r] ?? new Float32Array()), sequences[r] ?? [], step, options, settings),
      );
      if (beams === 1) {
        const row = processed[0] ?? new Float32Array();
        const token = settings.choose ? settings.choose(row, sequences[from] ?? []) : argmax(row);
        sources.push(from);
        sequences[from]?.push(token);
        scores[from] = (scores[from] ?? 0) + (row[token] ?? 0);
        if (options.eosIds.has(token)) {
          hypotheses.add([...(sequences[from] ?? [])], scores[from] ?? 0, sequences[from]?.length ?? 1);
          hypotheses.done = true;
        }
      } else {
        const { next } = beamStep(
          hypotheses,
          processed,
          scores.slice(from, from + beams),
          sequences.slice(from, from + beams),
          this.beamOptions(beams),
        );
        const nextSequences: number[][] = [];
        for (let k = 0; k < beams; k++) {
          const chosen = next[k] ?? next[0];
          if (!chosen) continue;
          sources.push(from + chosen.source);
          nextSequences.push([...(sequences[from + chosen.source] ?? []), chosen.token]);
          scores[from + k] = chosen.score;
        }
        nextSequences.forEach((sequence, k) => {
          sequences[from + k] = sequence;
        });
      }
      if (step + 1 >= settings.maxNewTokens) this.finalize(input);
    }
    // Beams only ever follow beams of their own input, whose encoder-side rows are identical.
    this.cache = Object.fromEntries(
      Object.entries(present).map(([name, tensor]) => [
        name,
        name.includes(".encoder.") ? tensor : reorderRows(ort, tensor, sources),
      ]),
    );
    this.stepIndex += 1;
  }

  /** An input that reached its length limit: its live beams become hypotheses as they are. */
  private finalize(input: (typeof this.inputs)[number]): void {
    const { settings, from, hypotheses } = input;
    if (hypotheses.done) return;
    for (let r = from; r < from + settings.numBeams; r++) {
      const sequence = this.sequences[r] ?? [];
      hypotheses.add([...sequence], this.scores[r] ?? 0, Math.max(1, sequence.length));
    }
    hypotheses.done = true;
  }

  private beamOptions(numBeams: number): BeamOptions {
    const { lengthPenalty, earlyStopping, eosIds } = this.options;
    return { numBeams, lengthPenalty, earlyStopping, eosIds };
  }
}

/** Hugging Face's logits processors for translation, applied to log-probabilities. */
function process(
  logprobs: Float32Array,
  sequence: number[],
  step: number,
  options: Seq2SeqOptions,
  own: InputSettings,
): Float32Array {
  if (step === 0 && own.forcedBosId !== undefined) return forceToken(logprobs, own.forcedBosId);
  if (step === own.maxNewTokens - 1 && options.forcedEosId !== undefined) {
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
  const context = [options.decoderStartId, ...(options.prefix ?? []), ...sequence];
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
  tokens: number[][],
  encoderStates: Tensor,
  encoderMask: Tensor | undefined,
  cache: Feeds | undefined,
  step: number,
): Promise<{ logits: Float32Array[]; present: Feeds }> {
  const { layout } = model;
  const session = step > 0 && model.decoderWithPast ? model.decoderWithPast : model.decoder;
  const { ort } = session;
  const rows = tokens.length;
  const width = tokens[0]?.length ?? 1;
  const feeds: Feeds = { input_ids: int64Tensor(ort, tokens.flat(), [rows, width]) };
  if (session.hasInput("encoder_attention_mask")) {
    if (!encoderMask) throw new ApiError(502, "The decoder needs an encoder attention mask.", "bad_model");
    feeds.encoder_attention_mask = encoderMask;
  }
  if (session.hasInput("encoder_hidden_states")) feeds.encoder_hidden_states = encoderStates;
  if (session.hasInput("use_cache_branch")) {
    feeds.use_cache_branch = new ort.Tensor("bool", new Uint8Array([step > 0 ? 1 : 0]), [1]);
  }
  const names = cacheNames(layout);
  for (const { past } of names) {
    if (!session.hasInput(past)) continue;
    feeds[past] = cache?.[past] ?? emptyCache(ort, layout.cacheType, rows, layout.heads, layout.headDim);
  }
  const outputs = await session.run(feeds);
  const present: Feeds = {};
  for (const { past, present: name, side } of names) {
    const kept = step > 0 && side === "encoder" ? cache?.[past] : undefined;
    present[past] = kept ?? (outputs[name] as Tensor);
  }
  return { logits: lastLogits(outputs.logits as Tensor).map((row) => row.slice()), present };
}

/** Input and output names of every cache tensor, with the side of the cache it holds. */
function cacheNames({ layers, crossCache }: Seq2SeqLayout) {
  const names: { past: string; present: string; side: "decoder" | "encoder" }[] = [];
  for (let layer = 0; layer < layers; layer++) {
    if (!crossCache) {
      for (const kind of ["key", "value"]) {
        names.push({
          past: `past_key_values.${layer}.${kind}`,
          present: `present.${layer}.${kind}`,
          side: "decoder",
        });
      }
      continue;
    }
    for (const side of ["decoder", "encoder"] as const) {
      for (const kind of ["key", "value"]) {
        names.push({
          past: `past_key_values.${layer}.${side}.${kind}`,
          present: `present.${layer}.${side}.${kind}`,
          side,
        });
      }
    }
  }
  return names;
}
