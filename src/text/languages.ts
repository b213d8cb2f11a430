import type { TextTokenizer } from "./tokenizer.js";

/**
 * How a translation model is told the languages, read from its own vocabulary:
 * - Marian multi-target (opus-mt-en-mul style): a `>>xxx<<` token prefixed to the source;
 * - M2M100: `__xx__` tokens, the source one prefixed, the target one forced as first output;
 * - NLLB: `xxx_Script` tokens, used the same way as M2M100's;
 * - mBART-50: `xx_XX` tokens, used the same way too;
 * - a one-pair model (Marian opus-mt-en-de style) has none and needs no language at all.
 */
export type LanguageScheme = "marian-prefix" | "m2m100" | "nllb" | "mbart" | "single-pair";

export interface LanguageTokens {
  scheme: LanguageScheme;
  /** Language code as the model spells it -> token id. */
  tokens: Map<string, number>;
}

/**
 * Read once per tokenizer (which the isolate caches with its model): scanning the vocabulary took
 * 0.37 ms of every translation request in a profile of the worker.
 */
const read = new WeakMap<TextTokenizer, LanguageTokens>();

export function languageTokens(tokenizer: TextTokenizer): LanguageTokens {
  let languages = read.get(tokenizer);
  if (!languages) {
    languages = scanVocabulary(tokenizer);
    read.set(tokenizer, languages);
  }
  return languages;
}

function scanVocabulary(tokenizer: TextTokenizer): LanguageTokens {
  const marian = new Map<string, number>();
  const m2m = new Map<string, number>();
  const nllb = new Map<string, number>();
  const mbart = new Map<string, number>();
  for (const [token, id] of tokenizer.vocabulary()) {
    const prefixed = /^>>([A-Za-z_]{2,12})<<$/.exec(token);
    if (prefixed?.[1]) marian.set(prefixed[1], id);
    const m2m100 = /^__([a-z]{2,3})__$/.exec(token);
    if (m2m100?.[1]) m2m.set(m2m100[1], id);
    if (/^[a-z]{3}_[A-Z][a-z]{3}$/.test(token)) nllb.set(token, id);
    if (/^[a-z]{2}_[A-Z]{2}$/.test(token)) mbart.set(token, id);
  }
  if (marian.size > 0) return { scheme: "marian-prefix", tokens: marian };
  if (nllb.size > 1) return { scheme: "nllb", tokens: nllb };
  if (m2m.size > 1) return { scheme: "m2m100", tokens: m2m };
  if (mbart.size > 1) return { scheme: "mbart", tokens: mbart };
  return { scheme: "single-pair", tokens: new Map() };
}

/** ISO 639-1 codes and English names of common languages, for matching what users write. */
const ALIASES: Record<string, string[]> = {
  zh: ["zho", "cmn", "chi", "zh_hans", "zho_hans", "cmn_hans", "chinese", "zh-cn", "zh-hans", "zh_cn"],
  de: ["deu", "ger", "german", "deu_latn", "de_de"],
  fr: ["fra", "fre", "french", "fra_latn", "fr_xx"],
  en: ["eng", "english", "eng_latn", "en_xx"],
  es: ["spa", "spanish", "spa_latn"],
  it: ["ita", "italian", "ita_latn"],
  pt: ["por", "portuguese", "por_latn"],
  nl: ["nld", "dut", "dutch", "nld_latn"],
  ru: ["rus", "russian", "rus_cyrl"],
  ja: ["jpn", "japanese", "jpn_jpan"],
  ko: ["kor", "korean", "kor_hang"],
  ar: ["ara", "arabic", "arb_arab"],
};

function canonical(code: string): string {
  // A model's own token spelling (`__zh__`, `>>zho<<`) names the same language as its code.
  const lower = code
    .toLowerCase()
    .replace("-", "_")
    .replace(/^__(.+)__$|^>>(.+)<<$/, "$1$2");
  for (const [iso, names] of Object.entries(ALIASES)) {
    if (lower === iso || names.includes(lower)) return iso;
  }
  return lower;
}

/** The model's own code for a language a user named ("zh", "zho", "Chinese", ...), if it has one. */
export function matchLanguage(languages: LanguageTokens, requested: string): string | undefined {
  const wanted = canonical(requested);
  for (const code of languages.tokens.keys()) {
    if (code.toLowerCase() === requested.toLowerCase() || canonical(code) === wanted) return code;
  }
  return undefined;
}
