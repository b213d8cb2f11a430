import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BeamHypotheses, type BeamOptions, beamStep, logSoftmax } from "../../src/tasks/beam-search.js";

const EOS = 0;
const logs = (...probabilities: number[]) => Float32Array.from(probabilities, Math.log);
const options = (earlyStopping: boolean, lengthPenalty = 1): BeamOptions => ({
  numBeams: 2,
  lengthPenalty,
  earlyStopping,
  eosIds: new Set([EOS]),
});

describe("beam search (Hugging Face's BeamSearchScorer semantics)", () => {
  test("an EOS among the best num_beams candidates closes a hypothesis; the next best continue", () => {
    const hypotheses = new BeamHypotheses(options(false));
    const { next } = beamStep(
      hypotheses,
      [logs(0.5, 0.3, 0.2), logs(0.1, 0.1, 0.8)],
      [0, -1e9],
      [[], []],
      options(false),
    );
    assert.deepEqual(
      next.map(({ source, token }) => [source, token]),
      [
        [0, 1],
        [0, 2],
      ],
    );
    assert.ok(Math.abs((next[0]?.score ?? 0) - Math.log(0.3)) < 1e-6);
    assert.equal(hypotheses.kept.length, 1);
    assert.deepEqual(hypotheses.kept[0]?.tokens, [EOS]);
    assert.ok(Math.abs((hypotheses.kept[0]?.score ?? 0) - Math.log(0.5)) < 1e-6);
    assert.equal(hypotheses.done, false);
  });

  test("an EOS ranked below num_beams is not kept", () => {
    const hypotheses = new BeamHypotheses(options(false));
    const { next } = beamStep(
      hypotheses,
      [logs(0.1, 0.5, 0.4), logs(0.1, 0.5, 0.4)],
      [0, -1e9],
      [[], []],
      options(false),
    );
    assert.equal(hypotheses.kept.length, 0);
    assert.deepEqual(
      next.map((candidate) => candidate.token),
      [1, 2],
    );
  });

  test("hypotheses are scored sum_logprobs / length ** length_penalty, the length counting the EOS", () => {
    const hypotheses = new BeamHypotheses(options(false, 2));
    hypotheses.add([5, 6, EOS], -3, 3);
    assert.ok(Math.abs((hypotheses.kept[0]?.score ?? 0) - -3 / 9) < 1e-12);
  });

  test("early_stopping true stops at num_beams hypotheses; false waits until no beam can win", () => {
    const eager = new BeamHypotheses(options(true));
    eager.add([1, EOS], -1, 2);
    eager.add([2, EOS], -2, 2);
    assert.equal(eager.isDone(-0.1, 2), true);
    const patient = new BeamHypotheses(options(false));
    patient.add([1, EOS], -1, 2);
    patient.add([2, EOS], -2, 2);
    assert.equal(patient.isDone(-0.1, 2), false, "a live beam at -0.1/2 beats the worst kept (-1)");
    assert.equal(patient.isDone(-4, 2), true);
  });

  test("logSoftmax turns logits into log-probabilities that sum to one", () => {
    const result = logSoftmax(Float32Array.from([1, 2, 3, 1000]));
    const total = result.reduce((sum, value) => sum + Math.exp(value), 0);
    assert.ok(Math.abs(total - 1) < 1e-6);
  });
});
