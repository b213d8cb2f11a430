import type { Tensor } from "onnxruntime-web/wasm";
import { ApiError } from "../errors.js";
import type { Feeds, ModelSession } from "../runtime/session.js";
import { type LoraAdapter, type LoraInput, loraFeeds, loraInputs } from "./lora.js";
import type { ModelConfig } from "./model-config.js";
import { nextToken, type SamplingParams, seededRandom } from "./sampling.js";
import { type CacheType, cacheType, emptyCache, int64Tensor, lastLogits, repeatRows } from "./tensors.js";

/**
 * Decoder-only generation over Optimum's ONNX exports: `model.onnx` with past inputs, the merged
 * decoder (`use_cache_branch`), or a model without a cache (then every step recomputes the whole
 * sequence). Everything about the cache is read from the session's inputs and config.json.
 */
export interface DecoderLayout {
  /** Input names of the cache, per layer, and the matching output names. */
  past: { key: string; value: string; presentKey: string; presentValue: string }[];
  kvHeads: number;
  headDim: number;
  kvType: CacheType;
  hasPositionIds: boolean;
  hasAttentionMask: boolean;
  hasCacheBranch: boolean;
  contextLength: number;
  /** LoRA inputs of a base that serves adapters (tasks/lora.ts); empty otherwise. */
  lora: LoraInput[];
}

export interface CausalLM {
  session: ModelSession;
  layout: DecoderLayout;
}

const layouts = new WeakMap<ModelSession, DecoderLayout>();

/** The session's layout, read once per session (sessions live as long as the isolate caches them). */
export function causalLM(session: ModelSession, config: ModelConfig): CausalLM {
  let layout = layouts.get(session);
  if (!layout) {
    layout = decoderLayout(session, config);
    layouts.set(session, layout);
  }
  return { session, layout };
}

export function decoderLayout(session: ModelSession, config: ModelConfig): DecoderLayout {
  const past: DecoderLayout["past"] = [];
  for (let layer = 0; session.hasInput(`past_key_values.${layer}.key`); layer++) {
    past.push({
      key: `past_key_values.${layer}.key`,
      value: `past_key_values.${layer}.value`,
      presentKey: `present.${layer}.key`,
      presentValue: `present.${layer}.value`,
    });
  }
  const first = session.input("past_key_values.0.key");
  const fixed = (axis: number) => (typeof first?.shape[axis] === "number" ? first.shape[axis] : undefined);
  const kvHeads = fixed(1) ?? config.kvHeads;
  const headDim = fixed(3) ?? config.headDim;
  if (past.length > 0 && (!kvHeads || !headDim)) {
    throw new ApiError(
      502,
      "The model's cache shape cannot be read from its inputs or config.json.",
      "bad_model",
    );
  }
  return {
    past,
    kvHeads: kvHeads ?? 0,
    headDim: headDim ?? 0,
    kvType: cacheType(first?.type),
    hasPositionIds: session.hasInput("position_ids"),
    hasAttentionMask: session.hasInput("attention_mask"),
    hasCacheBranch: session.hasInput("use_cache_branch"),
    contextLength: config.contextLength ?? 2048,
    lora: loraInputs(session),
  };
}

export interface DecodeOptions {
  promptIds: readonly number[];
  maxNewTokens: number;
  /** Completions generated side by side as one batch. */
  n: number;
  sampling: SamplingParams;
  seed: number;
  eosIds: ReadonlySet<number>;
  /** Recompute the whole sequence every step even if the model has a cache (reference runs). */
  noCache?: boolean;
  /** Prompt tokens per run when the prompt is fed with the cache (default: all at once). */
  prefillChunk?: number;
  /** Extends the request's life over shared work it starts (see ModelRegistry.keepAlive). */
  keepAlive?: (work: Promise<unknown>) => void;
  /** The LoRA adapter every choice runs with; none: the base. */
  adapter?: LoraAdapter;
}

export type FinishReason = "stop" | "length";

