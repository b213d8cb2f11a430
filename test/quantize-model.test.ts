import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import type { InferenceSession, Tensor } from "onnxruntime-web";
import { quantizeOnnx } from "../cli/lib/quantize/rewrite.js";
import { MODELS_DIR } from "../host/paths.js";
import { startOrtInNode } from "../src/runtime/ort-node.js";

/**
 * The bundled Llama decoder with past, quantized in memory: a row's logits do not depend on the
 * rest of the batch or on how the prompt was fed. (The fp32 file itself differs by about 1e-5 when a
 * prompt is split, because its float projections sum in an order that depends on the row count;
 * the int8 projections are integer sums, which is what makes exact equality checkable here.)
 */
const folder = join(MODELS_DIR, "shop-assistant");

test("shop-assistant quantized: rows independent of the batch and of how the prompt is fed", async () => {
  const config = JSON.parse(await readFile(join(folder, "config.json"), "utf8")) as {
    num_hidden_layers: number;
    num_key_value_heads: number;
    head_dim: number;
    vocab_size: number;
  };
  const fp32 = new Uint8Array(await readFile(join(folder, "onnx", "model.onnx")));
  const { bytes, report } = quantizeOnnx(fp32);
  assert.equal(report.kept.length, 0);
  assert.ok(report.quantized.length >= config.num_hidden_layers * 7, "every projection is int8");

  const { ort } = await startOrtInNode();
  const int64 = (values: number[], dims: number[]) =>
    new ort.Tensor("int64", BigInt64Array.from(values.map(BigInt)), dims);
  const pastNames = Array.from({ length: config.num_hidden_layers }, (_, i) => [
    `past_key_values.${i}.key`,
    `past_key_values.${i}.value`,
  ]).flat();
  const step = (
    session: InferenceSession,
    rows: number[][],
    start: number,
    past?: Record<string, Tensor>,
  ) => {
    const batch = rows.length;
    const length = rows[0]?.length ?? 0;
    const empty = new ort.Tensor("float32", new Float32Array(0), [
      batch,
      config.num_key_value_heads,
      0,
      config.head_dim,
    ]);
    return session.run({
      input_ids: int64(rows.flat(), [batch, length]),
      attention_mask: int64(new Array(batch * (start + length)).fill(1), [batch, start + length]),
      position_ids: int64(
        rows.flatMap(() => Array.from({ length }, (_, i) => start + i)),
        [batch, length],
      ),
      ...Object.fromEntries(
        pastNames.map((name) => [name, past?.[name.replace("past_key_values", "present")] ?? empty]),
      ),
    });
  };
  const logits = (outputs: Record<string, Tensor>) => outputs.logits?.data as Float32Array;

  const length = 12;
  const prompts = Array.from({ length: 4 }, (_, b) =>
    Array.from({ length }, (_, i) => 3 + ((i * 37 + b * 101) % (config.vocab_size - 3))),
  );
  const first = prompts[0] ?? [];
  const rowValues = length * config.vocab_size;
  const quantized = await ort.InferenceSession.create(bytes, {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
  });
  const float = await ort.InferenceSession.create(fp32, {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
  });
  try {
    const alone = logits(await step(quantized, [first], 0));
    const inBatch = logits(await step(quantized, prompts, 0)).slice(0, rowValues);
    assert.deepEqual(inBatch, alone, "row 0 alone vs in a batch of 4");

    const head = await step(quantized, [first.slice(0, 5)], 0);
    const tail = await step(quantized, [first.slice(5)], 5, head);
    assert.deepEqual(
      new Float32Array([...logits(head), ...logits(tail)]),
      alone,
      "prompt fed whole vs in two parts",
    );

    const reference = logits(await step(float, [first], 0));
    let worst = 0;
    let range = 0;
    let sameArgmax = 0;
    for (let position = 0; position < length; position++) {
      let best = 0;
      let bestFloat = 0;
      for (let v = 0; v < config.vocab_size; v++) {
        const i = position * config.vocab_size + v;
        worst = Math.max(worst, Math.abs((alone[i] as number) - (reference[i] as number)));
        range = Math.max(range, Math.abs(reference[i] as number));
        if ((alone[i] as number) > (alone[position * config.vocab_size + best] as number)) best = v;
        if ((reference[i] as number) > (reference[position * config.vocab_size + bestFloat] as number))
          bestFloat = v;
      }
      if (best === bestFloat) sameArgmax++;
    }
    assert.ok(worst / range < 0.1, `largest logit error ${worst} on a range of ${range}`);
    assert.ok(
      sameArgmax >= length - 1,
      `next-token argmax equals fp32's at ${sameArgmax} of ${length} positions`,
    );
  } finally {
    await quantized.release();
    await float.release();
  }
});

