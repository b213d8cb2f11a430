import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decodeModel, type GraphProto, type TensorProto } from "../../cli/lib/quantize/onnx.js";
import { quantizeOnnx } from "../../cli/lib/quantize/rewrite.js";
import { quantizeChannels, roundHalfEven, transposeInt8 } from "../../cli/lib/quantize/weights.js";
import {
  BOOL,
  FLOAT,
  flag,
  floatAttribute,
  floats,
  graph,
  graphAttribute,
  INT64,
  ids,
  makeNode,
  makeTensor,
  modelBytes,
  randomValues,
  runOnnx,
  value,
} from "./helpers/graphs.js";
import { errorOnScale, floatMatMul, int8MatMul, maxRelativeError, transpose } from "./helpers/reference.js";

/** The quantized graph equals the plain-JS integer arithmetic up to float rounding order. */
const SAME_ARITHMETIC = 1e-5;
/** int8 weights and activations on random data: a few percent of the output's range at most. */
const NEAR_FLOAT = 0.03;

type Run = (x: Float32Array, dims: number[]) => Promise<Float32Array>;

/**
 * (c) row 0 alone gives bit for bit what it gives inside the batch; (d) for a sequence [1, S, K],
 * feeding positions [0, cut) and [cut, S) separately gives bit for bit the whole-sequence rows.
 */
async function assertRowsIndependent(run: Run, batch: Float32Array, dims: number[], outWidth: number) {
  const [b = 0, s = 0, k = 0] = dims;
  const whole = await run(batch, dims);
  const alone = await run(batch.slice(0, s * k), [1, s, k]);
  assert.deepEqual(alone, whole.slice(0, s * outWidth), "row 0 alone differs from row 0 in the batch");
  assert.ok(b > 1, "the batch must hold other rows");
  const cut = 2;
  const head = await run(batch.slice(0, cut * k), [1, cut, k]);
  const tail = await run(batch.slice(cut * k, s * k), [1, s - cut, k]);
  const split = new Float32Array([...head, ...tail]);
  assert.deepEqual(split, alone, "a sequence fed in two parts differs from it fed whole");
}

/** A merged decoder's shape: x [batch, sequence, k] into one `If` on `use_cache_branch`, y [.., n]. */
function mergedModel(
  thenBranch: GraphProto,
  elseBranch: GraphProto,
  k: number,
  n: number,
  initializers: TensorProto[],
): Uint8Array {
  const ifNode = makeNode("If", ["use_cache_branch"], ["y"], "branch");
  ifNode.attribute.push(graphAttribute("then_branch", thenBranch), graphAttribute("else_branch", elseBranch));
  return modelBytes(
    graph("merged", {
      inputs: [value("x", FLOAT, ["batch", "sequence", k]), value("use_cache_branch", BOOL, [])],
      outputs: [value("y", FLOAT, ["batch", "sequence", n])],
      nodes: [ifNode],
      initializers,
    }),
  );
}

function only(outputs: Record<string, Float32Array>, name: string): Float32Array {
  const found = outputs[name];
  if (!found) throw new Error(`no output '${name}'`);
  return found;
}

describe("weight quantization (the arithmetic of int8.py)", () => {
  test("rounds half to even", () => {
    assert.deepEqual(
      [2.5, 3.5, -2.5, -3.5, 0.5, 1.5, 2.4, -0.6].map(roundHalfEven),
      [2, 4, -2, -4, 0, 2, 2, -1],
    );
  });

  test("one scale per channel, max |w| / 127, 1 for an all-zero channel", () => {
    // columns: peak 127 (scale 1, so the ties 0.5 and -3.5 round to even), peak 2.5, all zeros
    const w = new Float32Array([127, 2.5, 0, -3.5, 0, 0, 0.5, -2.5, 0]);
    const { values, scales } = quantizeChannels(w, 3, 3, 1);
    assert.deepEqual([...scales], [1, Math.fround(2.5 / 127), 1]);
    assert.deepEqual([...values], [127, 127, 0, -4, 0, 0, 0, -127, 0]);
    const byRows = quantizeChannels(transpose(w, 3, 3), 3, 3, 0);
    assert.deepEqual(byRows.scales, scales);
    assert.deepEqual(byRows.values, transposeInt8(values, 3, 3));
  });
});

