import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../env.js";
import { ApiError } from "../errors.js";
import { readJson } from "../http.js";
import type { Manifest } from "../runtime/manifest.js";
import type { ModelRegistry } from "../runtime/registry.js";
import { parseModelRef } from "../tasks/model-files.js";
import { MAX_BEAMS, openTranslator, translate } from "../tasks/translation.js";

export const MAX_TEXTS = 64;
export const MAX_TEXT_CHARS = 4000;

const text = z
  .string()
  .max(MAX_TEXT_CHARS)
  .refine((value) => value.trim() !== "", "text must not be empty");

const translateRequest = z.object({
  model: z.string().min(1).max(200).optional(),
  text: z.union([text, z.array(text).min(1).max(MAX_TEXTS)]),
  source_lang: z.string().min(2).max(32).optional(),
  target_lang: z.string().min(2).max(32).optional(),
  num_beams: z.number().int().min(1).max(MAX_BEAMS).optional(),
  num_return_sequences: z.number().int().min(1).max(MAX_BEAMS).optional(),
  max_tokens: z.number().int().min(1).max(1024).optional(),
});

/** The one translation model in the store, when a request names none. */
export async function defaultTranslationModel(registry: ModelRegistry): Promise<Manifest> {
  const translators = (await registry.list()).filter((m) => m.task === "translation");
  const only = translators.length === 1 ? translators[0] : undefined;
  if (!only) {
    throw new ApiError(
      400,
      `Name a translation model: the store has ${translators.length === 0 ? "none" : translators.map((m) => m.id).join(", ")}.`,
      "model_required",
      "model",
    );
  }
  return only;
}

export const translateRoute = new Hono<AppEnv>().post("/v1/translate", async (c) => {
  const registry = c.get("registry");
  const body = await readJson(c, translateRequest);
  const ref = body.model ? parseModelRef(body.model) : undefined;
  const manifest = ref ? await registry.manifest(ref.id) : await defaultTranslationModel(registry);
  const lease = await openTranslator(registry, manifest, ref?.dtype);
  try {
    const texts = typeof body.text === "string" ? [body.text] : body.text;
    const result = await translate(lease.value, {
      texts,
      sourceLang: body.source_lang,
      targetLang: body.target_lang,
      numBeams: body.num_beams,
      numReturnSequences: body.num_return_sequences,
      maxTokens: body.max_tokens,
    });
    return c.json({
      model: body.model ?? manifest.id,
      translations: result.translations.map((t) => ({
        text: t.text,
        ...(t.targetLang ? { target_lang: t.targetLang } : {}),
        ...(t.alternatives ? { alternatives: t.alternatives } : {}),
      })),
      usage: {
        prompt_tokens: result.inputTokens,
        completion_tokens: result.outputTokens,
        total_tokens: result.inputTokens + result.outputTokens,
      },
    });
  } finally {
    lease.release();
  }
});
