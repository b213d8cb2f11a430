import type { Tensor } from "onnxruntime-web/wasm";
import type { Feeds } from "../runtime/session.js";
import { BeamHypotheses, type BeamOptions, beamStep, type Hypothesis, logSoftmax } from "./beam-search.js";
import { type CausalLM, decoderFeeds, presentCache } from "./causal-lm.js";
import { lastLogits, reorderRows, repeatRows } from "./tensors.js";

export interface CausalBeamOptions extends BeamOptions {
  promptIds: readonly number[];
  maxNewTokens: number;
}

/**
 * Beam search over a decoder-only model with a cache, with Hugging Face's semantics (see
 * beam-search.ts): the prompt runs once, its cache is copied to every beam, and each step reorders
 * the cache so that every beam continues from its parent's. Returns the hypotheses, best first.
 */
export async function causalBeamSearch(lm: CausalLM, options: CausalBeamOptions): Promise<Hypothesis[]> {
  const { ort } = lm.session;
  const beams = options.numBeams;
  const prompt = options.promptIds;
  let outputs = await lm.session.run(decoderFeeds(lm, [prompt], [0], 0, undefined));
  let cache: Feeds = mapCache(presentCache(lm, outputs), (tensor) => repeatRows(ort, tensor, beams));
  let logits = lastLogits(outputs.logits as Tensor);
  let sequences: number[][] = Array.from({ length: beams }, () => []);
  let scores: number[] = Array.from({ length: beams }, (_, beam) => (beam === 0 ? 0 : -1e9));
  const hypotheses = new BeamHypotheses(options);

  for (let step = 0; step < options.maxNewTokens; step++) {
    const rows = Array.from({ length: beams }, (_, beam) =>
      logSoftmax(logits[step === 0 ? 0 : beam] ?? new Float32Array()),
    );
    const { next } = beamStep(hypotheses, rows, scores, sequences, options);
    if (hypotheses.done || next.length < beams) break;
    sequences = next.map((candidate) => [...(sequences[candidate.source] ?? []), candidate.token]);
    scores = next.map((candidate) => candidate.score);
    cache = mapCache(cache, (tensor) =>
      reorderRows(
        ort,
        tensor,
        next.map((candidate) => candidate.source),
      ),
    );
    if (step === options.maxNewTokens - 1) break;
    await lm.session.yieldTurn();
    const length = prompt.length + step;
    const tokens = sequences.map((sequence) => [sequence[sequence.length - 1] ?? 0]);
    outputs = await lm.session.run(
      decoderFeeds(
        lm,
        tokens,
        tokens.map(() => length),
        length,
        cache,
      ),
    );
    cache = presentCache(lm, outputs);
    logits = lastLogits(outputs.logits as Tensor);
  }
  if (!hypotheses.done) {
    sequences.forEach((sequence, beam) => {
      hypotheses.add([...sequence], scores[beam] ?? -Infinity, Math.max(1, sequence.length));
    });
  }
  return hypotheses.kept;
}

function mapCache(cache: Feeds, change: (tensor: Tensor) => Tensor): Feeds {
  return Object.fromEntries(Object.entries(cache).map(([name, tensor]) => [name, change(tensor)]));
}
