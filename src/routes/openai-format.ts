import type { ChoiceDelta, Completion, GenerationStep, Usage } from "../tasks/text-generation.js";
import { usageBody } from "./schemas.js";
import type { SseEvent } from "./sse.js";

/** OpenAI's response shapes for generated text: chat and legacy completions, whole or streamed. */
export interface Meta {
  id: string;
  created: number;
  model: string;
  system_fingerprint: string;
}

/** How one endpoint shapes the same generation: ids, object names, choices. */
export interface Format {
  idPrefix: string;
  object: string;
  chunkObject: string;
  choice(text: string, index: number, finishReason: string | null): unknown;
  chunkChoice(delta: ChoiceDelta): unknown;
  /** The chunk that opens a stream (chat announces the assistant role first). */
  opening?(n: number): unknown[];
}

export const chatFormat: Format = {
  idPrefix: "chatcmpl",
  object: "chat.completion",
  chunkObject: "chat.completion.chunk",
  choice: (text, index, finishReason) => ({
    index,
    message: { role: "assistant", content: text, refusal: null },
    finish_reason: finishReason,
    logprobs: null,
  }),
  chunkChoice: (delta) => ({
    index: delta.choice,
    delta: { content: delta.text },
    finish_reason: delta.finishReason ?? null,
    logprobs: null,
  }),
  opening: (n) =>
    Array.from({ length: n }, (_, index) => ({
      index,
      delta: { role: "assistant", content: "" },
      finish_reason: null,
      logprobs: null,
    })),
};

export const completionFormat: Format = {
  idPrefix: "cmpl",
  object: "text_completion",
  chunkObject: "text_completion",
  choice: (text, index, finishReason) => ({ index, text, finish_reason: finishReason, logprobs: null }),
  chunkChoice: (delta) => ({
    index: delta.choice,
    text: delta.text,
    finish_reason: delta.finishReason ?? null,
    logprobs: null,
  }),
};

export function metaFor(format: Format, model: string, fingerprint: string): Meta {
  return {
    id: `${format.idPrefix}-${crypto.randomUUID()}`,
    created: Math.floor(Date.now() / 1000),
    model,
    system_fingerprint: `fp_${fingerprint}`,
  };
}

export function formatCompletion(
  format: Format,
  meta: Meta,
  completion: Pick<Completion, "texts" | "finishReasons" | "usage">,
): unknown {
  return {
    ...meta,
    object: format.object,
    choices: completion.texts.map((text, index) =>
      format.choice(text, index, completion.finishReasons[index] ?? null),
    ),
    usage: usageBody(completion.usage),
  };
}

/** The chunks of a streamed response, then its usage (when asked for) and `[DONE]`. */
export async function* formatStream(
  format: Format,
  meta: Meta,
  options: { n: number; includeUsage: boolean; promptTokens: number },
  steps: AsyncIterable<GenerationStep>,
  signal: AbortSignal,
): AsyncGenerator<SseEvent> {
  const chunk = (choices: unknown[]) =>
    JSON.stringify({
      ...meta,
      object: format.chunkObject,
      choices,
      ...(options.includeUsage ? { usage: null } : {}),
    });
  if (format.opening) yield chunk(format.opening(options.n));
  let usage: Usage = { promptTokens: options.promptTokens, completionTokens: 0 };
  let first = true;
  for await (const step of steps) {
    usage = step.usage;
    yield { data: chunk(step.deltas.map(format.chunkChoice)), flush: first };
    first = false;
  }
  if (signal.aborted) return;
  if (options.includeUsage) {
    yield JSON.stringify({ ...meta, object: format.chunkObject, choices: [], usage: usageBody(usage) });
  }
  yield "[DONE]";
}