/**
 * The choices of one generation: their tokens, how each finished, and each one's sampler, seeded
 * from the request's seed and the choice's index, so a choice draws the same tokens whether it
 * runs alone or beside others.
 */
export class Choices {
  readonly generated: number[][];
  readonly finished: (FinishReason | undefined)[];
  private readonly randoms: (() => number)[];

  constructor(readonly options: DecodeOptions) {
    this.generated = Array.from({ length: options.n }, () => []);
    this.finished = Array.from({ length: options.n }, () => undefined);
    this.randoms = Array.from({ length: options.n }, (_, index) => seededRandom(options.seed + index * 7919));
  }

  get done(): boolean {
    return this.finished.every((reason) => reason !== undefined);
  }

  finish(choice: number, reason: FinishReason): void {
    this.finished[choice] ??= reason;
  }

  /** Picks a choice's next token from its logits; an EOS or the length limit finishes it. */
  pick(choice: number, logits: Float32Array): number {
    const generated = this.generated[choice] ?? [];
    const token = nextToken(
      logits.slice(),
      this.options.sampling,
      [...this.options.promptIds, ...generated],
      generated,
      this.randoms[choice] ?? Math.random,
    );
    generated.push(token);
    if (this.options.eosIds.has(token)) this.finish(choice, "stop");
    else if (generated.length >= this.options.maxNewTokens) this.finish(choice, "length");
    return token;
  }
}

/**
 * One generation run: the prompt once, then one token per step for every unfinished choice.
 * The caller drives it step by step, so streaming, stop strings and disconnects are handled
 * outside, between steps (`finish`).
 */
export class DecodeRun extends Choices {
  /** The raw last-position logits of the latest step, per batch row (before any penalty). */
  lastLogits: Float32Array[] = [];
  private cache: Feeds | undefined;
  private cacheLength = 0;
  private steps = 0;

  constructor(
    private readonly lm: CausalLM,
    options: DecodeOptions,
  ) {
    super(options);
  }

  /** A lone run holds nothing beyond itself. */
  close(): void {}

  /** Runs the model once and picks one token per unfinished choice. */
  async step(): Promise<{ choice: number; token: number }[]> {
    await this.lm.session.yieldTurn();
    const logits = await this.forward();
    this.lastLogits = logits;
    const picked: { choice: number; token: number }[] = [];
    for (let choice = 0; choice < this.options.n; choice++) {
      if (this.finished[choice]) continue;
      const row = logits[this.steps === 0 ? 0 : choice];
      if (row) picked.push({ choice, token: this.pick(choice, row) });
    }
    this.steps += 1;
    return picked;
  }

  /**
   * Last-position logits per batch row. The first step runs the prompt alone (batch 1), in pieces
   * of `prefillChunk` tokens when the model has a cache and the whole prompt would not fit one run.
   */
  private async forward(): Promise<Float32Array[]> {
    const { layout } = this.lm;
    const first = this.steps === 0;
    const usesCache = layout.past.length > 0 && !this.options.noCache;
    const prompt = this.options.promptIds;
    if (first && usesCache) {
      const chunk = Math.max(1, this.options.prefillChunk ?? prompt.length);
      let logits: Float32Array[] = [];
      for (let start = 0; start < prompt.length; start += chunk) {
        if (start > 0) await this.lm.session.yieldTurn();
        const end = Math.min(prompt.length, start + chunk);
        // After the whole prompt, every choice continues from its own copy of the prompt's cache.
        logits = await this.run([prompt.slice(start, end)], end === prompt.length ? this.options.n : 1);
      }
      return logits;
    }
    const rows = first ? 1 : this.options.n;
    const tokens: number[][] = [];
    for (let row = 0; row < rows; row++) {
      const generated = this.generated[row] ?? [];
      if (first || !usesCache) tokens.push([...prompt, ...(first ? [] : generated)]);
      else tokens.push([generated[generated.length - 1] ?? 0]);
    }
    return this.run(tokens, 1);
  }

