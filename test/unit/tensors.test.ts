import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as ort from "onnxruntime-web/wasm";
import type { ApiError } from "../../src/errors.js";
import type { ManifestFile } from "../../src/runtime/manifest.js";
import { readModelConfig } from "../../src/tasks/model-config.js";
import {
  assertRunFits,
  chunkRows,
  ESTIMATED_BASIS,
  fileRunCost,
  MEASURED_BASIS,
  MEASURED_WITH,
  runBytes,
  runCost,
} from "../../src/tasks/run-memory.js";
import {
  emptyCache,
  fromHalfBits,
  lastLogits,
  paddedBatch,
  reorderRows,
  repeatRows,
  toHalfBits,
} from "../../src/tasks/tensors.js";

describe("half floats", () => {
  for (const [value, bits] of [
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [2 ** -14, 0x0400],
    [2 ** -24, 0x0001],
    [0.1, 0x2e66],
    [Number.POSITIVE_INFINITY, 0x7c00],
    [1e6, 0x7c00],
    [2 ** -26, 0x0000],
  ] as const) {
    test(`${value} is 0x${bits.toString(16)}`, () => {
      assert.equal(toHalfBits(value), bits);
    });
  }

  test("ties round to even, and every finite half survives a round trip", () => {
    assert.equal(toHalfBits(1 + 2 ** -11), 0x3c00, "halfway between 1 and the next half rounds down to even");
    assert.equal(toHalfBits(1 + 3 * 2 ** -11), 0x3c02, "halfway above an odd mantissa rounds up");
    for (let bits = 0; bits < 0x7c00; bits++) assert.equal(toHalfBits(fromHalfBits(bits)), bits);
    assert.ok(Number.isNaN(fromHalfBits(toHalfBits(Number.NaN))));
  });
});

describe("tensor helpers", () => {
  test("padded batches are right-padded with the pad id and masked", () => {
    const batch = paddedBatch(ort, [[5, 6, 7], [8]], 1);
    assert.deepEqual(batch.ids.dims, [2, 3]);
    assert.deepEqual(Array.from(batch.ids.data as BigInt64Array, Number), [5, 6, 7, 8, 1, 1]);
    assert.deepEqual(Array.from(batch.maskData, Number), [1, 1, 1, 1, 0, 0]);
  });

  test("rows repeat in place and reorder by source, for float32 and float16 caches", () => {
    for (const [type, data] of [
      ["float32", Float32Array.from([1, 2, 3, 4])],
      ["float16", Uint16Array.from([1, 2, 3, 4])],
    ] as const) {
      const tensor = new ort.Tensor(type, data, [2, 1, 1, 2]);
      const repeated = repeatRows(ort, tensor, 2);
      assert.equal(repeated.type, type);
      assert.deepEqual(repeated.dims, [4, 1, 1, 2]);
      assert.deepEqual(Array.from(repeated.data as ArrayLike<number>), [1, 2, 1, 2, 3, 4, 3, 4]);
      const reordered = reorderRows(ort, repeated, [2, 2, 0]);
      assert.deepEqual(reordered.dims, [3, 1, 1, 2]);
      assert.deepEqual(Array.from(reordered.data as ArrayLike<number>), [3, 4, 3, 4, 1, 2]);
      assert.equal(reorderRows(ort, tensor, [0, 1]), tensor, "the identity is not copied");
    }
  });

  test("last-position logits per row, float16 converted to float32", () => {
    const logits = new ort.Tensor("float32", Float32Array.from([0, 0, 1, 2, 0, 0, 3, 4]), [2, 2, 2]);
    assert.deepEqual(
      lastLogits(logits).map((row) => Array.from(row)),
      [
        [1, 2],
        [3, 4],
      ],
    );
    const half = new ort.Tensor("float16", Uint16Array.from([0x3c00, 0xc000]), [1, 1, 2]);
    assert.deepEqual(Array.from(lastLogits(half)[0] ?? []), [1, -2]);
  });

  test("empty caches have the cache's dtype and no positions", () => {
    const cache = emptyCache(ort, "float16", 3, 4, 8);
    assert.equal(cache.type, "float16");
    assert.deepEqual(cache.dims, [3, 4, 0, 8]);
  });
});

