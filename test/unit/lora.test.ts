import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FolderError } from "../../cli/lib/folder-error.js";
import { type AdapterConfig, adapterWeights, readAdapterConfig } from "../../cli/lib/lora/adapter.js";
import { addLoraInputs, loraInputNames } from "../../cli/lib/lora/graph.js";
import { quantizeOnnx } from "../../cli/lib/quantize/rewrite.js";
import { startOrtInNode } from "../../src/runtime/ort-node.js";
import { type FloatTensor, readSafetensors, writeSafetensors } from "../../src/runtime/safetensors.js";
import { type LoraAdapter, type LoraInput, loraFeedBytes, loraFeeds } from "../../src/tasks/lora.js";
import {
  FLOAT,
  floats,
  graph,
  makeNode,
  makeTensor,
  modelBytes,
  randomValues,
  runOnnx,
  value,
} from "./helpers/graphs.js";

const IN = 32;
const OUT = 32;
const MODULE = "model.layers.0.self_attn.q_proj";

/** One projection as the PyTorch exporter names it: y = x W, x [batch, seq, IN]. */
function projectionModel(): Uint8Array {
  return modelBytes(
    graph("projection", {
      inputs: [value("x", FLOAT, ["batch", "seq", IN])],
      outputs: [value("y", FLOAT, ["batch", "seq", OUT])],
      nodes: [makeNode("MatMul", ["x", "w"], ["y"], "/m/layers.0/self_attn/q_proj/MatMul")],
      initializers: [makeTensor("w", [IN, OUT], randomValues(IN * OUT, 7))],
    }),
    14,
  );
}

/** x [rows, 1, IN] times a [IN, r] and b [r, OUT], per row, in float64. */
function lowRank(x: Float32Array, rows: number, adapters: { a: Float32Array; b: Float32Array; r: number }[]) {
  const out = new Float64Array(rows * OUT);
  for (let row = 0; row < rows; row++) {
    const { a, b, r } = adapters[row] as { a: Float32Array; b: Float32Array; r: number };
    for (let k = 0; k < r; k++) {
      let down = 0;
      for (let i = 0; i < IN; i++) down += (x[row * IN + i] ?? 0) * (a[i * r + k] ?? 0);
      for (let o = 0; o < OUT; o++)
        out[row * OUT + o] = (out[row * OUT + o] ?? 0) + down * (b[k * OUT + o] ?? 0);
    }
  }
  return out;
}

