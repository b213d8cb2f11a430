import { ApiError, invalidParam } from "../errors.js";
import { findFile, loraPath, type Manifest } from "../runtime/manifest.js";
import type { ChatMessage } from "../text/chat-template.js";
import { StreamDecoder } from "../text/stream-decoder.js";
import { type BatchLimits, batcherFor, type DecodeBatcher, type Stepper } from "./batcher.js";
import { type CausalLM, causalLM, type DecodeOptions, DecodeRun, type FinishReason } from "./causal-lm.js";
import { assertAdapterFits, type LoraAdapter, loadAdapter } from "./lora.js";
import { idList } from "./model-config.js";
import { pickOnnx } from "./model-files.js";
import { type Opener, openForTask, specialTokenId, type TextAssets, textAssets } from "./open-model.js";
import { assertRunFits, fileRunCost, type RunCost } from "./run-memory.js";
import type { SamplingParams } from "./sampling.js";

/** Generation parameters as a request states them, whatever the API shape. */
export interface GenerationParams {
  n: number;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  repetitionPenalty?: number;
  frequencyPenalty?: number;
  presencePenalty?: number;
  logitBias?: Record<string, number>;
  seed?: number;
  stop?: string[];
}

export interface TextGenerator {
  /** The base model's manifest (for an adapter, the model it adapts). */
  manifest: Manifest;
  /** The LoRA adapter the request named; none: the base. */
  adapter?: LoraAdapter;
  lm: CausalLM;
  assets: TextAssets;
  eosIds: Set<number>;
  /** Changes whenever the weights do (OpenAI's system_fingerprint). */
  fingerprint: string;
  runCost: RunCost;
  runAllowance: number;
  /** Concurrent generations share each decode step (off: they take turns, one run each). */
  batching: boolean;
  keepAlive: (work: Promise<unknown>) => void;
  /** The isolate's model budget, which a batch's KV cache is charged to. */
  memory: BatchLimits["memory"];
}

/** Rows one batched step may hold, and generations that may wait for a place before a 429. */
export const MAX_BATCH_ROWS = 16;
export const MAX_BATCH_QUEUE = 64;

/**
 * Opens a model for generation; `release` when done, so the cache may evict it again. An adapter
 * (a manifest with `adapter`) opens its base's session, shared with the base and every other
 * adapter, plus its own weights.
 */
export const openGenerator: Opener<TextGenerator> = (registry, named, dtype) =>
  openForTask<TextGenerator>(named, ["text-generation"], "a text-generation", async (group) => {
    const manifest = named.adapter ? await registry.manifest(named.adapter.base) : named;
    const plain = pickOnnx(manifest, ["model", "decoder_model_merged"], dtype);
    // A base that serves adapters runs its LoRA-ready graph for every request, adapter or not.
    const file = (manifest.lora && findFile(manifest, loraPath(plain.path))) || plain;
    if (named.adapter && file === plain) {
      throw new ApiError(
        502,
        `The base '${manifest.id}' of adapter '${named.id}' has no LoRA-ready graph for ${plain.path}: push the adapter again.`,
        "bad_model",
      );
    }
    const assets = await group.take(textAssets(registry, manifest));
    const session = await group.take(registry.session(manifest, file));
    const lm = causalLM(session, assets.config);
    const adapter = named.adapter ? await group.take(loadAdapter(registry, named)) : undefined;
    if (adapter) assertAdapterFits(adapter, lm.layout.lora, manifest.id);
    return {
      manifest,
      adapter,
      lm,
      assets,
      eosIds: eosIds(assets),
      fingerprint: (named.adapter ? named.adapter.weights.sha256 : file.sha256).slice(0, 12),
      runCost: fileRunCost(file, assets.config, { logits: true, cache: true }),
      runAllowance: registry.runAllowanceBytes,
      batching: registry.batching,
      keepAlive: (work) => registry.keepAlive(work),
      memory: registry.cache,
    };
  });

function eosIds(assets: TextAssets): Set<number> {
  const ids = new Set([...idList(assets.generation.eos_token_id), ...assets.config.eosIds]);
  const eos = specialTokenId(assets.tokenizer, "eos_token");
  if (eos !== undefined) ids.add(eos);
  return ids;
}

/** Refuses, before tokenizing, a text that certainly does not fit the model's context. */
function assertCanFit(generator: TextGenerator, text: string, param: Prompt["param"]): void {
  const context = generator.lm.layout.contextLength;
  const atLeast = generator.assets.tokenizer.minimumTokens(text);
  if (atLeast >= context) {
    throw invalidParam(
      param,
      `The prompt has at least ${atLeast} tokens; the model's context is ${context} tokens.`,
      "context_length_exceeded",
    );
  }
}