describe("run memory", () => {
  const cost = { perToken: 1000, perPosition: 0, perAttended: 10, basis: "estimated from config.json" };

  test("rows are chunked in order, each chunk padded to its longest row within the allowance", () => {
    const rows = [[1, 1], [2, 2, 2, 2], [3], [4, 4, 4, 4, 4, 4, 4, 4], [5]];
    const bytes = (count: number, longest: number) => runBytes(cost, count, longest);
    const chunks = chunkRows(rows, (row) => row.length, bytes, 9000, cost.basis);
    assert.deepEqual(chunks.flat(), rows, "every row once, in order");
    for (const chunk of chunks) {
      assert.ok(bytes(chunk.length, Math.max(...chunk.map((row) => row.length))) <= 9000);
    }
    assert.deepEqual(
      chunkRows(rows, (row) => row.length, bytes, 1e9, cost.basis, 2).map((chunk) => chunk.length),
      [2, 2, 1],
    );
  });

  test("a row that cannot fit alone is refused before anything runs, naming the allowance", () => {
    assert.throws(
      () =>
        chunkRows(
          [[1], new Array(100).fill(1)],
          (row) => row.length,
          (n, l) => runBytes(cost, n, l),
          50_000,
          cost.basis,
        ),
      (error: ApiError) =>
        error.status === 413 && error.code === "run_too_large" && /RUN_MEMORY_MB/.test(error.message),
    );
  });

  test("the estimate grows with the attention span and the language model's logits", () => {
    const config = readModelConfig({
      hidden_size: 256,
      intermediate_size: 1024,
      num_attention_heads: 4,
      vocab_size: 4000,
      num_hidden_layers: 4,
    });
    const encoder = runCost(config, { logits: false, cache: false });
    const decoder = runCost(config, { logits: true, cache: true });
    assert.ok(runBytes(encoder, 1, 128) > 2 * runBytes(encoder, 1, 64) - 1);
    assert.ok(decoder.perToken > encoder.perToken && decoder.perAttended > encoder.perAttended);
    const staticEmbeddings = runCost(readModelConfig({ hidden_size: 100, vocab_size: 50002 }), {
      logits: false,
      cache: false,
    });
    assert.equal(staticEmbeddings.perAttended, 0, "no heads, no attention");
    assert.ok(
      runBytes(staticEmbeddings, 1, 512) < 3 * 2 ** 20,
      "a row of 512 tokens is small without attention",
    );
  });

  test("a file measured at push is charged its measurement with the margin, and a refusal says so", () => {
    const config = readModelConfig({ hidden_size: 256, num_attention_heads: 4 });
    const file = (runCostEntry?: { measured_with: string }): ManifestFile => ({
      path: "onnx/model.onnx",
      size: 1,
      sha256: "0".repeat(64),
      onnx: {
        inputs: [],
        outputs: [],
        memory_bytes: 1,
        ...(runCostEntry && {
          run_cost: { per_token: 10_000, per_position: 2000, per_attended: 50, ...runCostEntry },
        }),
      },
    });
    const options = { logits: false, cache: false };
    const measured = fileRunCost(file({ measured_with: MEASURED_WITH }), config, options);
    assert.deepEqual(measured, {
      perToken: 13_000,
      perPosition: 2600,
      perAttended: 65,
      basis: MEASURED_BASIS,
    });
    assert.equal(runBytes(measured, 2, 10, 30), 2 * (10 * (13_000 + 65 * 30) + 30 * 2600));
    // An old manifest, or a measurement made with another runtime, gets the config.json estimate.
    const estimate = runCost(config, options);
    assert.deepEqual(fileRunCost(file(), config, options), estimate);
    assert.deepEqual(
      fileRunCost(file({ measured_with: "onnxruntime-web 1.22.0" }), config, options),
      estimate,
    );
    assert.equal(estimate.basis, ESTIMATED_BASIS);
    assert.throws(
      () => assertRunFits(measured, 64, 512, 16 * 2 ** 20),
      (error: ApiError) => error.status === 413 && error.message.includes("measured at push"),
    );
    assert.throws(
      () => assertRunFits(estimate, 64, 512, 16 * 2 ** 20),
      (error: ApiError) => error.status === 413 && error.message.includes("estimated from config.json"),
    );
  });
});
