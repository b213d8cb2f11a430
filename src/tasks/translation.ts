import { ApiError, invalidParam } from "../errors.js";
import type { Lease } from "../runtime/isolate-cache.js";
import { findFile, type Manifest, type ManifestFile } from "../runtime/manifest.js";
import type { ModelRegistry } from "../runtime/registry.js";
import type { ModelSession } from "../runtime/session.js";
import { type LanguageTokens, languageTokens, matchLanguage } from "../text/languages.js";
import { pickOnnx, type TextAssets, textAssets } from "./model-files.js";
import { countLayers, generateSeq2Seq, type Seq2SeqModel, type Seq2SeqOptions } from "./seq2seq.js";

export interface Translator {
  manifest: Manifest;
  model: Seq2SeqModel;
  assets: TextAssets;
  languages: LanguageTokens;
  maxInputTokens: number;
}

const num = (value: unknown) => (typeof value === "number" ? value : undefined);

/** Opens a translation model: encoder, decoder(s), tokenizer, languages. */
export async function openTranslator(
  registry: ModelRegistry,
  manifest: Manifest,
  dtype?: string,
): Promise<Lease<Translator>> {
  if (manifest.task !== "translation") {
    throw new ApiError(
      400,
      `The model '${manifest.id}' is a ${manifest.task} model, not a translation model.`,
      "wrong_task",
      "model",
    );
  }
  const encoderFile = pickOnnx(manifest, ["encoder_model"], dtype);
  const merged = findFile(manifest, "onnx/decoder_model_merged.onnx")
    ? pickOnnx(manifest, ["decoder_model_merged"], dtype)
    : undefined;
  const decoderFiles: ManifestFile[] = merged
    ? [merged]
    : [pickOnnx(manifest, ["decoder_model"], dtype), pickOnnx(manifest, ["decoder_with_past_model"], dtype)];
  const files = [encoderFile, ...decoderFiles];
  registry.cache.assertCanFit(
    `The model '${manifest.id}'`,
    files.reduce((sum, file) => sum + (file.onnx?.memory_bytes ?? 0), 0),
  );

  const leases: Lease<unknown>[] = [];
  const release = () => {
    for (const lease of leases) lease.release();
  };
  try {
    const assets = await textAssets(registry, manifest);
    leases.push(assets);
    const sessions: ModelSession[] = [];
    for (const file of files) {
      const lease = await registry.session(manifest, file);
      leases.push(lease);
      sessions.push(lease.value);
    }
    const [encoder, decoder, decoderWithPast] = sessions;
    if (!encoder || !decoder) throw new ApiError(502, "The translation model is incomplete.", "bad_model");
    const config = assets.value.config;
    const heads = num(config.decoder_attention_heads) ?? num(config.num_attention_heads) ?? 1;
    const dModel = num(config.d_model) ?? num(config.hidden_size) ?? 1;
    const runtime = await registry.runtime();
    const tokenizerMax = num(assets.value.tokenizer.config.model_max_length);
    return {
      value: {
        manifest,
        assets: assets.value,
        languages: languageTokens(assets.value.tokenizer),
        maxInputTokens: Math.min(
          num(config.max_position_embeddings) ?? 512,
          tokenizerMax ?? Number.POSITIVE_INFINITY,
        ),
        model: {
          ort: runtime.ort,
          encoder,
          decoder,
          decoderWithPast,
          layers: countLayers(decoder, decoderWithPast),
          heads,
          headDim: dModel / heads,
        },
      },
      hit: leases.every((lease) => lease.hit),
      release,
    };
  } catch (error) {
    release();
    throw error;
  }
}

export interface TranslateRequest {
  texts: string[];
  sourceLang?: string;
  targetLang?: string;
  numBeams?: number;
  numReturnSequences?: number;
  maxTokens?: number;
}

export interface Translation {
  text: string;
  targetLang?: string;
  alternatives?: { text: string; score: number }[];
}

export interface TranslateResult {
  translations: Translation[];
  inputTokens: number;
  outputTokens: number;
}

export const MAX_BEAMS = 8;

/**
 * Splits text into sentences, keeping what separates them, so long text is translated as a
 * batch of sentences and joined back with its own spacing and line breaks.
 */
export function splitSentences(text: string): { sentences: string[]; separators: string[] } {
  const parts = text.split(/((?<=[.!?])\s+|(?<=[。！？])\s*|\n+\s*)/);
  const sentences: string[] = [];
  const separators: string[] = [];
  let leading = "";
  for (let i = 0; i < parts.length; i += 2) {
    const sentence = parts[i] ?? "";
    const separator = parts[i + 1] ?? "";
    if (sentence.trim() === "") {
      leading += sentence + separator;
      continue;
    }
    if (sentences.length === 0) separators.push(leading);
    else separators[separators.length - 1] += leading;
    leading = "";
    sentences.push(sentence);
    separators.push(separator);
  }
  if (sentences.length === 0) return { sentences: [], separators: [text] };
  separators[separators.length - 1] += leading;
  return { sentences, separators };
}