describe("LoRA inputs on a projection (fp32 MatMul and the int8 layout)", async () => {
  const { ort } = await startOrtInNode();
  const fp32 = projectionModel();
  const int8 = quantizeOnnx(fp32).bytes;
  const names = loraInputNames(MODULE);
  const inputs: LoraInput[] = [{ a: names.a, b: names.b, in: IN, out: OUT }];
  const adapter = (id: string, rank: number, seed: number): LoraAdapter => ({
    id,
    rank,
    weights: new Map([
      [names.a, randomValues(IN * rank, seed)],
      [names.b, randomValues(rank * OUT, seed + 1)],
    ]),
  });
  const feedsOf = (rows: (LoraAdapter | undefined)[]) =>
    Object.fromEntries(
      Object.entries(loraFeeds(ort, inputs, rows)).map(([name, tensor]) => [
        name,
        floats(tensor.data as Float32Array, [...tensor.dims]),
      ]),
    );
  const x = randomValues(2 * IN, 3);

  for (const [label, model] of [
    ["fp32", fp32],
    ["int8", int8],
  ] as const) {
    test(`${label}: the projection is found, rank 0 is the base bit for bit, and rows take their own adapters`, async () => {
      const rewritten = addLoraInputs(model);
      assert.deepEqual(rewritten.modules, [{ name: MODULE, in: IN, out: OUT }]);
      const base = (await runOnnx(model, { x: floats(x, [2, 1, IN]) })).y as Float32Array;
      const run = async (rows: (LoraAdapter | undefined)[]) =>
        (await runOnnx(rewritten.bytes, { x: floats(x, [2, 1, IN]), ...feedsOf(rows) })).y as Float32Array;

      assert.deepEqual(await run([undefined, undefined]), base, "rank 0");
      const wide = adapter("wide", 3, 11);
      const narrow = adapter("narrow", 1, 21);
      const mixed = await run([wide, narrow]);
      const expected = lowRank(x, 2, [
        { a: wide.weights.get(names.a) as Float32Array, b: wide.weights.get(names.b) as Float32Array, r: 3 },
        {
          a: narrow.weights.get(names.a) as Float32Array,
          b: narrow.weights.get(names.b) as Float32Array,
          r: 1,
        },
      ]);
      mixed.forEach((got, i) => {
        assert.ok(Math.abs(got - ((base[i] ?? 0) + (expected[i] ?? 0))) < 1e-4, `element ${i}: ${got}`);
      });
      // Alone the adapter is fed once (broadcast over the rows), beside a wider one it is padded: the
      // low-rank term is then summed in another order, so it may differ in its last bits, no more.
      const alone = await run([narrow, narrow]);
      alone.slice(OUT).forEach((got, i) => {
        assert.ok(Math.abs(got - (mixed[OUT + i] ?? 0)) < 1e-5, `row 1, element ${i}: ${got} alone`);
      });
      const halfBase = await run([undefined, narrow]);
      assert.deepEqual(
        halfBase.slice(0, OUT),
        base.slice(0, OUT),
        "a base row beside an adapter row is the base",
      );
    });
  }

  test("int8 with q, k and v joined: each projection found at the Split, outputs those of the unjoined file", async () => {
    const widths = { q_proj: 48, k_proj: 32, v_proj: 32 };
    // the exporter's names, which the Split hands back
    const output = (name: string) => `/m/layers.0/self_attn/${name}/MatMul_output_0`;
    const projections = Object.entries(widths);
    const model = modelBytes(
      graph("qkv", {
        inputs: [value("x", FLOAT, ["batch", "seq", IN])],
        outputs: projections.map(([name]) => value(output(name), FLOAT)),
        nodes: projections.map(([name]) =>
          makeNode("MatMul", ["x", `w_${name}`], [output(name)], `/m/layers.0/self_attn/${name}/MatMul`),
        ),
        initializers: projections.map(([name, out], i) =>
          makeTensor(`w_${name}`, [IN, out], randomValues(IN * out, 40 + i)),
        ),
      }),
      14,
    );
    const joined = quantizeOnnx(model);
    assert.equal(joined.report.joined.length, 1);
    const rewritten = [joined.bytes, quantizeOnnx(model, { join: false }).bytes].map(addLoraInputs);
    const modules = projections.map(([name, out]) => ({
      name: `model.layers.0.self_attn.${name}`,
      in: IN,
      out,
    }));
    for (const { modules: found } of rewritten) {
      assert.deepEqual(found, modules);
    }
    const rowAdapters = modules.map(({ name, out }, i) => {
      const { a, b } = loraInputNames(name);
      return { a, b, out, weights: [randomValues(IN * 2, 50 + i), randomValues(2 * out, 60 + i)] };
    });
    const feeds = {
      x: floats(x, [2, 1, IN]),
      ...Object.fromEntries(
        rowAdapters.flatMap(({ a, b, out, weights: [wa, wb] }) => [
          [a, floats(wa as Float32Array, [1, IN, 2])],
          [b, floats(wb as Float32Array, [1, 2, out])],
        ]),
      ),
    };
    const [withJoin, without] = await Promise.all(rewritten.map(({ bytes }) => runOnnx(bytes, feeds)));
    assert.deepEqual(withJoin, without);
    const base = await runOnnx(joined.bytes, { x: floats(x, [2, 1, IN]) });
    const k = output("k_proj");
    assert.notDeepEqual(withJoin?.[k], base[k], "the adapter changes k");
  });

  test("the stacked feeds are rebuilt when the rows change, reused while they do not", () => {
    const a = adapter("a", 2, 1);
    const b = adapter("b", 2, 5);
    const first = loraFeeds(ort, inputs, [a, b]);
    assert.equal(loraFeeds(ort, inputs, [a, b]), first);
    assert.notEqual(loraFeeds(ort, inputs, [b, a]), first);
    assert.deepEqual(
      [...(loraFeeds(ort, inputs, [a, a])[names.a]?.dims ?? [])],
      [1, IN, 2],
      "one adapter: batch 1",
    );
    assert.deepEqual(
      [...(loraFeeds(ort, inputs, [undefined])[names.b]?.dims ?? [])],
      [1, 0, OUT],
      "the base: rank 0",
    );
  });

  test("the feeds' memory, counted before a row joins a batch: one copy per row only when adapters mix", () => {
    const a = adapter("a", 2, 1);
    const b = adapter("b", 4, 5);
    const perRank = (IN + OUT) * 4;
    assert.equal(loraFeedBytes(inputs, [undefined, undefined]), 0);
    assert.equal(loraFeedBytes(inputs, [a, a, a]), 2 * 2 * perRank);
    assert.equal(loraFeedBytes(inputs, [a, b, undefined]), 2 * 3 * 4 * perRank);
  });
});

