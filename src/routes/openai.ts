import { type Context, Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../env.js";
import { readJson } from "../http.js";
import type { ChoiceDelta, Prompt, TextGenerator, Usage } from "../tasks/text-generation.js";
import { findModelFor } from "./aliases.js";
import { chatCaption } from "./caption.js";
import { messagesPrompt, serveGeneration, textOnlyPrompt } from "./generation.js";
import { chatMessage, generationParams, openAiFields, toChatMessages, usageBody } from "./schemas.js";

/** OpenAI's /v1/chat/completions and /v1/completions, non-streamed and as SSE. */
export const chatRequest = z.strictObject({
  ...openAiFields,
  messages: z.array(chatMessage).min(1).max(256),
});
export const completionRequest = z.strictObject({
  ...openAiFields,
  prompt: z.union([z.string(), z.array(z.string()).min(1).max(1)]),
  echo: z
    .boolean()
    .nullish()
    .refine((value) => value !== true, "echo is not supported"),
  suffix: z
    .string()
    .nullish()
    .refine((value) => !value, "suffix is not supported"),
});

type OpenAiBody = z.infer<typeof chatRequest> | z.infer<typeof completionRequest>;

interface Meta {
  id: string;
  created: number;
  model: string;
  system_fingerprint: string;
}

/** How one endpoint shapes the same generation: ids, object names, choices. */
interface Format {
  idPrefix: string;
  object: string;
  chunkObject: string;
  choice(text: string, index: number, finishReason: string | null): unknown;
  chunkChoice(delta: ChoiceDelta): unknown;
  /** The chunk that opens a stream (chat announces the assistant role first). */
  opening?(n: number): unknown[];
}

const chatFormat: Format = {
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

const completionFormat: Format = {
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

export const openai = new Hono<AppEnv>()
  .post("/v1/chat/completions", async (c) => {
    const body = await readJson(c, chatRequest);
    const { manifest, dtype } = await findModelFor(c, body.model);
    if (manifest.task === "image-to-text") return chatCaption(c, manifest, dtype, body);
    const messages = toChatMessages(body.messages);
    return serve(c, chatFormat, body, messagesPrompt(messages));
  })
  .post("/v1/completions", async (c) => {
    const body = await readJson(c, completionRequest);
    const prompt = typeof body.prompt === "string" ? body.prompt : (body.prompt[0] ?? "");
    return serve(c, completionFormat, body, textOnlyPrompt(prompt));
  });

async function serve(
  c: Context<AppEnv>,
  format: Format,
  body: OpenAiBody,
  prompt: (generator: TextGenerator) => Prompt,
): Promise<Response> {
  const { manifest, dtype } = await findModelFor(c, body.model);
  const includeUsage = body.stream_options?.include_usage === true;
  const metaOf = (generator: TextGenerator): Meta => ({
    id: `${format.idPrefix}-${crypto.randomUUID()}`,
    created: Math.floor(Date.now() / 1000),
    model: body.model,
    system_fingerprint: `fp_${generator.fingerprint}`,
  });
  const request = { manifest, dtype, prompt, params: generationParams(body), stream: body.stream === true };
  return serveGeneration(c, request, {
    complete: ({ generator }, completion) => ({
      ...metaOf(generator),
      object: format.object,
      choices: completion.texts.map((text, index) =>
        format.choice(text, index, completion.finishReasons[index] ?? null),
      ),
      usage: usageBody(completion.usage),
    }),
    async *stream({ generator, prompt, resolved }, steps, signal) {
      const meta = metaOf(generator);
      const chunk = (choices: unknown[]) =>
        JSON.stringify({
          ...meta,
          object: format.chunkObject,
          choices,
          ...(includeUsage ? { usage: null } : {}),
        });
      if (format.opening) yield chunk(format.opening(resolved.n));
      let usage: Usage = { promptTokens: prompt.ids.length, completionTokens: 0 };
      for await (const step of steps) {
        usage = step.usage;
        yield chunk(step.deltas.map(format.chunkChoice));
      }
      if (signal.aborted) return;
      if (includeUsage) {
        yield JSON.stringify({ ...meta, object: format.chunkObject, choices: [], usage: usageBody(usage) });
      }
      yield "[DONE]";
    },
  });
}
