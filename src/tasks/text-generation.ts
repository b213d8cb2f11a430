import { ApiError, invalidParam } from "../errors.js";
import type { Lease } from "../runtime/isolate-cache.js";
import type { Manifest } from "../runtime/manifest.js";
import type { ModelRegistry } from "../runtime/registry.js";
import type { ChatMessage } from "../text/chat-template.js";
import { StreamDecoder } from "../text/stream-decoder.js";
import { type CausalLM, DecodeRun, decoderLayout, type FinishReason } from "./causal-lm.js";
import { pickOnnx, type TextAssets, textAssets } from "./model-files.js";
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
  manifest: Manifest;
  lm: CausalLM;
  assets: TextAssets;
  eosIds: Set<number>;
  /** Changes whenever the weights do (OpenAI's system_fingerprint). */
  fingerprint: string;
}

/** Opens a model for generation; `release` when done, so the cache may evict it again. */
export async function openGenerator(
  registry: ModelRegistry,
  manifest: Manifest,
  dtype?: string,
): Promise<Lease<TextGenerator>> {
  if (manifest.task !== "text-generation") {
    throw new ApiError(
      400,
      `The model '${manifest.id}' is a ${manifest.task} model, not a text-generation model.`,
      "wrong_task",
      "model",
    );
  }
  const file = pickOnnx(manifest, ["model", "decoder_model_merged"], dtype);
  const assets = await textAssets(registry, manifest);
  let session: Lease<CausalLM["session"]>;
  try {
    session = await registry.session(manifest, file);
  } catch (error) {
    assets.release();
    throw error;
  }
  const runtime = await registry.runtime();
  const layout = decoderLayout(session.value, assets.value.config);
  return {
    value: {
      manifest,
      lm: { ort: runtime.ort, session: session.value, layout },
      assets: assets.value,
      eosIds: eosIds(assets.value),
      fingerprint: file.sha256.slice(0, 12),
    },
    hit: session.hit && assets.hit,
    release: () => {
      session.release();
      assets.release();
    },
  };
}

function eosIds(assets: TextAssets): Set<number> {
  const ids = new Set<number>();
  for (const source of [assets.generationConfig.eos_token_id, assets.config.eos_token_id]) {
    for (const id of [source].flat()) if (typeof id === "number") ids.add(id);
  }
  const eos = assets.tokenizer.special("eos_token");
  const eosId = eos === undefined ? undefined : assets.tokenizer.tokenId(eos);
  if (eosId !== undefined) ids.add(eosId);
  return ids;
}

export function chatPrompt(generator: TextGenerator, messages: ChatMessage[]): number[] {
  const { template, tokenizer } = generator.assets;
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
  return generator.assets.tokenizer.encode(prompt, true);
}

export interface ResolvedGeneration {
  maxNewTokens: number;
  sampling: SamplingParams;
  seed: number;
  stop: string[];
  n: number;
}

/** Request parameters over the model's generation_config.json defaults, checked against the context. */
export function resolveGeneration(
  generator: TextGenerator,
  promptLength: number,
  params: GenerationParams,
): ResolvedGeneration {
  const defaults = generator.assets.generationConfig;
  const num = (value: unknown) => (typeof value === "number" ? value : undefined);
  const context = generator.lm.layout.contextLength;
  if (promptLength === 0) throw invalidParam("messages", "The prompt is empty.", "empty_prompt");
  if (promptLength >= context) {
    throw invalidParam(
      "messages",
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
  const sampleByDefault = defaults.do_sample === true;
  const temperature = params.temperature ?? (sampleByDefault ? (num(defaults.temperature) ?? 1) : 0);
  const vocab = generator.assets.tokenizer.vocabSize;
  const logitBias = new Map<number, number>();
  for (const [key, bias] of Object.entries(params.logitBias ?? {})) {
    const id = Number(key);
    if (!Number.isInteger(id) || id < 0 || id >= vocab) {
      throw invalidParam(
        "logit_bias",
        `logit_bias names token ${key}, which is not in the vocabulary (0..${vocab - 1}).`,
      );
    }
    logitBias.set(id, bias);
  }
  return {
    maxNewTokens: Math.min(params.maxTokens ?? num(defaults.max_new_tokens) ?? 256, room),
    n: params.n,
    seed: params.seed ?? Math.floor(Math.random() * 2 ** 31),
    stop: params.stop ?? [],
    sampling: {
      temperature,
      topK: params.topK ?? (sampleByDefault ? (num(defaults.top_k) ?? 0) : 0),
      topP: params.topP ?? (sampleByDefault ? (num(defaults.top_p) ?? 1) : 1),
      minP: params.minP ?? num(defaults.min_p) ?? 0,
      repetitionPenalty: params.repetitionPenalty ?? num(defaults.repetition_penalty) ?? 1,
      frequencyPenalty: params.frequencyPenalty ?? 0,
      presencePenalty: params.presencePenalty ?? 0,
      logitBias,
    },
  };
}

export interface ChoiceDelta {
  choice: number;
  text: string;
  finishReason?: FinishReason;
}

export interface CompletionTotals {
  promptTokens: number;
  completionTokens: number;
}

/**
 * Generates every choice and yields text pieces as they become safe to show (whole characters,
 * stop strings held back and removed). Stops within one step of `signal` aborting.
 */
export async function* generateText(
  generator: TextGenerator,
  promptIds: number[],
  resolved: ResolvedGeneration,
  totals: CompletionTotals,
  signal?: AbortSignal,
): AsyncGenerator<ChoiceDelta[]> {
  totals.promptTokens = promptIds.length;
  const run = new DecodeRun(generator.lm, {
    promptIds,
    maxNewTokens: resolved.maxNewTokens,
    n: resolved.n,
    sampling: resolved.sampling,
    seed: resolved.seed,
    eosIds: generator.eosIds,
  });
  const decoders = Array.from(
    { length: resolved.n },
    () => new StreamDecoder(generator.assets.tokenizer, resolved.stop),
  );
  while (!run.done) {
    if (signal?.aborted) return;
    const picked = await run.step();
    const deltas: ChoiceDelta[] = [];
    for (const { choice, token } of picked) {
      totals.completionTokens += 1;
      const decoder = decoders[choice];
      if (!decoder) continue;
      const { text, stopped } = decoder.push(token);
      if (stopped) run.finish(choice, "stop");
      const finishReason = run.finished[choice];
      const tail = finishReason ? decoder.flush() : "";
      if (text || tail || finishReason) deltas.push({ choice, text: text + tail, finishReason });
    }
    if (deltas.length > 0) yield deltas;
  }
}
