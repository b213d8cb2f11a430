import { ApiError, invalidParam } from "../errors.js";
import { findFile } from "../runtime/manifest.js";
import { type LanguageTokens, languageTokens, matchLanguage } from "../text/languages.js";
import { splitSentences } from "../text/sentences.js";
import type { Hypothesis } from "./beam-search.js";
import { idList } from "./model-config.js";
import { pickOnnx } from "./model-files.js";
import { type Opener, openForTask, textAssets } from "./open-model.js";
import { chunkRows, runBytes, runCost } from "./run-memory.js";
import { generateSeq2Seq, type OpenedSeq2Seq, type Seq2SeqOptions, seq2seqModel } from "./seq2seq.js";
import { Seq2SeqBatcher, type Seq2SeqJob, seq2seqBatcherFor } from "./seq2seq-batch.js";

export interface Translator extends OpenedSeq2Seq {
  languages: LanguageTokens;
  maxInputTokens: number;
  runAllowance: number;
  /** Concurrent requests share the encoder run and decoder steps (off: they take turns). */
  batching: boolean;
  keepAlive: (work: Promise<unknown>) => void;
}

/** Opens a translation model: encoder, decoder(s), tokenizer, languages. */
export const openTranslator: Opener<Translator> = (registry, manifest, dtype) =>
  openForTask<Translator>(manifest, ["translation"], "a translation", async (group) => {
    const encoderFile = pickOnnx(manifest, ["encoder_model"], dtype);
    const decoderFiles = findFile(manifest, "onnx/decoder_model_merged.onnx")
      ? [pickOnnx(manifest, ["decoder_model_merged"], dtype)]
      : [
          pickOnnx(manifest, ["decoder_model"], dtype),
          pickOnnx(manifest, ["decoder_with_past_model"], dtype),
        ];
    const files = [encoderFile, ...decoderFiles];
    registry.cache.assertCanFit(
      `The model '${manifest.id}'`,
      files.reduce((sum, file) => sum + (file.onnx?.memory_bytes ?? 0), 0),
    );
    const assets = await group.take(textAssets(registry, manifest));
    // One at a time: each load holds its file's bytes in JS until ORT has copied them.
    const sessions = [];
    for (const file of files) sessions.push(await group.take(registry.session(manifest, file)));
    const [encoder, decoder, decoderWithPast] = sessions;
    if (!encoder || !decoder) throw new ApiError(502, "The translation model is incomplete.", "bad_model");
    const tokenizerMax = assets.tokenizer.config.model_max_length;
    return {
      manifest,
      assets,
      languages: languageTokens(assets.tokenizer),
      maxInputTokens: Math.min(
        assets.config.contextLength ?? 512,
        typeof tokenizerMax === "number" ? tokenizerMax : Number.POSITIVE_INFINITY,
      ),
      model: seq2seqModel({ encoder, decoder, decoderWithPast }, assets.config),
      runAllowance: registry.runAllowanceBytes,
      batching: registry.batching,
      keepAlive: (work) => registry.keepAlive(work),
    };
  });

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

export async function translate(translator: Translator, request: TranslateRequest): Promise<TranslateResult> {
  const { tokenizer, generation: defaults } = translator.assets;
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

  const numBeams = request.numBeams ?? defaults.num_beams ?? 1;
  if (numBeams > MAX_BEAMS) throw invalidParam("num_beams", `num_beams is at most ${MAX_BEAMS}.`);
  const numReturn = request.numReturnSequences ?? 1;
  if (numReturn > numBeams) {
    throw invalidParam(
      "num_return_sequences",
      `num_return_sequences (${numReturn}) cannot exceed num_beams (${numBeams}).`,
    );
  }
  const maxLength = defaults.max_length ?? 256;
  const options = seq2seqOptions(translator, {
    numBeams,
    numReturnSequences: numReturn,
    maxNewTokens: request.maxTokens ?? maxLength - 1,
    forcedBosId,
  });

  const hypotheses: Hypothesis[][] = [];
  for (const chunk of sentenceChunks(translator, inputs, options)) {
    if (!translator.batching) {
      hypotheses.push(...(await generateSeq2Seq(translator.model, chunk, options)));
      continue;
    }
    const job: Seq2SeqJob = { inputs: chunk, options, results: [] };
    await translationBatcher(translator).submit(job, translator.keepAlive);
    hypotheses.push(...job.results);
  }
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

/**
 * Sentences are translated in batches small enough that no run (the encoder's, or a decoder step
 * over every beam with its cache) exceeds the isolate's per-run memory allowance, and that a step
 * stays short, so other requests wait at most one step of a long translation.
 */
export const MAX_ROWS_PER_STEP = 64;

function sentenceChunks(translator: Translator, inputs: number[][], options: Seq2SeqOptions): number[][][] {
  const beams = Math.max(1, options.numBeams);
  const bytes = (rows: number, longest: number) =>
    stepBytes(translator, rows, rows * beams, longest, options.maxNewTokens);
  const maxRows = Math.max(1, Math.floor(MAX_ROWS_PER_STEP / beams));
  return chunkRows(inputs, (ids) => ids.length, bytes, translator.runAllowance, maxRows);
}

/** The larger of the encoder's run and a decoder step's, for `inputs` sentences and `rows` beams in all. */
function stepBytes(translator: Translator, inputs: number, rows: number, longest: number, newTokens: number) {
  const { config } = translator.assets;
  const encoder = runCost(config, { logits: false, cache: false });
  const decoder = runCost(config, { logits: true, cache: true });
  return Math.max(runBytes(encoder, inputs, longest), runBytes(decoder, rows, 1, longest + newTokens));
}

/** Concurrent requests' sentence chunks share a batch while its steps stay within the same bounds. */
function translationBatcher(translator: Translator): Seq2SeqBatcher {
  return seq2seqBatcherFor(
    translator.model,
    () =>
      new Seq2SeqBatcher(translator.model, (jobs) => {
        const inputs = jobs.flatMap((job) => job.inputs);
        const rows = jobs.reduce(
          (sum, job) => sum + job.inputs.length * Math.max(1, job.options.numBeams),
          0,
        );
        const longest = Math.max(...inputs.map((ids) => ids.length));
        const newTokens = Math.max(...jobs.map((job) => job.options.maxNewTokens));
        return (
          rows <= MAX_ROWS_PER_STEP &&
          stepBytes(translator, inputs.length, rows, longest, newTokens) <= translator.runAllowance
        );
      }),
  );
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
  translator: Pick<Translator, "assets">,
  chosen: { numBeams: number; numReturnSequences: number; maxNewTokens: number; forcedBosId?: number },
): Seq2SeqOptions {
  const { generation: defaults, config } = translator.assets;
  const eos = defaults.eos_token_id !== undefined ? idList(defaults.eos_token_id) : config.eosIds;
  const padId = defaults.pad_token_id ?? config.padId ?? 0;
  return {
    ...chosen,
    lengthPenalty: defaults.length_penalty ?? 1,
    earlyStopping: defaults.early_stopping === true,
    noRepeatNgramSize: defaults.no_repeat_ngram_size ?? 0,
    decoderStartId: defaults.decoder_start_token_id ?? config.decoderStartId ?? padId,
    eosIds: new Set(eos),
    padId,
    forcedBosId: chosen.forcedBosId ?? defaults.forced_bos_token_id,
    forcedEosId: defaults.forced_eos_token_id,
    badWordsIds: defaults.bad_words_ids ?? [],
  };
}
