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
