import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fitRunCost, probePlans, type RunSample } from "../../cli/lib/measure-runs.js";
import type { TensorInfo } from "../../src/runtime/manifest.js";

/** Growth as ORT shows it: the run's cost past the slack the load left, or nothing within it. */
function growth(cost: { perToken: number; perPosition: number; perAttended: number }, slack: number) {
  return (rows: number, tokens: number, attended: number): RunSample => {
    const bytes =
      rows * (tokens * cost.perToken + attended * cost.perPosition + tokens * attended * cost.perAttended);
    return { rows, tokens, attended, grown: Math.max(0, bytes - slack) };
  };
}

function near(actual: number, expected: number, tolerance: number, what: string) {
  assert.ok(
    Math.abs(actual - expected) <= tolerance * Math.max(1, expected),
    `${what}: ${actual}, expected ${expected}`,
  );
}

describe("fitting run memory", () => {
  test("an encoder's per-token and per-attended bytes, past a slack that hides the small runs", () => {
    const sample = growth({ perToken: 9000, perPosition: 0, perAttended: 40 }, 6e6);
    const samples = [
      sample(1, 32, 32),
      sample(8, 32, 32),
      sample(8, 64, 64),
      sample(16, 64, 64),
      sample(16, 128, 128),
      sample(32, 128, 128),
    ];
    assert.equal(samples[1]?.grown, 0, "the small runs fit in the slack");
    const fit = fitRunCost(samples);
    assert.ok(fit);
    near(fit.per_token, 9000, 0.01, "per_token");
    near(fit.per_attended, 40, 0.01, "per_attended");
    assert.equal(fit.per_position, 0);
  });

  test("a decoder's cache (per row and position) is told apart from attention by prefill and steps", () => {
    const sample = growth({ perToken: 12_000, perPosition: 4500, perAttended: 30 }, 9e6);
    const prefill = [sample(4, 128, 128), sample(8, 128, 128), sample(8, 256, 256)];
    const steps = [sample(8, 1, 257), sample(16, 1, 257), sample(16, 1, 513)];
    const fit = fitRunCost([...prefill, ...steps]);
    assert.ok(fit);
    near(fit.per_token, 12_000, 0.01, "per_token");
    near(fit.per_position, 4500, 0.01, "per_position");
    near(fit.per_attended, 30, 0.01, "per_attended");
  });

  test("noisy growth (the heap grows in steps) still predicts a larger run within 15%", () => {
    const truth = { perToken: 9000, perPosition: 0, perAttended: 40 };
    const step = 2 ** 20;
    const noisy = (rows: number, tokens: number) => {
      const exact = growth(truth, 4e6)(rows, tokens, tokens);
      return { ...exact, grown: Math.ceil(exact.grown / step) * step };
    };
    const fit = fitRunCost([noisy(8, 64), noisy(16, 64), noisy(16, 128), noisy(32, 128)]);
    assert.ok(fit);
    const predicted = 64 * 128 * (fit.per_token + 128 * fit.per_attended);
    const actual = 64 * 128 * (truth.perToken + 128 * truth.perAttended);
    near(predicted, actual, 0.15, "64 x 128 tokens");
  });

  test("no fit without runs that grew memory", () => {
    const nothing = [1, 2, 4].map((rows) => ({ rows, tokens: 16, attended: 16, grown: 0 }));
    assert.equal(fitRunCost(nothing), undefined);
  });
});

describe("probe plans", () => {
  const ids = (name: string, shape: TensorInfo["shape"]): TensorInfo => ({ name, type: "int64", shape });
  const past: TensorInfo = {
    name: "past_key_values.0.key",
    type: "float32",
    shape: ["batch_size", 2, "past_sequence_length", 32],
  };

  test("every plan grows in work from one probe to the next, within the model's positions", () => {
    const decoder = [ids("input_ids", ["batch_size", "sequence_length"]), past];
    const plans = probePlans({ inputs: decoder, contextLength: 64 });
    assert.equal(plans?.length, 2, "prefill and cached steps");
    for (const plan of plans ?? []) {
      plan.probes.forEach((probe, index) => {
        assert.ok(probe.tokens + probe.past <= 64, "inside the context");
        const previous = plan.probes[index - 1];
        if (!previous) return;
        const work = (p: typeof probe) => [
          p.rows * p.tokens,
          p.rows * plan.attended(p),
          p.rows * p.tokens * plan.attended(p),
        ];
        work(probe).forEach((value, k) => {
          assert.ok(
            value >= (work(previous)[k] as number),
            `probe ${index} does no less work than the one before`,
          );
        });
      });
    }
  });

  test("a tensor model without tokens gets growing batches; one with free inner sizes gets none", () => {
    const mlp: TensorInfo = { name: "features", type: "float32", shape: ["batch_size", 8] };
    const rows =
      probePlans({ inputs: [mlp], contextLength: undefined })?.[0]?.probes.map((p) => p.rows) ?? [];
    assert.ok(rows.length > 2 && rows.every((value, i) => i === 0 || value > (rows[i - 1] as number)));
    const free: TensorInfo = { name: "x", type: "float32", shape: ["batch_size", "width"] };
    assert.equal(probePlans({ inputs: [free], contextLength: undefined }), undefined);
  });
});