/**
 * The join of MatMuls that read one activation (cli/lib/quantize/join.ts) on the bundled models:
 * the merged translator decoder (q, k and v in both If branches, every layer's cross-attention k
 * and v on the encoder output) and the Llama decoder (q, k, v; gate and up). Each file computes, to
 * the bit, what the file quantized without the join computes.
 */
test("joined MatMuls: the bundled decoders give the unjoined int8 file's outputs to the bit", async () => {
  const { ort } = await startOrtInNode();
  const open = (bytes: Uint8Array) =>
    ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  const int64 = (values: number[], dims: number[]) =>
    new ort.Tensor("int64", BigInt64Array.from(values.map(BigInt)), dims);
  const both = async (
    file: string,
    feedsFor: (session: InferenceSession) => Promise<Record<string, Tensor>[]>,
  ) => {
    const fp32 = new Uint8Array(await readFile(join(MODELS_DIR, file)));
    const joined = quantizeOnnx(fp32);
    assert.ok(joined.report.joined.length > 0, `${file}: something was joined`);
    const sessions = [await open(joined.bytes), await open(quantizeOnnx(fp32, { join: false }).bytes)];
    try {
      const [withJoin, without] = sessions as [InferenceSession, InferenceSession];
      for (const feeds of await feedsFor(without)) {
        const expected = await without.run(feeds);
        const got = await withJoin.run(feeds);
        for (const name of without.outputNames) {
          assert.deepEqual(got[name]?.data, expected[name]?.data, `${file}: ${name}`);
        }
      }
    } finally {
      for (const session of sessions) await session.release();
    }
  };

  // the merged decoder's first step (no cache: cross-attention k, v on the encoder output), then a cached one
  const [rows, source, hidden, heads] = [2, 7, 256, 4];
  await both("phrase-translator/onnx/decoder_model_merged.onnx", async (session) => {
    const encoded = new ort.Tensor(
      "float32",
      Float32Array.from({ length: rows * source * hidden }, (_, i) => Math.sin(i * 0.37) * 2),
      [rows, source, hidden],
    );
    const common = {
      encoder_attention_mask: int64(new Array(rows * source).fill(1), [rows, source]),
      encoder_hidden_states: encoded,
    };
    const past = session.inputNames.filter((name) => name.startsWith("past_key_values."));
    const empty = new ort.Tensor("float32", new Float32Array(0), [rows, heads, 0, hidden / heads]);
    const first = {
      ...common,
      input_ids: int64([3004, 3004], [rows, 1]),
      use_cache_branch: new ort.Tensor("bool", [false], [1]),
      ...Object.fromEntries(past.map((name) => [name, empty])),
    };
    const present = await session.run(first);
    const cached = {
      ...common,
      input_ids: int64([17, 250], [rows, 1]),
      use_cache_branch: new ort.Tensor("bool", [true], [1]),
      ...Object.fromEntries(
        past.map((name) => [name, present[name.replace("past_key_values", "present")] as Tensor]),
      ),
    };
    return [first, cached];
  });

  const config = JSON.parse(await readFile(join(folder, "config.json"), "utf8")) as {
    num_hidden_layers: number;
    num_key_value_heads: number;
    head_dim: number;
  };
  await both("shop-assistant/onnx/model.onnx", async () => {
    const prompt = [5, 81, 302, 17, 9, 1200];
    const empty = new ort.Tensor("float32", new Float32Array(0), [
      1,
      config.num_key_value_heads,
      0,
      config.head_dim,
    ]);
    return [
      {
        input_ids: int64(prompt, [1, prompt.length]),
        attention_mask: int64(new Array(prompt.length).fill(1), [1, prompt.length]),
        position_ids: int64(
          prompt.map((_, i) => i),
          [1, prompt.length],
        ),
        ...Object.fromEntries(
          Array.from({ length: config.num_hidden_layers }, (_, i) => [
            [`past_key_values.${i}.key`, empty],
            [`past_key_values.${i}.value`, empty],
          ]).flat(),
        ),
      },
    ];
  });
});
