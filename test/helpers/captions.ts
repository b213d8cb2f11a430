import { chrF } from "./chrf.js";

/**
 * Scoring of the captioner's held-out split (models/recipes/captioner): a caption states seven
 * attributes (count, colour and kind of the left and of the right group, and the sign's word); a
 * caption is an exact match when all seven are right. English is asked for without a prompt,
 * Chinese with the prompt "图中", which the caption continues.
 */
export const LANGUAGES = { en: "", zh: "图中" } as const;
export type Lang = keyof typeof LANGUAGES;

const PATTERNS: Record<Lang, RegExp> = {
  en: /^(one|two|three) (\w+) (\w+?)e?s? on the left, (one|two|three) (\w+) (\w+?)e?s? on the right, sign (\S+)$/,
  zh: /^左边有(一|两|三)[个本](\p{Script=Han}+色)(\p{Script=Han}+)，右边有(一|两|三)[个本](\p{Script=Han}+色)(\p{Script=Han}+)，标牌写着(\S+)$/u,
};

/** The seven attributes a caption states, or undefined when it does not follow the caption grammar. */
export function attributes(caption: string, lang: Lang): string[] | undefined {
  return PATTERNS[lang].exec(caption.trim())?.slice(1);
}

/** The caption without the prompt the API returns it with. */
export function withoutPrompt(text: string, lang: Lang): string {
  const prompt = LANGUAGES[lang];
  return text.startsWith(prompt) ? text.slice(prompt.length).trim() : text;
}

export interface CaptionScores {
  /** Captions with all seven attributes right, %. */
  exact_match: number;
  /** Attributes right over all captions, %. */
  attribute_accuracy: number;
  chrf: number;
}

export function scoreCaptions(hypotheses: string[], references: string[], lang: Lang): CaptionScores {
  let exact = 0;
  let right = 0;
  hypotheses.forEach((hypothesis, i) => {
    const expected = attributes(references[i] ?? "", lang);
    if (!expected) throw new Error(`reference ${i} does not follow the caption grammar: ${references[i]}`);
    const got = attributes(hypothesis, lang) ?? [];
    const correct = expected.filter((value, k) => got[k] === value).length;
    right += correct;
    if (correct === expected.length) exact++;
  });
  const round = (value: number) => Math.round(value * 10) / 10;
  return {
    exact_match: round((100 * exact) / hypotheses.length),
    attribute_accuracy: round((100 * right) / (7 * hypotheses.length)),
    chrf: round(chrF(hypotheses, references)),
  };
}