describe("quantized graphs in onnxruntime-web", () => {
  for (const opset of [14, 18]) {
    test(`MatMul (opset ${opset}): per-row activations, per-column weights`, async () => {
      const [k, n] = [64, 48];
      const w = randomValues(k * n, 1);
      const bytes = modelBytes(
        graph("matmul", {
          inputs: [value("x", FLOAT, ["batch", "sequence", k])],
          outputs: [value("y", FLOAT, ["batch", "sequence", n])],
          nodes: [makeNode("MatMul", ["x", "w"], ["y"], "matmul")],
          initializers: [makeTensor("w", [k, n], w)],
        }),
        opset,
      );
      const { bytes: quantized, report } = quantizeOnnx(bytes);
      assert.deepEqual(report, { quantized: ["w"], joined: [], kept: [] });

      const dims = [4, 5, k];
      const x = randomValues(4 * 5 * k, 2, 3);
      const run: Run = async (input, d) => only(await runOnnx(quantized, { x: floats(input, d) }), "y");
      const got = await run(x, dims);
      const q = quantizeChannels(w, k, n, 1);
      assert.ok(maxRelativeError(got, int8MatMul(x, k, q.values, n, q.scales)) <= SAME_ARITHMETIC);
      const float = only(await runOnnx(bytes, { x: floats(x, dims) }), "y");
      assert.ok(
        maxRelativeError(float, floatMatMul(x, k, w, n)) <= 1e-4,
        "the float graph is the reference's",
      );
      assert.ok(errorOnScale(got, float) <= NEAR_FLOAT, `error ${errorOnScale(got, float)}`);
      await assertRowsIndependent(run, x, dims, n);
    });
  }

  test("Gemm: transB, alpha, beta and a bias; two Gemms reading one input", async () => {
    const [k, n] = [40, 30];
    const w1 = randomValues(k * n, 3);
    const w2 = randomValues(n * k, 4); // [N, K], read with transB = 1
    const c = randomValues(n, 5);
    const scaled = makeNode("Gemm", ["x", "w2", "c"], ["y2"], "scaled", { transB: 1 });
    scaled.attribute.push(floatAttribute("alpha", 0.5), floatAttribute("beta", 2));
    const bytes = modelBytes(
      graph("gemm", {
        inputs: [value("x", FLOAT, ["rows", k])],
        outputs: [value("y1", FLOAT, ["rows", n]), value("y2", FLOAT, ["rows", n])],
        nodes: [makeNode("Gemm", ["x", "w1"], ["y1"], "plain"), scaled],
        initializers: [makeTensor("w1", [k, n], w1), makeTensor("w2", [n, k], w2), makeTensor("c", [n], c)],
      }),
    );
    const { bytes: quantized, report } = quantizeOnnx(bytes);
    assert.deepEqual(report.quantized.sort(), ["w1", "w2"]);
    const shared = decodeModel(quantized).graph?.node.filter((node) => node.opType === "QuantizeLinear");
    assert.equal(shared?.length, 1, "both Gemms read one quantization of x");

    const x = randomValues(6 * k, 6, 2);
    const got = await runOnnx(quantized, { x: floats(x, [6, k]) });
    const q1 = quantizeChannels(w1, k, n, 1);
    const q2 = quantizeChannels(w2, n, k, 0);
    const plain = int8MatMul(x, k, q1.values, n, q1.scales);
    const raw = int8MatMul(x, k, transposeInt8(q2.values, n, k), n, q2.scales);
    const f = Math.fround;
    const expected2 = raw.map((v, i) => f(f(v * 0.5) + f((c[i % n] as number) * 2)));
    assert.ok(maxRelativeError(only(got, "y1"), plain) <= SAME_ARITHMETIC);
    assert.ok(maxRelativeError(only(got, "y2"), expected2) <= SAME_ARITHMETIC);
    const float = await runOnnx(bytes, { x: floats(x, [6, k]) });
    assert.ok(errorOnScale(only(got, "y1"), only(float, "y1")) <= NEAR_FLOAT);
    assert.ok(errorOnScale(only(got, "y2"), only(float, "y2")) <= NEAR_FLOAT);

    // a 2-D input has no sequence axis: check row 0 alone against row 0 in the batch
    const alone = await runOnnx(quantized, { x: floats(x.slice(0, k), [1, k]) });
    assert.deepEqual(only(alone, "y2"), only(got, "y2").slice(0, n));
  });

  test("Gather: the embedding table is gathered as int8 and the rows scaled", async () => {
    const [v, h] = [100, 32];
    const table = randomValues(v * h, 7);
    const bytes = modelBytes(
      graph("gather", {
        inputs: [value("ids", INT64, ["batch", "sequence"])],
        outputs: [value("e", FLOAT, ["batch", "sequence", h])],
        nodes: [makeNode("Gather", ["table", "ids"], ["e"], "embed")],
        initializers: [makeTensor("table", [v, h], table)],
      }),
    );
    const { bytes: quantized, report } = quantizeOnnx(bytes);
    assert.deepEqual(report.quantized, ["table"]);
    const tokens = [3, 99, 0, 42, 3, 7];
    const got = only(await runOnnx(quantized, { ids: ids(tokens, [2, 3]) }), "e");
    const q = quantizeChannels(table, v, h, 0);
    const expected = new Float32Array(
      tokens.flatMap((t) =>
        Array.from({ length: h }, (_, i) => (q.values[t * h + i] as number) * (q.scales[t] as number)),
      ),
    );
    assert.deepEqual(got, expected);
    const float = only(await runOnnx(bytes, { ids: ids(tokens, [2, 3]) }), "e");
    assert.ok(errorOnScale(got, float) <= 0.01);
  });

  test("tied embedding: Gather and the head's MatMul through a Transpose share one int8 table", async () => {
    const [v, h] = [96, 32];
    const table = randomValues(v * h, 8);
    const bytes = modelBytes(
      graph("tied", {
        inputs: [value("ids", INT64, ["batch", "sequence"])],
        outputs: [value("logits", FLOAT, ["batch", "sequence", v])],
        nodes: [
          makeNode("Gather", ["table", "ids"], ["hidden"], "embed"),
          makeNode("Transpose", ["table"], ["table_t"], "head_weight", { perm: [1, 0] }),
          makeNode("MatMul", ["hidden", "table_t"], ["logits"], "head"),
        ],
        initializers: [makeTensor("table", [v, h], table)],
      }),
    );
    const { bytes: quantized, report } = quantizeOnnx(bytes);
    assert.deepEqual(report, { quantized: ["table"], joined: [], kept: [] });
    const stored = decodeModel(quantized).graph?.initializer.filter((t) => t.dims.length === 2) ?? [];
    assert.deepEqual(
      stored.map((t) => [t.dataType, t.dims.map(Number)]),
      [
        [3, [v, h]], // int8 table
        [1, [v, 1]], // its row scales, the head's column scales being a [V] copy
      ],
    );

    const tokens = [5, 17, 95, 0, 17, 60, 1, 2, 3, 4, 5, 6];
    const run = async (t: number[], dims: number[]) =>
      only(await runOnnx(quantized, { ids: ids(t, dims) }), "logits");
    const got = await run(tokens, [2, 6]);
    const q = quantizeChannels(table, v, h, 0);
    const hidden = new Float32Array(
      tokens.flatMap((t) =>
        Array.from({ length: h }, (_, i) => (q.values[t * h + i] as number) * (q.scales[t] as number)),
      ),
    );
    const expected = int8MatMul(hidden, h, transposeInt8(q.values, v, h), v, q.scales);
    assert.ok(maxRelativeError(got, expected) <= SAME_ARITHMETIC);
    const float = only(await runOnnx(bytes, { ids: ids(tokens, [2, 6]) }), "logits");
    assert.ok(errorOnScale(got, float) <= NEAR_FLOAT, `error ${errorOnScale(got, float)}`);

    assert.deepEqual(await run(tokens.slice(0, 6), [1, 6]), got.slice(0, 6 * v), "row 0 alone");
    const split = [...(await run(tokens.slice(0, 2), [1, 2])), ...(await run(tokens.slice(2, 6), [1, 4]))];
    assert.deepEqual(new Float32Array(split), got.slice(0, 6 * v), "sequence fed in two parts");
  });

  test("If: a weight of the outer graph read in both branches, one of a branch read there", async () => {
    const [k, n] = [32, 40];
    const shared = randomValues(k * n, 9);
    const local = randomValues(k * n, 10);
    const thenBranch = graph("then", {
      outputs: [value("then_y", FLOAT)],
      nodes: [makeNode("MatMul", ["x", "shared"], ["then_y"], "then_matmul")],
    });
    const elseBranch = graph("else", {
      outputs: [value("else_y", FLOAT)],
      nodes: [
        makeNode("MatMul", ["x", "shared"], ["else_a"], "else_shared"),
        makeNode("MatMul", ["x", "local"], ["else_b"], "else_local"),
        makeNode("Add", ["else_a", "else_b"], ["else_y"], "else_add"),
      ],
      initializers: [makeTensor("local", [k, n], local)],
    });
    const bytes = mergedModel(thenBranch, elseBranch, k, n, [makeTensor("shared", [k, n], shared)]);
    const { bytes: quantized, report } = quantizeOnnx(bytes);
    assert.deepEqual(report.quantized.sort(), ["local", "shared"]);
    const top = decodeModel(quantized).graph;
    assert.ok(
      top?.initializer.some((t) => t.name === "shared_quantized"),
      "the shared weight stays outside",
    );
    assert.ok(!top?.initializer.some((t) => t.name.startsWith("local")), "the branch's weight stays inside");

    const x = randomValues(3 * 4 * k, 11, 2);
    const dims = [3, 4, k];
    const qs = quantizeChannels(shared, k, n, 1);
    const ql = quantizeChannels(local, k, n, 1);
    const a = int8MatMul(x, k, qs.values, n, qs.scales);
    const b = int8MatMul(x, k, ql.values, n, ql.scales);
    for (const cache of [true, false]) {
      const run: Run = async (input, d) =>
        only(await runOnnx(quantized, { x: floats(input, d), use_cache_branch: flag(cache) }), "y");
      const got = await run(x, dims);
      const expected = cache ? a : a.map((value, i) => Math.fround(value + (b[i] as number)));
      assert.ok(maxRelativeError(got, expected) <= SAME_ARITHMETIC, `branch ${cache}`);
      const float = only(await runOnnx(bytes, { x: floats(x, dims), use_cache_branch: flag(cache) }), "y");
      assert.ok(errorOnScale(got, float) <= NEAR_FLOAT);
      await assertRowsIndependent(run, x, dims, n);
    }
  });

  test("a weight also read by an op no rewrite handles stays float", async () => {
    const [k, n] = [32, 32];
    const w = randomValues(k * n, 12);
    const bytes = modelBytes(
      graph("kept", {
        inputs: [value("x", FLOAT, ["rows", k])],
        outputs: [value("y", FLOAT, ["rows", n])],
        nodes: [makeNode("MatMul", ["x", "w"], ["xw"], "matmul"), makeNode("Add", ["xw", "w"], ["y"], "add")],
        initializers: [makeTensor("w", [k, n], w)],
      }),
    );
    const { bytes: quantized, report } = quantizeOnnx(bytes);
    assert.deepEqual(report, { quantized: [], joined: [], kept: ["w"] });
    const x = randomValues(k * k, 13);
    const expected = await runOnnx(bytes, { x: floats(x, [k, k]) });
    assert.deepEqual(await runOnnx(quantized, { x: floats(x, [k, k]) }), expected);
  });

  test("options: keepFloat leaves a chosen weight float; per-tensor activations use DynamicQuantizeMatMul", async () => {
    const [k, n] = [64, 48];
    const [a, b] = [randomValues(k * n, 14), randomValues(n * n, 15)];
    const bytes = modelBytes(
      graph("two", {
        inputs: [value("x", FLOAT, ["rows", k])],
        outputs: [value("y", FLOAT, ["rows", n])],
        nodes: [
          makeNode("MatMul", ["x", "a"], ["xa"], "first"),
          makeNode("MatMul", ["xa", "b"], ["y"], "second"),
        ],
        initializers: [makeTensor("a", [k, n], a), makeTensor("b", [n, n], b)],
      }),
    );
    const x = randomValues(3 * k, 16, 3);
    const float = only(await runOnnx(bytes, { x: floats(x, [3, k]) }), "y");
    const ops = (model: Uint8Array) => decodeModel(model).graph?.node.map((node) => node.opType) ?? [];

    const kept = quantizeOnnx(bytes, { keepFloat: (weight) => weight.tensor.name === "b" });
    assert.deepEqual(kept.report, { quantized: ["a"], joined: [], kept: ["b"] });
    assert.equal(ops(kept.bytes).filter((op) => op === "MatMul").length, 1);
    const keptOut = only(await runOnnx(kept.bytes, { x: floats(x, [3, k]) }), "y");
    assert.ok(errorOnScale(keptOut, float) <= NEAR_FLOAT, `error ${errorOnScale(keptOut, float)}`);

    const tensor = quantizeOnnx(bytes, { activations: "tensor" });
    assert.deepEqual(ops(tensor.bytes), ["DynamicQuantizeMatMul", "DynamicQuantizeMatMul"]);
    const tensorOut = only(await runOnnx(tensor.bytes, { x: floats(x, [3, k]) }), "y");
    assert.ok(errorOnScale(tensorOut, float) <= NEAR_FLOAT, `error ${errorOnScale(tensorOut, float)}`);
  });

  for (const opset of [12, 14]) {
    test(`join (opset ${opset}): MatMuls reading one activation become one MatMul and a Split, to the bit`, async () => {
      const k = 64;
      const widths = { q: 32, k: 16, v: 16, other: 24 };
      const weights = Object.fromEntries(
        Object.entries(widths).map(([name, n], i) => [name, randomValues(k * n, 20 + i)]),
      );
      const bytes = modelBytes(
        graph("qkv", {
          inputs: [value("x", FLOAT, ["batch", "sequence", k])],
          outputs: ["q", "k", "v", "o"].map((name) => value(name, FLOAT)),
          nodes: [
            makeNode("MatMul", ["x", "wq"], ["q"], "q_proj"),
            makeNode("MatMul", ["x", "wk"], ["k"], "k_proj"),
            makeNode("Relu", ["x"], ["rx"], "relu"),
            makeNode("MatMul", ["rx", "wother"], ["o"], "other_proj"),
            makeNode("MatMul", ["x", "wv"], ["v"], "v_proj"),
          ],
          initializers: Object.entries(weights).map(([name, w]) =>
            makeTensor(`w${name}`, [k, widths[name as keyof typeof widths]], w),
          ),
        }),
        opset,
      );
      const joined = quantizeOnnx(bytes);
      const separate = quantizeOnnx(bytes, { join: false });
      assert.deepEqual(joined.report.joined, [{ name: "wq+wk+wv_joined", parts: ["wq", "wk", "wv"] }]);
      assert.deepEqual(joined.report.quantized.sort(), ["wk", "wother", "wq", "wv"]);
      assert.deepEqual(separate.report.joined, []);
      const count = (model: Uint8Array, op: string) =>
        decodeModel(model).graph?.node.filter((node) => node.opType === op).length;
      assert.equal(count(joined.bytes, "MatMulIntegerToFloat"), 2, "q, k, v in one integer MatMul");
      assert.equal(count(joined.bytes, "Split"), 1);
      assert.equal(count(separate.bytes, "MatMulIntegerToFloat"), 4);

      const x = randomValues(3 * 5 * k, 24, 2);
      const feeds = { x: floats(x, [3, 5, k]) };
      assert.deepEqual(await runOnnx(joined.bytes, feeds), await runOnnx(separate.bytes, feeds));
      const q = quantizeChannels(weights.k as Float32Array, k, widths.k, 1);
      const got = only(await runOnnx(joined.bytes, feeds), "k");
      assert.ok(maxRelativeError(got, int8MatMul(x, k, q.values, widths.k, q.scales)) <= SAME_ARITHMETIC);
    });
  }

  test("join: the joined MatMul takes the first MatMul's place, whatever order the weights are stored in", async () => {
    const [k, n] = [48, 32];
    const bytes = modelBytes(
      graph("order", {
        inputs: [value("x", FLOAT, ["rows", k])],
        outputs: [value("rb", FLOAT), value("a", FLOAT)],
        nodes: [
          makeNode("MatMul", ["x", "wb"], ["b"], "b_proj"),
          makeNode("Relu", ["b"], ["rb"], "relu"),
          makeNode("MatMul", ["x", "wa"], ["a"], "a_proj"),
        ],
        initializers: [
          makeTensor("wa", [k, n], randomValues(k * n, 40)),
          makeTensor("wb", [k, n], randomValues(k * n, 41)),
        ],
      }),
    );
    const joined = quantizeOnnx(bytes);
    assert.deepEqual(joined.report.joined, [{ name: "wb+wa_joined", parts: ["wb", "wa"] }]);
    const nodes = decodeModel(joined.bytes).graph?.node ?? [];
    const produced = new Set([
      "x",
      ...(decodeModel(joined.bytes).graph?.initializer.map((t) => t.name) ?? []),
    ]);
    for (const node of nodes) {
      for (const input of node.input)
        assert.ok(produced.has(input), `${node.name} reads ${input} before it is written`);
      for (const output of node.output) produced.add(output);
    }
    const feeds = { x: floats(randomValues(3 * k, 42), [3, k]) };
    assert.deepEqual(
      await runOnnx(joined.bytes, feeds),
      await runOnnx(quantizeOnnx(bytes, { join: false }).bytes, feeds),
    );
  });

  test("join in If branches: weights read together in both branches are joined once, outside", async () => {
    const [k, n] = [48, 24];
    const names = ["wq", "wk", "wv", "wa", "wb"];
    const weights = names.map((name, i) => makeTensor(name, [k, n], randomValues(k * n, 30 + i)));
    const projections = (prefix: string, input: string, read: string[]) =>
      read.map((w) => makeNode("MatMul", [input, w], [`${prefix}_${w}`], `${prefix}_${w}_proj`));
    const sumOf = (prefix: string, read: string[], output: string) =>
      makeNode(
        "Sum",
        read.map((w) => `${prefix}_${w}`),
        [output],
        `${prefix}_sum`,
      );
    // q, k, v and a: read together in both branches, on each branch's own activation (in another
    // order in the other); b: with them in one branch, alone in the other, so it stays apart
    const thenBranch = graph("then", {
      outputs: [value("then_y", FLOAT)],
      nodes: [
        makeNode("Neg", ["x"], ["then_x"], "then_neg"),
        ...projections("then", "then_x", ["wq", "wk", "wv", "wa", "wb"]),
        sumOf("then", ["wq", "wk", "wv", "wa", "wb"], "then_y"),
      ],
    });
    const elseBranch = graph("else", {
      outputs: [value("else_y", FLOAT)],
      nodes: [
        ...projections("else", "x", ["wv", "wq", "wa", "wk"]),
        makeNode("Relu", ["x"], ["else_rx"], "else_relu"),
        ...projections("else", "else_rx", ["wb"]),
        makeNode("Mul", ["else_wq", "else_wb"], ["else_qb"], "else_mul"),
        sumOf("else", ["wk", "wv", "wa"], "else_kva"),
        makeNode("Sub", ["else_kva", "else_qb"], ["else_y"], "else_sub"),
      ],
    });
    const bytes = mergedModel(thenBranch, elseBranch, k, n, weights);
    const joined = quantizeOnnx(bytes);
    const separate = quantizeOnnx(bytes, { join: false });
    assert.deepEqual(joined.report.joined, [{ name: "wq+wk+wv+wa_joined", parts: ["wq", "wk", "wv", "wa"] }]);
    const top = decodeModel(joined.bytes).graph;
    const int8 = top?.initializer.filter((t) => t.dataType === 3).map((t) => [t.name, t.dims.map(Number)]);
    assert.deepEqual(int8?.sort(), [
      ["wb_quantized", [k, n]],
      ["wq+wk+wv+wa_joined_quantized", [k, 4 * n]],
    ]);
    const branches = top?.node[0]?.attribute.map((a) => a.g?.node.map((node) => node.opType) ?? []) ?? [];
    for (const ops of branches) {
      assert.equal(ops.filter((op) => op === "MatMulIntegerToFloat").length, 2, "q, k, v, a joined; b apart");
      assert.equal(ops.filter((op) => op === "Split").length, 1);
    }

    const x = randomValues(2 * 3 * k, 36, 2);
    for (const cache of [true, false]) {
      const feeds = { x: floats(x, [2, 3, k]), use_cache_branch: flag(cache) };
      assert.deepEqual(
        await runOnnx(joined.bytes, feeds),
        await runOnnx(separate.bytes, feeds),
        `branch ${cache}`,
      );
    }
  });
});
