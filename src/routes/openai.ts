import { type Context, Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../env.js";
import { readJson } from "../http.js";
import type { Prompt, TextGenerator } from "../tasks/text-generation.js";
import { findModelFor } from "./aliases.js";
import { chatCaption } from "./caption.js";
import { messagesPrompt, serveGeneration, textOnlyPrompt } from "./generation.js";
import {
  chatFormat,
  completionFormat,
  type Format,
  formatCompletion,
  formatStream,
  metaFor,
} from "./openai-format.js";
import { chatMessage, generationParams, openAiFields, toChatMessages } from "./schemas.js";

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
  const metaOf = (generator: TextGenerator) => metaFor(format, body.model, generator.fingerprint);
  const request = { manifest, dtype, prompt, params: generationParams(body), stream: body.stream === true };
  return serveGeneration(c, request, {
    complete: ({ generator }, completion) => formatCompletion(format, metaOf(generator), completion),
    stream: ({ generator, prompt, resolved }, steps, signal) =>
      formatStream(
        format,
        metaOf(generator),
        { n: resolved.n, includeUsage, promptTokens: prompt.ids.length },
        steps,
        signal,
      ),
  });
}
