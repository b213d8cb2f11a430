import { type Context, Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../env.js";
import { ApiError } from "../errors.js";
import { readJson } from "../http.js";
import type { Manifest } from "../runtime/manifest.js";
import { classify, embed, encodeInputs, openEncoder } from "../tasks/encoder.js";
import type { TextGenerator, Usage } from "../tasks/text-generation.js";
import { openTranslator, translate } from "../tasks/translation.js";
import { findModelFor } from "./aliases.js";
import { workersAiCaption } from "./caption.js";
import { messagesPrompt, serveGeneration, textOnlyPrompt } from "./generation.js";
import { leased } from "./lease.js";
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
export const textGenerationRequest = z
  .strictObject({
    ...samplingFields,
    prompt: z.string().min(1).optional(),
    messages: z.array(chatMessage).min(1).max(256).optional(),
    // As in Workers AI: a prompt goes through the model's chat template unless raw is set.
    raw: z.boolean().optional(),
    // A LoRA adapter of this model, by its id (as Workers AI's `lora`).
    lora: z.string().min(1).max(256).optional(),
  })
  .refine((body) => (body.prompt === undefined) !== (body.messages === undefined), {
    message: "Send either prompt or messages.",
    path: ["prompt"],
  });

export const translationRequest = z.strictObject({
  text: z.string().min(1).max(MAX_TEXT_CHARS),
  source_lang: languageCode.optional(),
  target_lang: languageCode.optional(),
});

const workersAiText = encoderText.min(1);
export const encoderRequest = z.strictObject({
  text: z.union([workersAiText, z.array(workersAiText).min(1).max(MAX_INPUTS)]),
});

type Handler = (c: Context<AppEnv>, manifest: Manifest, dtype: string | undefined) => Promise<Response>;

const handlers: Record<string, Handler> = {
  "text-generation": textGeneration,
  "image-to-text": workersAiCaption,
  translation: async (c, manifest, dtype) => {
    const body = await readJson(c, translationRequest);
    return leased(c, openTranslator(c.get("registry"), manifest, dtype), async (translator) => {
      const result = await translate(translator, {
        texts: [body.text],
        sourceLang: body.source_lang,
        targetLang: body.target_lang,
      });
      return c.json({ translated_text: result.translations[0]?.text ?? "" });
    });
  },
  "feature-extraction": async (c, manifest, dtype) => {
    const body = await readJson(c, encoderRequest);
    return leased(c, openEncoder(c.get("registry"), manifest, dtype), async (encoder) => {
      const batch = encodeInputs(encoder, body.text, true);
      const vectors = (await embed(encoder, batch.ids)).map((perInput) => Array.from(perInput[0] ?? []));
      return c.json({ shape: [vectors.length, vectors[0]?.length ?? 0], data: vectors });
    });
  },
  "text-classification": async (c, manifest, dtype) => {
    const body = await readJson(c, encoderRequest);
    return leased(c, openEncoder(c.get("registry"), manifest, dtype), async (encoder) => {
      const batch = encodeInputs(encoder, body.text, true);
      const results = await classify(encoder, batch.ids, encoder.assets.config.labels.length);
      return c.json(typeof body.text === "string" ? (results[0] ?? []) : results);
    });
  },
};

async function run(c: Context<AppEnv>): Promise<Response> {
  const { manifest, dtype } = await findModelFor(c, c.req.param("model") ?? "");
  const handler = handlers[manifest.task];
  if (!handler) {
    const id = manifest.id;
    throw new ApiError(
      400,
      `The model '${id}' is a ${manifest.task} model; use the tensor API (/v2/models/${id}/infer) for it.`,
      "wrong_task",
      "model",
    );
  }
  return handler(c, manifest, dtype);
}

/**
 * Cloudflare's REST envelope around the same answers: `{result, success, errors, messages}`, with
 * errors as `{code, message}` (the code here is the HTTP status). Streams pass through as SSE, as
 * Cloudflare's do.
 */
async function runEnveloped(c: Context<AppEnv>): Promise<Response> {
  let response: Response;
  try {
    response = await run(c);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    const errors = [{ code: error.status, message: error.message }];
    return c.json({ result: null, success: false, errors, messages: [] }, error.status);
  }
  if (!response.headers.get("content-type")?.startsWith("application/json")) return response;
  const result: unknown = await response.json();
  return c.json({ result, success: true, errors: [], messages: [] });
}

// Model names may be Workers AI ids with slashes (`@cf/meta/llama-3.1-8b-instruct`), hence `.+`.
export const workersAi = new Hono<AppEnv>()
  .post("/ai/run/:model{.+}", run)
  .post("/client/v4/accounts/:account/ai/run/:model{.+}", runEnveloped);

async function textGeneration(
  c: Context<AppEnv>,
  manifest: Manifest,
  dtype: string | undefined,
): Promise<Response> {
  const body = await readJson(c, textGenerationRequest);
  const model = body.lora === undefined ? manifest : await adapterOf(c, manifest, body.lora);
  const prompt = (generator: TextGenerator) => {
    if (body.messages) return messagesPrompt(toChatMessages(body.messages))(generator);
    const text = body.prompt ?? "";
    // Workers AI renders a prompt to a chat model through its template unless asked for raw.
    const templated = body.raw !== true && generator.assets.template !== undefined;
    return templated
      ? messagesPrompt([{ role: "user", content: text }], "prompt")(generator)
      : textOnlyPrompt(text)(generator);
  };
  const params = { ...generationParams(body), maxTokens: body.max_tokens ?? 256 };
  return serveGeneration(
    c,
    { manifest: model, dtype, prompt, params, stream: body.stream === true },
    {
      complete: (_run, completion) => ({
        response: completion.texts.join(""),
        usage: usageBody(completion.usage),
      }),
      async *stream({ prompt }, steps, signal) {
        let usage: Usage = { promptTokens: prompt.ids.length, completionTokens: 0 };
        for await (const step of steps) {
          usage = step.usage;
          const text = step.deltas.map((delta) => delta.text).join("");
          if (text) yield JSON.stringify({ response: text });
        }
        if (signal.aborted) return;
        // Workers AI ends a stream with an empty response that carries the usage.
        yield JSON.stringify({ response: "", usage: usageBody(usage) });
        yield "[DONE]";
      },
    },
  );
}

/** The adapter a Workers AI request names with `lora`: it must exist (404) and adapt this model (400). */
async function adapterOf(c: Context<AppEnv>, base: Manifest, id: string): Promise<Manifest> {
  if (base.adapter) {
    throw new ApiError(
      400,
      `'${base.id}' is an adapter already; name its base model with lora.`,
      "invalid_value",
      "lora",
    );
  }
  const adapter = await c
    .get("registry")
    .manifest(id)
    .catch((error: unknown) => {
      if (!(error instanceof ApiError) || error.param !== "model") throw error;
      throw new ApiError(error.status, error.message, error.code, "lora");
    });
  if (adapter.adapter?.base !== base.id) {
    const what = adapter.adapter ? `an adapter of '${adapter.adapter.base}'` : "not a LoRA adapter";
    throw new ApiError(400, `'${id}' is ${what}, not of '${base.id}'.`, "lora_base_mismatch", "lora");
  }
  return adapter;
}
