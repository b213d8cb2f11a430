/**
 * Beam search bookkeeping with Hugging Face's semantics (BeamSearchScorer / BeamHypotheses):
 * candidates are the 2*num_beams best (beam score + log-probability) over all beams of an input;
 * an EOS candidate ranked within the first num_beams closes a hypothesis scored
 * `sum_logprobs / generated_length ** length_penalty` (the length counts the EOS); the others
 * continue as beams. Model calls live elsewhere: this is pure arithmetic on log-probabilities.
 */
export interface BeamOptions {
  numBeams: number;
  lengthPenalty: number;
  /** true: stop once num_beams hypotheses exist; false: stop when no beam can beat the worst kept. */
  earlyStopping: boolean;
  eosIds: ReadonlySet<number>;
}

export interface Hypothesis {
  tokens: number[];
  score: number;
}

export class BeamHypotheses {
  readonly kept: Hypothesis[] = [];
  done = false;

  constructor(private readonly options: BeamOptions) {}

  add(tokens: number[], sumLogprobs: number, generatedLength: number): void {
    const score = sumLogprobs / generatedLength ** this.options.lengthPenalty;
    if (this.kept.length < this.options.numBeams || score > this.worst()) {
      this.kept.push({ tokens, score });
      this.kept.sort((a, b) => b.score - a.score);
      if (this.kept.length > this.options.numBeams) this.kept.pop();
    }
  }

  /** Whether any live beam could still beat the worst kept hypothesis. */
  isDone(bestSumLogprobs: number, generatedLength: number): boolean {
    if (this.kept.length < this.options.numBeams) return false;
    if (this.options.earlyStopping) return true;
    return this.worst() >= bestSumLogprobs / generatedLength ** this.options.lengthPenalty;
  }

  private worst(): number {
    return this.kept[this.kept.length - 1]?.score ?? -Infinity;
  }
}

export interface BeamStepResult {
  /** For every new beam row: which old row it extends, the token, and its running score. */
  next: { source: number; token: number; score: number }[];
}

/**
 * One step for one input's beams. `logprobs[b]` are the processed log-probabilities of beam b,
 * `scores[b]` its running score, `sequences[b]` its tokens so far (without the start token).
 */
export function beamStep(
  hypotheses: BeamHypotheses,
  logprobs: Float32Array[],
  scores: number[],
  sequences: number[][],
  options: BeamOptions,
): BeamStepResult {
  const candidates: { source: number; token: number; score: number }[] = [];
  const want = 2 * options.numBeams;
  logprobs.forEach((row, source) => {
    const base = scores[source] ?? 0;
    for (let token = 0; token < row.length; token++) {
      const score = base + (row[token] ?? -Infinity);
      if (score === -Infinity) continue;
      if (candidates.length < want) {
        candidates.push({ source, token, score });
        if (candidates.length === want) candidates.sort(byScore);
      } else if (score > (candidates[want - 1]?.score ?? -Infinity)) {
        candidates[want - 1] = { source, token, score };
        candidates.sort(byScore);
      }
    }
  });
  candidates.sort(byScore);

  const next: BeamStepResult["next"] = [];
  const generatedLength = (sequences[0]?.length ?? 0) + 1;
  for (const [rank, candidate] of candidates.entries()) {
    if (options.eosIds.has(candidate.token)) {
      if (rank >= options.numBeams) continue;
      hypotheses.add(
        [...(sequences[candidate.source] ?? []), candidate.token],
        candidate.score,
        generatedLength,
      );
    } else {
      next.push(candidate);
    }
    if (next.length === options.numBeams) break;
  }
  const best = candidates[0]?.score ?? -Infinity;
  if (hypotheses.isDone(best, generatedLength)) hypotheses.done = true;
  return { next };
}

function byScore(
  a: { score: number; source: number; token: number },
  b: { score: number; source: number; token: number },
) {
  return b.score - a.score || a.source - b.source || a.token - b.token;
}

export function logSoftmax(logits: Float32Array): Float32Array {
  let max = -Infinity;
  for (const value of logits) if (value > max) max = value;
  let sum = 0;
  for (const value of logits) sum += Math.exp(value - max);
  const log = max + Math.log(sum);
  return logits.map((value) => value - log);
}
