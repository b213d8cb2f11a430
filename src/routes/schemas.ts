import { z } from "zod";
import { invalidParam } from "../errors.js";
import type { GenerationParams, Usage } from "../tasks/text-generation.js";

/**
 * Request schemas and limits shared by more than one route (OpenAI, Workers AI, the task
 * routes). Every limit a request can hit is a constant here or in the route that owns it.
 */
export const MAX_CHOICES = 8;
export const MAX_STOP_STRINGS = 4;
/** Texts per embedding or classification request, and characters per text. */
export const MAX_INPUTS = 64;
export const MAX_INPUT_CHARS = 20_000;
/** Texts per translation request, and characters per text (split into sentences inside). */
export const MAX_TEXTS = 64;
export const MAX_TEXT_CHARS = 4000;

export const modelRef = z.string().min(1).max(200);
export const encoderText = z.string().max(MAX_INPUT_CHARS);
export const translationText = z
  .string()
  .max(MAX_TEXT_CHARS)
  .refine((value) => value.trim() !== "", "text must not be empty");
export const languageCode = z.string().min(2).max(32);

/** Sampling fields shared by the OpenAI and Workers AI generation endpoints. */
export const samplingFields = {
  max_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  top_k: z.number().int().min(0).max(1000).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  seed: z
    .number()
    .int()
    .min(-(2 ** 53))
    .max(2 ** 53)
    .nullish(),
  repetition_penalty: z.number().min(0.1).max(10).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  logit_bias: z.record(z.string(), z.number().min(-100).max(100)).nullish(),
  stream: z.boolean().nullish(),
};

/**
 * Identifiers OpenAI clients may send for abuse monitoring or cache routing. They do not change the
 * output, so accepting them drops nothing a client relies on.
 */
export const passiveFields = {
  user: z.string().max(256).nullish(),
  safety_identifier: z.string().max(256).nullish(),
  prompt_cache_key: z.string().max(256).nullish(),
};

/** The only response format generation has; JSON modes would need constrained decoding. */
export const textFormat = z.strictObject({
  type: z.literal("text", { error: "only text output is supported (no json_object or json_schema)" }),
});

/** Chat and legacy completions; strict objects, so unimplemented fields are 400s naming them. */
export const openAiFields = {
  ...samplingFields,
  ...passiveFields,
  model: modelRef,
  max_completion_tokens: z.number().int().min(1).nullish(),
  n: z.number().int().min(1).max(MAX_CHOICES).nullish(),
  stop: z
    .union([z.string().min(1).max(200), z.array(z.string().min(1).max(200)).max(MAX_STOP_STRINGS)])
    .nullish(),
  stream_options: z.strictObject({ include_usage: z.boolean().nullish() }).nullish(),
  logprobs: z
    .boolean()
    .nullish()
    .refine((value) => value !== true, "logprobs are not supported"),
  response_format: textFormat.nullish(),
};

export type SamplingRequest = {
  [K in keyof typeof samplingFields]?: z.infer<(typeof samplingFields)[K]>;
} & {
  n?: number | null;
  max_completion_tokens?: number | null;
  stop?: string | string[] | null;
  logit_bias?: Record<string, number> | null;
};

export function generationParams(body: SamplingRequest): GenerationParams {
  const defined = <T>(value: T | null | undefined) => (value === null ? undefined : value);
  const stop = defined(body.stop);
  return {
    n: defined(body.n) ?? 1,
    maxTokens: defined(body.max_completion_tokens) ?? defined(body.max_tokens),
    temperature: defined(body.temperature),
    topP: defined(body.top_p),
    topK: defined(body.top_k),
    minP: defined(body.min_p),
    seed: defined(body.seed),
    repetitionPenalty: defined(body.repetition_penalty),
    frequencyPenalty: defined(body.frequency_penalty),
    presencePenalty: defined(body.presence_penalty),
    logitBias: defined(body.logit_bias),
    stop: stop === undefined ? undefined : [stop].flat(),
  };
}

const textPart = z.strictObject({ type: z.literal("text"), text: z.string() });
/** OpenAI's image part; only image-to-text models read it (routes/caption.ts). */
const imagePart = z.strictObject({
  type: z.literal("image_url"),
  image_url: z.strictObject({ url: z.string().min(1), detail: z.enum(["auto", "low", "high"]).optional() }),
});

const chatRole = z.enum(["system", "developer", "user", "assistant"], {
  error: (issue) =>
    issue.input === "tool" || issue.input === "function"
      ? `${issue.input} turns are not supported: this service has no tool calling`
      : "role must be system, developer, user or assistant",
});

export const chatMessage = z.strictObject({
  role: chatRole,
  content: z.union([z.string(), z.array(z.discriminatedUnion("type", [textPart, imagePart])).min(1)], {
    error: "content must be a string or text and image_url parts (audio and files are not supported)",
  }),
  name: z.string().max(64).nullish(),
  // A reply's message object (appended to the history as is) carries refusal: null.
  refusal: z.null().optional(),
});

/** OpenAI's content may be parts; `developer` is OpenAI's newer name for `system`. */
export function toChatMessages(messages: z.infer<typeof chatMessage>[]) {
  return messages.map((message, index) => ({
    role: message.role === "developer" ? "system" : message.role,
    content:
      typeof message.content === "string"
        ? message.content
        : message.content
            .map((part, at) => {
              if (part.type === "text") return part.text;
              throw invalidParam(
                `messages[${index}].content[${at}]`,
                "This model reads text only; image parts need an image-to-text model.",
                "unsupported_content",
              );
            })
            .join(""),
  }));
}

/** OpenAI's usage object. */
export function usageBody(usage: Usage) {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
  };
}
