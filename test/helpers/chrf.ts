/**
 * chrF (Popović 2015) as the translator's model card reports it: character n-grams of 1..6 with
 * whitespace removed, counts summed over the corpus, precision and recall averaged over n, beta 2.
 */
function grams(text: string, n: number): Map<string, number> {
  const chars = [...text.replace(/\s+/g, "")];
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= chars.length; i++) {
    const gram = chars.slice(i, i + n).join("");
    counts.set(gram, (counts.get(gram) ?? 0) + 1);
  }
  return counts;
}

export function chrF(hypotheses: string[], references: string[], order = 6, beta = 2): number {
  let precision = 0;
  let recall = 0;
  for (let n = 1; n <= order; n++) {
    let hyp = 0;
    let ref = 0;
    let match = 0;
    hypotheses.forEach((hypothesis, index) => {
      const h = grams(hypothesis, n);
      const r = grams(references[index] ?? "", n);
      for (const [gram, count] of h) {
        hyp += count;
        match += Math.min(count, r.get(gram) ?? 0);
      }
      for (const count of r.values()) ref += count;
    });
    precision += hyp > 0 ? match / hyp : 0;
    recall += ref > 0 ? match / ref : 0;
  }
  precision /= order;
  recall /= order;
  const b2 = beta * beta;
  return precision + recall > 0 ? (100 * (1 + b2) * precision * recall) / (b2 * precision + recall) : 0;
}