describe("adapter checks at push", () => {
  const modules = [
    { name: "model.layers.0.self_attn.q_proj", in: 4, out: 6 },
    { name: "model.layers.0.mlp.down_proj", in: 5, out: 4 },
  ];
  const config: AdapterConfig = { rank: 2, alpha: 8, targetModules: ["q_proj"] };
  const tensor = (shape: number[]): FloatTensor => ({
    shape,
    data: Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, (_, i) => i + 1),
  });
  const key = (part: "A" | "B") => `base_model.model.model.layers.0.self_attn.q_proj.lora_${part}.weight`;
  const valid = () =>
    new Map([
      [key("A"), tensor([2, 4])],
      [key("B"), tensor([6, 2])],
    ]);
  const refused = (run: () => unknown, pattern: RegExp) =>
    assert.throws(run, (error: unknown) => error instanceof FolderError && pattern.test(error.message));

  test("A is fed transposed, B transposed and scaled by lora_alpha / r", () => {
    const { fed, covered } = adapterWeights(config, valid(), modules, "base");
    assert.deepEqual(covered, ["model.layers.0.self_attn.q_proj"]);
    const byName = new Map(fed);
    // lora_A [2, 4] = [[1, 2, 3, 4], [5, 6, 7, 8]] -> [4, 2]
    assert.deepEqual(
      [...(byName.get("lora.model.layers.0.self_attn.q_proj.A")?.data ?? [])],
      [1, 5, 2, 6, 3, 7, 4, 8],
    );
    // lora_B [6, 2] rows (1, 2), (3, 4), ... -> [2, 6] times 8 / 2
    assert.deepEqual(
      [...(byName.get("lora.model.layers.0.self_attn.q_proj.B")?.data ?? [])],
      [1, 3, 5, 7, 9, 11, 2, 4, 6, 8, 10, 12].map((v) => v * 4),
    );
  });

  test("a missing tensor, a wrong shape, an unknown target and a stray tensor are refused", () => {
    const missing = valid();
    missing.delete(key("B"));
    refused(
      () => adapterWeights(config, missing, modules, "base"),
      /has no tensor '.*q_proj\.lora_B\.weight'/,
    );
    const wrong = valid();
    wrong.set(key("A"), tensor([2, 5]));
    refused(
      () => adapterWeights(config, wrong, modules, "base"),
      /is \[2, 5\]; the base 'base' and r = 2 need \[2, 4\]/,
    );
    refused(
      () => adapterWeights({ ...config, targetModules: ["gate_proj"] }, valid(), modules, "base"),
      /'gate_proj' does not exist in the base 'base' \(LoRA can target: q_proj, down_proj\)/,
    );
    const stray = valid();
    stray.set("base_model.model.lm_head.lora_A.weight", tensor([2, 4]));
    refused(
      () => adapterWeights(config, stray, modules, "base"),
      /tensors no targeted module .* takes: .*lm_head/,
    );
  });

  test("adapter_config.json: rank over 64, other PEFT types and unserved options are refused", () => {
    const base = { peft_type: "LORA", r: 8, lora_alpha: 16, target_modules: ["q_proj"] };
    assert.deepEqual(readAdapterConfig({ ...base, base_model_name_or_path: "shop-assistant" }), {
      rank: 8,
      alpha: 16,
      targetModules: ["q_proj"],
      baseName: "shop-assistant",
    });
    refused(() => readAdapterConfig({ ...base, r: 65 }), /r is 65; the highest rank served is 64/);
    refused(() => readAdapterConfig({ ...base, peft_type: "IA3" }), /only LORA/);
    refused(
      () => readAdapterConfig({ ...base, target_modules: "q_proj|v_proj" }),
      /regular expression is not supported/,
    );
    refused(() => readAdapterConfig({ ...base, use_dora: true }), /use_dora must be false/);
    refused(() => readAdapterConfig({ ...base, bias: "all" }), /only "none"/);
    refused(() => readAdapterConfig({ ...base, modules_to_save: ["lm_head"] }), /modules_to_save is set/);
  });
});

describe("safetensors", () => {
  test("float32 round trip, 8-byte aligned data, and F16 / BF16 read as float32", () => {
    const written = writeSafetensors([
      ["a", { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-3, 7]) }],
      ["b", { shape: [1], data: Float32Array.from([42]) }],
    ]);
    const headerLength = Number(new DataView(written.buffer).getBigUint64(0, true));
    assert.equal((8 + headerLength) % 8, 0);
    const read = readSafetensors(written);
    assert.deepEqual(read.get("a"), { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-3, 7]) });
    assert.deepEqual(read.get("b")?.data, Float32Array.from([42]));

    // 1.5 in F16 is 0x3e00; -2 in BF16 is 0xc000.
    const header = JSON.stringify({
      h: { dtype: "F16", shape: [1], data_offsets: [0, 2] },
      g: { dtype: "BF16", shape: [1], data_offsets: [2, 4] },
      __metadata__: { format: "pt" },
    });
    const bytes = new Uint8Array(8 + header.length + 4);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(new TextEncoder().encode(header), 8);
    new DataView(bytes.buffer).setUint16(8 + header.length, 0x3e00, true);
    new DataView(bytes.buffer).setUint16(8 + header.length + 2, 0xc000, true);
    const halves = readSafetensors(bytes);
    assert.deepEqual([halves.get("h")?.data[0], halves.get("g")?.data[0]], [1.5, -2]);
    assert.throws(
      () => readSafetensors(bytes.subarray(0, bytes.length - 1)),
      /does not fit its data offsets/,
    );
  });
});