export function chatPrompt(generator: TextGenerator, messages: ChatMessage[]): number[] {
  const { template, tokenizer } = generator.assets;
  assertCanFit(generator, messages.map((message) => message.content).join(""), "messages");
  if (!template) {
    throw new ApiError(
      400,
      `The model '${generator.manifest.id}' has no chat template; use /v1/completions.`,
      "no_chat_template",
      "model",
    );
  }
  // Templates emit their own special tokens (BOS included), so none are added again.
  return tokenizer.encode(template.render(messages, true), false);
}

export function textPrompt(generator: TextGenerator, prompt: string): number[] {
  assertCanFit(generator, prompt, "prompt");
  return generator.assets.tokenizer.encode(prompt, true);
}

/** A tokenised prompt and the request field it came from, so errors about it name that field. */
export interface Prompt {
  ids: number[];
  param: "messages" | "prompt" | "input";
}

export interface ResolvedGeneration {
  maxNewTokens: number;
  /** Prompt tokens per run, so that no run exceeds the isolate's per-run memory allowance. */
  prefillChunk: number;
  sampling: SamplingParams;
  seed: number;
  stop: string[];
  n: number;
}

/** A request's sampling over the model's generation_config.json defaults; logit_bias keys checked. */
export function resolveSampling(
  params: GenerationParams,
  defaults: TextAssets["generation"],
  vocab: number,
): SamplingParams {
  const sampleByDefault = defaults.do_sample === true;
  const logitBias = new Map<number, number>();
  for (const [key, bias] of Object.entries(params.logitBias ?? {})) {
    // OpenAI's keys are token ids in decimal: "0x10", " 5" or "1e2" are not ids.
    const id = /^(?:0|[1-9]\d{0,9})$/.test(key) ? Number(key) : Number.NaN;
    if (!Number.isInteger(id) || id >= vocab) {
      throw invalidParam(
        "logit_bias",
        `logit_bias names token ${key}, which is not in the vocabulary (0..${vocab - 1}).`,
      );
    }
    logitBias.set(id, bias);
  }
  return {
    temperature: params.temperature ?? (sampleByDefault ? (defaults.temperature ?? 1) : 0),
    topK: params.topK ?? (sampleByDefault ? (defaults.top_k ?? 0) : 0),
    topP: params.topP ?? (sampleByDefault ? (defaults.top_p ?? 1) : 1),
    minP: params.minP ?? defaults.min_p ?? 0,
    repetitionPenalty: params.repetitionPenalty ?? defaults.repetition_penalty ?? 1,
    frequencyPenalty: params.frequencyPenalty ?? 0,
    presencePenalty: params.presencePenalty ?? 0,
    logitBias,
  };
}

/** Request parameters over the model's generation_config.json defaults, checked against the context. */
export function resolveGeneration(
  generator: TextGenerator,
  prompt: Prompt,
  params: GenerationParams,
): ResolvedGeneration {
  const defaults = generator.assets.generation;
  const context = generator.lm.layout.contextLength;
  const promptLength = prompt.ids.length;
  if (promptLength === 0) throw invalidParam(prompt.param, "The prompt is empty.", "empty_prompt");
  if (promptLength >= context) {
    throw invalidParam(
      prompt.param,
      `The prompt has ${promptLength} tokens; the model's context is ${context} tokens, which leaves no room to generate.`,
      "context_length_exceeded",
    );
  }
  const room = context - promptLength;
  if (params.maxTokens !== undefined && params.maxTokens > room) {
    throw invalidParam(
      "max_tokens",
      `max_tokens is ${params.maxTokens}, but the prompt has ${promptLength} tokens and the model's context is ${context}: at most ${room} can be generated.`,
      "context_length_exceeded",
    );
  }
  const maxNewTokens = Math.min(params.maxTokens ?? defaults.max_new_tokens ?? 256, room);
  return {
    maxNewTokens,
    prefillChunk: prefillChunk(generator, promptLength, params.n, promptLength + maxNewTokens),
    n: params.n,
    seed: params.seed ?? Math.floor(Math.random() * 2 ** 31),
    stop: params.stop ?? [],
    sampling: resolveSampling(params, defaults, generator.assets.tokenizer.vocabSize),
  };
}

/**
 * The most prompt tokens one run may take. A model with a cache is fed its prompt in pieces that
 * fit; one without must take it whole (and every step recomputes it), so it either fits or is refused.
 */
function prefillChunk(generator: TextGenerator, promptLength: number, n: number, longest: number): number {
  const { runCost: cost, runAllowance: allowance } = generator;
  const hasCache = generator.lm.layout.past.length > 0;
  assertRunFits(cost, n, hasCache ? 1 : longest, allowance, longest);
  if (!hasCache) return promptLength;
  const perToken = cost.perToken + cost.perAttended * promptLength;
  const chunk = Math.floor((allowance - cost.perPosition * promptLength) / perToken);
  if (chunk < 1) assertRunFits(cost, 1, 1, allowance, promptLength);
  return Math.min(promptLength, chunk);
}

