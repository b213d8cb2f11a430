import { type Context, Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../env.js";
import { ApiError } from "../errors.js";
import { readJson } from "../http.js";
import { withLease } from "../runtime/isolate-cache.js";
import type { Manifest } from "../runtime/manifest.js";
import { classify, embed, encodeInputs, openEncoder } from "../tasks/encoder.js";
import { parseModelRef } from "../tasks/model-files.js";
import { chatPrompt, type Prompt, type TextGenerator, textPrompt } from "../tasks/text-generation.js";
import { openTranslator, translate } from "../tasks/translation.js";
import { workersAiCaption } from "./caption.js";
import { serveGeneration } from "./generation.js";
import {
  chatMessage,
  encoderText,
  generationParams,
  languageCode,
  MAX_INPUTS,
  MAX_TEXT_CHARS,
  samplingFields,
  toChatMessages,
  usageBody,
} from "./schemas.js";

/**
 * Workers AI's `POST /ai/run/{model}` shapes, so code written for `env.AI.run()` moves over by
 * changing a URL. The model's task decides which shape applies.
 */
const textGenerationRequest = z
  .object({
    ...samplingFields,
    prompt: z.string().min(1).optional(),
    messages: z.array(chatMessage).min(1).max(256).optional(),
  })
  .refine((body) => (body.prompt === undefined) !== (body.messages === undefined), {
    message: "Send either prompt or messages.",
    path: ["prompt"],
  });

const translationRequest = z.object({
  text: z.string().min(1).max(MAX_TEXT_CHARS),
  source_lang: languageCode.optional(),
  target_lang: languageCode.optional(),
});

const workersAiText = encoderText.min(1);
const encoderRequest = z.object({
  text: z.union([workersAiText, z.array(workersAiText).min(1).max(MAX_INPUTS)]),
});

type Handler = (c: Context<AppEnv>, manifest: Manifest, dtype: string | undefined) => Promise<Response>;

const handlers: Record<string, Handler> = {
  "text-generation": textGeneration,
  "image-to-text": workersAiCaption,
  translation: async (c, manifest, dtype) => {
    const body = await readJson(c, translationRequest);
    return withLease(
      openTranslator(c.get("registry"), manifest, dtype),
      async (translator) => {
        const result = await translate(translator, {
          texts: [body.text],
          sourceLang: body.source_lang,
          targetLang: body.target_lang,
        });
        return c.json({ translated_text: result.translations[0]?.text ?? "" });
      },
      c.req.raw.signal,
    );
  },
  "feature-extraction": async (c, manifest, dtype) => {
    const body = await readJson(c, encoderRequest);
    return withLease(
      openEncoder(c.get("registry"), manifest, dtype),
      async (encoder) => {
        const batch = encodeInputs(encoder, body.text, true);
        const vectors = (await embed(encoder, batch.ids)).map((perInput) => Array.from(perInput[0] ?? []));
        return c.json({ shape: [vectors.length, vectors[0]?.length ?? 0], data: vectors });
      },
      c.req.raw.signal,
    );
  },
  "text-classification": async (c, manifest, dtype) => {
    const body = await readJson(c, encoderRequest);
    return withLease(
      openEncoder(c.get("registry"), manifest, dtype),
      async (encoder) => {
        const batch = encodeInputs(encoder, body.text, true);
        const results = await classify(encoder, batch.ids, encoder.assets.config.labels.length);
        return c.json(typeof body.text === "string" ? (results[0] ?? []) : results);
      },
      c.req.raw.signal,
    );
  },
};

export const workersAi = new Hono<AppEnv>().post("/ai/run/:model", async (c) => {
  const registry = c.get("registry");
  const { id, dtype } = parseModelRef(c.req.param("model"));
  const manifest = await registry.manifest(id);
  const handler = handlers[manifest.task];
  if (!handler) {
    throw new ApiError(
      400,
      `The model '${id}' is a ${manifest.task} model; use the tensor API (/v2/models/${id}/infer) for it.`,
      "wrong_task",
      "model",
    );
  }
  return handler(c, manifest, dtype);
});

async function textGeneration(
  c: Context<AppEnv>,
  manifest: Manifest,
  dtype: string | undefined,
): Promise<Response> {
  const body = await readJson(c, textGenerationRequest);
  const prompt = (generator: TextGenerator): Prompt =>
    body.messages
      ? { ids: chatPrompt(generator, toChatMessages(body.messages)), param: "messages" }
      : { ids: textPrompt(generator, body.prompt ?? ""), param: "prompt" };
  const params = { ...generationParams(body), maxTokens: body.max_tokens ?? 256 };
  return serveGeneration(
    c,
    { manifest, dtype, prompt, params, stream: body.stream === true },
    {
      complete: (_run, completion) => ({
        response: completion.texts.join(""),
        usage: usageBody(completion.usage),
      }),
      async *stream(_run, steps, signal) {
        for await (const step of steps) {
          const text = step.deltas.map((delta) => delta.text).join("");
          if (text) yield JSON.stringify({ response: text });
        }
        if (!signal.aborted) yield "[DONE]";
      },
    },
  );
}
