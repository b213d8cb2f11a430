/**
 * Choosing the next token from logits: the penalties and filters of Hugging Face's generate()
 * and OpenAI's API, applied in that order, then greedy or a seeded draw.
 */
export interface SamplingParams {
  /** 0 means greedy. */
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  /** Hugging Face's multiplicative penalty over prompt and generated tokens; 1 is off. */
  repetitionPenalty: number;
  /** OpenAI's additive penalties over generated tokens; 0 is off. */
  frequencyPenalty: number;
  presencePenalty: number;
  logitBias: ReadonlyMap<number, number>;
}

export const GREEDY: SamplingParams = {
  temperature: 0,
  topK: 0,
  topP: 1,
  minP: 0,
  repetitionPenalty: 1,
  frequencyPenalty: 0,
  presencePenalty: 0,
  logitBias: new Map(),
};

/** A small seedable generator (mulberry32): the same seed gives the same completion everywhere. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Picks the next token. `logits` is modified in place. `context` is the prompt plus generated ids
 * (for the repetition penalty); `generated` holds only the generated ids (OpenAI's penalties).
 */
export function nextToken(
  logits: Float32Array,
  params: SamplingParams,
  context: readonly number[],
  generated: readonly number[],
  random: () => number,
): number {
  applyPenalties(logits, params, context, generated);
  if (params.temperature <= 0) return argmax(logits);
  return sample(logits, params, random);
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) {
    if ((logits[i] ?? -Infinity) > (logits[best] ?? -Infinity)) best = i;
  }
  return best;
}

function applyPenalties(
  logits: Float32Array,
  params: SamplingParams,
  context: readonly number[],
  generated: readonly number[],
): void {
  if (params.repetitionPenalty !== 1) {
    for (const id of new Set(context)) {
      const value = logits[id] ?? 0;
      logits[id] = value > 0 ? value / params.repetitionPenalty : value * params.repetitionPenalty;
    }
  }
  if (params.frequencyPenalty !== 0 || params.presencePenalty !== 0) {
    const counts = new Map<number, number>();
    for (const id of generated) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const [id, count] of counts) {
      logits[id] = (logits[id] ?? 0) - count * params.frequencyPenalty - params.presencePenalty;
    }
  }
  for (const [id, bias] of params.logitBias) {
    if (id < logits.length) logits[id] = bias <= -100 ? -Infinity : (logits[id] ?? 0) + bias;
  }
}

function sample(logits: Float32Array, params: SamplingParams, random: () => number): number {
  const order = Array.from(logits.keys()).filter((id) => logits[id] !== -Infinity);
  order.sort((a, b) => (logits[b] ?? 0) - (logits[a] ?? 0) || a - b);
  let candidates = params.topK > 0 ? order.slice(0, params.topK) : order;

  const max = logits[candidates[0] ?? 0] ?? 0;
  let probabilities = candidates.map((id) => Math.exp(((logits[id] ?? 0) - max) / params.temperature));
  let total = probabilities.reduce((sum, p) => sum + p, 0);
  probabilities = probabilities.map((p) => p / total);

  if (params.minP > 0) {
    const threshold = params.minP * (probabilities[0] ?? 0);
    const keep = Math.max(1, probabilities.filter((p) => p >= threshold).length);
    candidates = candidates.slice(0, keep);
    probabilities = probabilities.slice(0, keep);
  }
  if (params.topP < 1) {
    let cumulative = 0;
    let keep = 0;
    while (keep < probabilities.length && cumulative < params.topP) cumulative += probabilities[keep++] ?? 0;
    candidates = candidates.slice(0, Math.max(1, keep));
    probabilities = probabilities.slice(0, Math.max(1, keep));
  }
  total = probabilities.reduce((sum, p) => sum + p, 0);
  let draw = random() * total;
  for (let i = 0; i < candidates.length; i++) {
    draw -= probabilities[i] ?? 0;
    if (draw <= 0) return candidates[i] ?? 0;
  }
  return candidates[candidates.length - 1] ?? 0;
}