  /** One session run on top of the cache so far; keeps its new cache, `copies` times per row. */
  private async run(tokens: number[][], copies: number): Promise<Float32Array[]> {
    const { layout, session } = this.lm;
    const usesCache = layout.past.length > 0 && !this.options.noCache;
    const pastLength = usesCache ? this.cacheLength : 0;
    const lengths = tokens.map(() => pastLength);
    const adapters = tokens.map(() => this.options.adapter);
    const outputs = await session.run(
      decoderFeeds(this.lm, tokens, lengths, pastLength, this.cache, adapters),
    );
    if (usesCache) {
      const present = presentCache(this.lm, outputs);
      this.cacheLength = pastLength + (tokens[0]?.length ?? 0);
      this.cache = Object.fromEntries(
        Object.entries(present).map(([name, tensor]) => [name, repeatRows(session.ort, tensor, copies)]),
      );
    }
    return lastLogits(outputs.logits as Tensor);
  }
}

/**
 * Feeds for rows of equal new-token counts over a cache `width` positions wide. Each row's real
 * positions (`lengths`) are right-aligned in the cache: `attention_mask` zeroes the padding on the
 * left and `position_ids` count the row's own positions, so rows of different lengths can share a
 * run (continuous batching) and a lone row is simply one whose length is the width. `pads` counts,
 * per row, the new tokens that are left padding too (prompts of different lengths prefilled
 * together); they are masked out and their positions are 0. `adapters` names each row's LoRA
 * adapter, if the graph takes them (none: every row runs the base).
 */
export function decoderFeeds(
  lm: CausalLM,
  tokens: readonly (readonly number[])[],
  lengths: readonly number[],
  width: number,
  cache: Feeds | undefined,
  adapters: readonly (LoraAdapter | undefined)[] = [undefined],
  pads: readonly number[] = [],
): Feeds {
  const { layout, session } = lm;
  const { ort } = session;
  const rows = tokens.length;
  const length = tokens[0]?.length ?? 0;
  const feeds: Feeds = {
    input_ids: int64Tensor(ort, tokens.flat(), [rows, length]),
    ...loraFeeds(ort, layout.lora, adapters),
  };
  if (layout.hasAttentionMask) {
    const total = width + length;
    const mask = new BigInt64Array(rows * total);
    for (const [row, real] of lengths.entries()) {
      mask.fill(1n, row * total + (width - real), row * total + width);
      mask.fill(1n, row * total + width + (pads[row] ?? 0), (row + 1) * total);
    }
    feeds.attention_mask = new ort.Tensor("int64", mask, [rows, total]);
  }
  if (layout.hasPositionIds) {
    const positions = lengths.flatMap((real, row) => {
      const pad = pads[row] ?? 0;
      return Array.from({ length }, (_, i) => (i < pad ? 0 : real + i - pad));
    });
    feeds.position_ids = int64Tensor(ort, positions, [rows, length]);
  }
  if (layout.hasCacheBranch) {
    feeds.use_cache_branch = new ort.Tensor("bool", new Uint8Array([width > 0 ? 1 : 0]), [1]);
  }
  for (const layer of layout.past) {
    for (const name of [layer.key, layer.value]) {
      feeds[name] = cache?.[name] ?? emptyCache(ort, layout.kvType, rows, layout.kvHeads, layout.headDim);
    }
  }
  return feeds;
}

/** The present cache of a run, under the names the next run takes it as past. */
export function presentCache(lm: CausalLM, outputs: Record<string, Tensor>): Feeds {
  const present: Feeds = {};
  for (const layer of lm.layout.past) {
    present[layer.key] = outputs[layer.presentKey] as Tensor;
    present[layer.value] = outputs[layer.presentValue] as Tensor;
  }
  return present;
}

/** Runs a generation to its end and returns the ids of the first choice (goldens, benchmarks). */
export async function generateIds(lm: CausalLM, options: Omit<DecodeOptions, "n">): Promise<number[]> {
  const run = new DecodeRun(lm, { ...options, n: 1 });
  while (!run.done) await run.step();
  return run.generated[0] ?? [];
}