export interface ChoiceDelta {
  choice: number;
  text: string;
  finishReason?: FinishReason;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

/** What one step of generation made visible, and the usage so far. */
export interface GenerationStep {
  deltas: ChoiceDelta[];
  usage: Usage;
}

/**
 * Generates every choice and yields text pieces as they become safe to show (whole characters,
 * stop strings held back and removed), each with the usage so far. Stops within one step of
 * `signal` aborting.
 */
export async function* generateText(
  generator: TextGenerator,
  prompt: Prompt,
  resolved: ResolvedGeneration,
  signal?: AbortSignal,
): AsyncGenerator<GenerationStep> {
  const usage: Usage = { promptTokens: prompt.ids.length, completionTokens: 0 };
  const options: DecodeOptions = {
    promptIds: prompt.ids,
    maxNewTokens: resolved.maxNewTokens,
    n: resolved.n,
    sampling: resolved.sampling,
    seed: resolved.seed,
    eosIds: generator.eosIds,
    prefillChunk: resolved.prefillChunk,
    keepAlive: generator.keepAlive,
    adapter: generator.adapter,
  };
  // Only a model with a cache can batch: without one, every step recomputes each sequence whole.
  // Rows of different lengths share a step through left padding, which needs each row's own
  // position_ids: a model without them (onnxruntime-genai's GroupQueryAttention counts positions
  // from the mask, padding last) runs each generation alone.
  const run: Stepper =
    generator.batching && generator.lm.layout.past.length > 0 && generator.lm.layout.hasPositionIds
      ? decodeBatcher(generator).join(options)
      : new DecodeRun(generator.lm, options);
  const decoders = Array.from(
    { length: resolved.n },
    () => new StreamDecoder(generator.assets.tokenizer, resolved.stop),
  );
  try {
    yield* decode(run, decoders, usage, signal);
  } finally {
    run.close();
  }
}

/** The model's decode batcher (one per session), bounded as every route bounds it. */
export function decodeBatcher(generator: TextGenerator): DecodeBatcher {
  return batcherFor(generator.lm, {
    maxRows: MAX_BATCH_ROWS,
    maxQueue: MAX_BATCH_QUEUE,
    cost: generator.runCost,
    allowance: generator.runAllowance,
    memory: generator.memory,
  });
}

/** Turns each step's tokens into text pieces, until every choice has finished or `signal` aborts. */
async function* decode(
  run: Stepper,
  decoders: StreamDecoder[],
  usage: Usage,
  signal: AbortSignal | undefined,
): AsyncGenerator<GenerationStep> {
  // What this reader has taken of each choice. A batch steps on whether or not this reader keeps up,
  // so `run.finished` may already hold the end of a choice whose last tokens are still to be read.
  const read = decoders.map(() => 0);
  const ended = decoders.map(() => false);
  while (!run.done) {
    if (signal?.aborted) return;
    const picked = await run.step();
    const deltas: ChoiceDelta[] = [];
    for (const { choice, token } of picked) {
      // A batch may have stepped a choice that a stop string had already ended.
      const decoder = decoders[choice];
      if (!decoder || ended[choice]) continue;
      read[choice] = (read[choice] ?? 0) + 1;
      usage.completionTokens += 1;
      const { text, stopped } = decoder.push(token);
      if (stopped) run.finish(choice, "stop");
      const last = read[choice] === run.generated[choice]?.length;
      const finishReason = stopped ? "stop" : last ? run.finished[choice] : undefined;
      if (finishReason) ended[choice] = true;
      const tail = finishReason ? decoder.flush() : "";
      if (text || tail || finishReason) deltas.push({ choice, text: text + tail, finishReason });
    }
    if (deltas.length > 0) yield { deltas, usage: { ...usage } };
  }
}

export interface Completion {
  texts: string[];
  finishReasons: (FinishReason | null)[];
  usage: Usage;
}

/** Runs a generation to its end (or until `signal` aborts), for responses that are not streamed. */
export async function completeText(
  generator: TextGenerator,
  prompt: Prompt,
  resolved: ResolvedGeneration,
  signal?: AbortSignal,
): Promise<Completion> {
  const texts = Array.from({ length: resolved.n }, () => "");
  const finishReasons: (FinishReason | null)[] = Array.from({ length: resolved.n }, () => null);
  let usage: Usage = { promptTokens: prompt.ids.length, completionTokens: 0 };
  for await (const step of generateText(generator, prompt, resolved, signal)) {
    for (const delta of step.deltas) {
      texts[delta.choice] += delta.text;
      if (delta.finishReason) finishReasons[delta.choice] = delta.finishReason;
    }
    usage = step.usage;
  }
  return { texts, finishReasons, usage };
}
