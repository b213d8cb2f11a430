import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../env.js";
import { readJson } from "../http.js";
import { onlyModelFor } from "../tasks/model-files.js";
import { MAX_BEAMS, openTranslator, translate } from "../tasks/translation.js";
import { resolveModelRef } from "./aliases.js";
import { leased } from "./lease.js";
import { languageCode, MAX_TEXTS, modelRef, translationText, usageBody } from "./schemas.js";

/** /v1/translate: texts into another language, long texts split into sentences and joined back. */
export const translateRequest = z.strictObject({
  model: modelRef.optional(),
  text: z.union([translationText, z.array(translationText).min(1).max(MAX_TEXTS)]),
  source_lang: languageCode.optional(),
  target_lang: languageCode.optional(),
  num_beams: z.number().int().min(1).max(MAX_BEAMS).optional(),
  num_return_sequences: z.number().int().min(1).max(MAX_BEAMS).optional(),
  max_tokens: z.number().int().min(1).max(1024).optional(),
});

export const translateRoute = new Hono<AppEnv>().post("/v1/translate", async (c) => {
  const registry = c.get("registry");
  const body = await readJson(c, translateRequest);
  const ref = body.model ? resolveModelRef(c, body.model) : undefined;
  const manifest = ref
    ? await registry.manifest(ref.id)
    : await onlyModelFor(registry, "translation", "a translation");
  return leased(c, openTranslator(registry, manifest, ref?.dtype), async (translator) => {
    const result = await translate(translator, {
      texts: typeof body.text === "string" ? [body.text] : body.text,
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
      usage: usageBody({ promptTokens: result.inputTokens, completionTokens: result.outputTokens }),
    });
  });
});