export async function translate(translator: Translator, request: TranslateRequest): Promise<TranslateResult> {
  const { tokenizer, generationConfig: defaults } = translator.assets;
  const { prefix, forcedBosId, targetLang } = languageSetup(translator, request);

  const split = request.texts.map(splitSentences);
  const sentences = split.flatMap((s) => s.sentences);
  const inputs = sentences.map((sentence, index) => {
    const ids = [...prefix, ...tokenizer.encode(sentence, true)];
    if (ids.length > translator.maxInputTokens) {
      throw invalidParam(
        "text",
        `Sentence ${index + 1} has ${ids.length} tokens after splitting; the model accepts at most ${translator.maxInputTokens}.`,
        "input_too_long",
      );
    }
    return ids;
  });

  const numBeams = request.numBeams ?? num(defaults.num_beams) ?? 1;
  if (numBeams > MAX_BEAMS) throw invalidParam("num_beams", `num_beams is at most ${MAX_BEAMS}.`);
  const numReturn = request.numReturnSequences ?? 1;
  if (numReturn > numBeams) {
    throw invalidParam(
      "num_return_sequences",
      `num_return_sequences (${numReturn}) cannot exceed num_beams (${numBeams}).`,
    );
  }
  const maxLength = num(defaults.max_length) ?? 256;
  const options = seq2seqOptions(translator, {
    numBeams,
    numReturnSequences: numReturn,
    maxNewTokens: request.maxTokens ?? maxLength - 1,
    forcedBosId,
  });

  const hypotheses = sentences.length === 0 ? [] : await generateSeq2Seq(translator.model, inputs, options);
  let cursor = 0;
  let outputTokens = 0;
  const translations = split.map(({ sentences: own, separators }) => {
    const parts = own.map(() => hypotheses[cursor++] ?? []);
    const decode = (tokens: number[]) => tokenizer.decode(tokens, true).trim();
    for (const part of parts) outputTokens += part[0]?.tokens.length ?? 0;
    const joined = (pick: (h: (typeof parts)[number]) => number[]) =>
      separators[0] + parts.map((part, i) => decode(pick(part)) + (separators[i + 1] ?? "")).join("");
    const translation: Translation = { text: joined((part) => part[0]?.tokens ?? []), targetLang };
    if (numReturn > 1 && parts.length === 1) {
      translation.alternatives = (parts[0] ?? []).map((h) => ({ text: decode(h.tokens), score: h.score }));
    }
    return translation;
  });
  return { translations, inputTokens: inputs.reduce((sum, ids) => sum + ids.length, 0), outputTokens };
}

function languageSetup(translator: Translator, request: TranslateRequest) {
  const { languages } = translator;
  if (languages.scheme === "single-pair")
    return { prefix: [] as number[], forcedBosId: undefined, targetLang: request.targetLang };
  const supported = [...languages.tokens.keys()].join(", ");
  if (!request.targetLang) {
    throw invalidParam(
      "target_lang",
      `The model '${translator.manifest.id}' translates into several languages; choose target_lang from: ${supported}.`,
      "missing_target_lang",
    );
  }
  const target = matchLanguage(languages, request.targetLang);
  if (!target) {
    throw invalidParam(
      "target_lang",
      `The model '${translator.manifest.id}' does not translate into '${request.targetLang}'. Supported: ${supported}.`,
      "unsupported_language",
    );
  }
  const targetId = languages.tokens.get(target) ?? 0;
  // Marian multi-target models read one source language, so source_lang changes nothing there.
  if (languages.scheme === "marian-prefix") {
    return { prefix: [targetId], forcedBosId: undefined, targetLang: target };
  }
  let prefix: number[] = [];
  if (request.sourceLang) {
    const source = matchLanguage(languages, request.sourceLang);
    if (!source) {
      throw invalidParam(
        "source_lang",
        `The model '${translator.manifest.id}' does not read '${request.sourceLang}'. Supported: ${supported}.`,
        "unsupported_language",
      );
    }
    prefix = [languages.tokens.get(source) ?? 0];
  }
  return { prefix, forcedBosId: targetId, targetLang: target };
}

export function seq2seqOptions(
  translator: Translator,
  chosen: { numBeams: number; numReturnSequences: number; maxNewTokens: number; forcedBosId?: number },
): Seq2SeqOptions {
  const { generationConfig: defaults, config } = translator.assets;
  const eos = defaults.eos_token_id ?? config.eos_token_id;
  const padId = num(defaults.pad_token_id) ?? num(config.pad_token_id) ?? 0;
  const badWords = Array.isArray(defaults.bad_words_ids) ? (defaults.bad_words_ids as number[][]) : [];
  return {
    ...chosen,
    lengthPenalty: num(defaults.length_penalty) ?? 1,
    earlyStopping: defaults.early_stopping === true,
    noRepeatNgramSize: num(defaults.no_repeat_ngram_size) ?? 0,
    decoderStartId: num(defaults.decoder_start_token_id) ?? num(config.decoder_start_token_id) ?? padId,
    eosIds: new Set([eos].flat().filter((id): id is number => typeof id === "number")),
    padId,
    forcedBosId: chosen.forcedBosId ?? num(defaults.forced_bos_token_id),
    forcedEosId: num(defaults.forced_eos_token_id),
    badWordsIds: badWords,
  };
}
