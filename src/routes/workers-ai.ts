import { type Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import type { AppEnv } from "../env.js";
import { ApiError } from "../errors.js";
import { readJson } from "../http.js";
import type { Manifest } from "../runtime/manifest.js";
import { classify, embed, openEncoder } from "../tasks/encoder.js";
import { parseModelRef } from "../tasks/model-files.js";
import {
  type CompletionTotals,
  chatPrompt,
  generateText,
  openGenerator,
  resolveGeneration,
  textPrompt,
} from "../tasks/text-generation.js";
import { openTranslator, translate } from "../tasks/translation.js";
import { MAX_INPUTS, prepareInput } from "./embeddings.js";
import { chatMessage, generationParams, samplingFields, toChatMessages } from "./schemas.js";
import { MAX_TEXT_CHARS } from "./translate.js";

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
  source_lang: z.string().min(2).max(32).optional(),
  target_lang: z.string().min(2).max(32).optional(),
});

const encoderText = z.string().min(1).max(20_000);
const encoderRequest = z.object({
  text: z.union([encoderText, z.array(encoderText).min(1).max(MAX_INPUTS)]),
});

type Handler = (c: Context<AppEnv>, manifest: Manifest, dtype: string | undefined) => Promise<Response>;

const handlers: Record<string, Handler> = {
  "text-generation": textGeneration,
  translation: async (c, manifest, dtype) => {
    const body = await readJson(c, translationRequest);
    const registry = c.get("registry");
    const lease = await openTranslator(registry, manifest, dtype);
    try {
      const result = await translate(lease.value, {
        texts: [body.text],
        sourceLang: body.source_lang,
        targetLang: body.target_lang,
      });
      return c.json({ translated_text: result.translations[0]?.text ?? "" });
    } finally {
      lease.release();
    }
  },
  "feature-extraction": async (c, manifest, dtype) => {
    const body = await readJson(c, encoderRequest);
    const lease = await openEncoder(c.get("registry"), manifest, dtype);
    try {
      const batch = prepareInput(lease.value, body.text, true);
      const vectors = (await embed(lease.value, batch.ids)).map((perInput) => Array.from(perInput[0] ?? []));
      return c.json({ shape: [vectors.length, vectors[0]?.length ?? 0], data: vectors });
    } finally {
      lease.release();
    }
  },
  "text-classification": async (c, manifest, dtype) => {
    const body = await readJson(c, encoderRequest);
    const lease = await openEncoder(c.get("registry"), manifest, dtype);
    try {
      const batch = prepareInput(lease.value, body.text, true);
      const results = await classify(lease.value, batch.ids, lease.value.labels.length);
      return c.json(typeof body.text === "string" ? (results[0] ?? []) : results);
    } finally {
      lease.release();
    }
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
  const registry = c.get("registry");
  const body = await readJson(c, textGenerationRequest);
  const lease = await openGenerator(registry, manifest, dtype);
  let streaming = false;
  try {
    const promptIds = body.messages
      ? chatPrompt(lease.value, toChatMessages(body.messages))
      : textPrompt(lease.value, body.prompt ?? "");
    const resolved = resolveGeneration(lease.value, promptIds.length, {
      ...generationParams(body),
      maxTokens: body.max_tokens ?? 256,
    });
    const totals: CompletionTotals = { promptTokens: 0, completionTokens: 0 };
    if (body.stream) {
      streaming = true;
      return streamSSE(c, async (stream) => {
        const abort = new AbortController();
        stream.onAbort(() => abort.abort());
        try {
          for await (const deltas of generateText(lease.value, promptIds, resolved, totals, abort.signal)) {
            const text = deltas.map((delta) => delta.text).join("");
            if (text) await stream.writeSSE({ data: JSON.stringify({ response: text }) });
          }
          if (!abort.signal.aborted) await stream.writeSSE({ data: "[DONE]" });
        } finally {
          lease.release();
        }
      });
    }
    let response = "";
    for await (const deltas of generateText(lease.value, promptIds, resolved, totals)) {
      response += deltas.map((delta) => delta.text).join("");
    }
    return c.json({
      response,
      usage: {
        prompt_tokens: totals.promptTokens,
        completion_tokens: totals.completionTokens,
        total_tokens: totals.promptTokens + totals.completionTokens,
      },
    });
  } finally {
    if (!streaming) lease.release();
  }
}
