import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  decodeModel,
  type GraphProto,
  makeNode,
  makeTensor,
  type NodeProto,
  subgraphs,
  type TensorProto,
} from "../cli/lib/quantize/onnx.js";
import { quantizeOnnx } from "../cli/lib/quantize/rewrite.js";
import type { Weight } from "../cli/lib/quantize/uses.js";
import { quantizeChannels } from "../cli/lib/quantize/weights.js";
import { MODELS_DIR } from "../host/paths.js";
import type { Ort } from "../src/runtime/ort.js";
import { startOrtInNode } from "../src/runtime/ort-node.js";
import { FLOAT, graph, modelBytes, randomValues, value } from "../test/unit/helpers/graphs.js";
import { fuseSharedMatMuls } from "./fuse-matmuls.js";
import { mb, ms, percentile, ratio, table, timeInterleaved } from "./stats.js";

/**
 * The int8 layouts in one run: float MatMul, today's 8-bit MatMulNBits (as int8.py writes it) and
 * the per-row int8 layout of `models:quantize` (MatMulIntegerToFloat) and onnxruntime's fused per-tensor
 * DynamicQuantizeMatMul, on a stack of residual MLP blocks with random weights (generated here, about 59 MB
 * of int8), then shop-assistant float vs requantized, also with its attention projections left float.
 * Times are per `session.run` in onnxruntime-web (WASM, one thread), interleaved round by round;
 * memory is the wasm growth while creating a session, each in a fresh process.
 */
const LAYERS = 7;
const HIDDEN = 1024;
const FFN = 4096;
const ROUNDS = { 1: 20, 8: 8 } as const;
const SHOP_ROUNDS = 60;
const PROMPT = 24;

type Layout =
  | "fp32"
  | "MatMulNBits-8 (today)"
  | "per-row int8 (models:quantize)"
  | "per-tensor DynamicQuantizeMatMul (batch-dependent)";

/** Attention projections (q, k, v, o) by their exported node names: the split variant keeps them float. */
const attentionFloat = (weight: Weight) => weight.uses.some((use) => /self_attn/.test(use.node.name));

/** int8.py's `_nbits_weight`: q + 128 as uint8 [N, blocks, block], K padded, channel scale per block. */
function nbitsWeight(name: string, weight: Float32Array, k: number, n: number) {
  const { values, scales } = quantizeChannels(weight, k, n, 1);
  const block = Math.max(16, Math.min(256, 2 ** Math.ceil(Math.log2(k))));
  const blocks = Math.ceil(k / block);
  const packed = new Uint8Array(n * blocks * block).fill(128);
  for (let c = 0; c < n; c++) {
    for (let i = 0; i < k; i++) packed[c * blocks * block + i] = (values[i * n + c] as number) + 128;
  }
  const blockScales = new Float32Array(n * blocks).map((_, i) => scales[Math.floor(i / blocks)] as number);
  return {
    tensors: [
      makeTensor(`${name}_nbits`, [n, blocks, block], packed),
      makeTensor(`${name}_scales`, [n * blocks], blockScales),
    ],
    attributes: { K: k, N: n, bits: 8, block_size: block, accuracy_level: 0 },
  };
}

/** h <- h + W_down(relu(W_up h)), LAYERS times; weights uniform in ±1/sqrt(fan in). */
function mlpStack(nbits: boolean): Uint8Array {
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let h = "x";
  for (let layer = 0; layer < LAYERS; layer++) {
    const matmul = (input: string, name: string, k: number, n: number, seed: number) => {
      const weight = randomValues(k * n, seed, 1 / Math.sqrt(k));
      if (!nbits) {
        initializers.push(makeTensor(name, [k, n], weight));
        nodes.push(makeNode("MatMul", [input, name], [`${name}_out`], `${name}_matmul`));
      } else {
        const { tensors, attributes } = nbitsWeight(name, weight, k, n);
        initializers.push(...tensors);
        const inputs = [input, ...tensors.map((t) => t.name)];
        nodes.push(
          makeNode("MatMulNBits", inputs, [`${name}_out`], `${name}_nbits`, attributes, "com.microsoft"),
        );
      }
      return `${name}_out`;
    };
    const up = matmul(h, `layer${layer}_up`, HIDDEN, FFN, 2 * layer + 1);
    nodes.push(makeNode("Relu", [up], [`layer${layer}_relu`], `layer${layer}_relu`));
    const down = matmul(`layer${layer}_relu`, `layer${layer}_down`, FFN, HIDDEN, 2 * layer + 2);
    nodes.push(makeNode("Add", [h, down], [`layer${layer}_h`], `layer${layer}_residual`));
    h = `layer${layer}_h`;
  }
  nodes.push(makeNode("Identity", [h], ["y"], "output"));
  const top = graph("mlp_stack", {
    inputs: [value("x", FLOAT, ["rows", HIDDEN])],
    outputs: [value("y", FLOAT, ["rows", HIDDEN])],
    nodes,
    initializers,
  });
  return modelBytes(top, 17, nbits);
}

/**
 * "p50 / p10" of a runner's times, and its ratio to fp32's at each: on a shared machine a preempted
 * round only ever adds time, so the low percentile shows the layouts' own cost more steadily.
 */
function spread(times: number[]): [number, number] {
  return [percentile(times, 50), percentile(times, 10)];
}

function spreadCells(own: [number, number], fp32: [number, number]): [string, string] {
  return [`${ms(own[0])} / ${ms(own[1])}`, `${ratio(own[0], fp32[0])} / ${ratio(own[1], fp32[1])}`];
}

const execFileAsync = promisify(execFile);
const loadMemoryScript = fileURLToPath(new URL("./load-memory.ts", import.meta.url));

/** Wasm memory growth and session creation time for a file, in a fresh process. */
async function loadCost(dir: string, name: string, bytes: Uint8Array) {
  const path = join(dir, name);
  await writeFile(path, bytes);
  const { stdout } = await execFileAsync(process.execPath, ["--import", "tsx", loadMemoryScript, path]);
  return JSON.parse(stdout) as { grownBytes: number; createMs: number };
}

async function session(ort: Ort, bytes: Uint8Array) {
  return ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
}

async function benchStack(ort: Ort, dir: string): Promise<string> {
  process.stderr.write("quantize: building the MLP stack in three layouts\n");
  const fp32 = mlpStack(false);
  const files: Record<Layout, Uint8Array> = {
    fp32,
    "MatMulNBits-8 (today)": mlpStack(true),
    "per-row int8 (models:quantize)": quantizeOnnx(fp32).bytes,
    "per-tensor DynamicQuantizeMatMul (batch-dependent)": quantizeOnnx(fp32, { activations: "tensor" }).bytes,
  };
  const layouts = Object.keys(files) as Layout[];
  const costs = new Map<Layout, { grownBytes: number; createMs: number }>();
  for (const layout of layouts)
    costs.set(layout, await loadCost(dir, `stack-${costs.size}.onnx`, files[layout]));
  const sessions = new Map<Layout, Awaited<ReturnType<typeof session>>>();
  for (const layout of layouts) sessions.set(layout, await session(ort, files[layout]));

  const spreads = new Map<string, [number, number]>();
  for (const rows of [1, 8] as const) {
    process.stderr.write(`quantize: MLP stack, ${rows} row(s)\n`);
    const x = new ort.Tensor("float32", randomValues(rows * HIDDEN, 99), [rows, HIDDEN]);
    const runners = Object.fromEntries(
      layouts.map((layout) => [
        layout,
        () => (sessions.get(layout) as Awaited<ReturnType<typeof session>>).run({ x }),
      ]),
    ) as Record<Layout, () => Promise<unknown>>;
    const times = await timeInterleaved(ROUNDS[rows], runners);
    for (const layout of layouts) spreads.set(`${layout}/${rows}`, spread(times[layout]));
  }
  for (const s of sessions.values()) await s.release();

  const params = LAYERS * 2 * HIDDEN * FFN;
  const rowsOut = layouts.map((layout) => {
    const cost = costs.get(layout) ?? { grownBytes: Number.NaN, createMs: Number.NaN };
    const missing: [number, number] = [Number.NaN, Number.NaN];
    const at = (key: string) => spreads.get(key) ?? missing;
    return [
      layout,
      mb(files[layout].byteLength),
      ...spreadCells(at(`${layout}/1`), at("fp32/1")),
      ...spreadCells(at(`${layout}/8`), at("fp32/8")),
      mb(cost.grownBytes),
      ratio(cost.grownBytes, files[layout].byteLength),
      ms(cost.createMs),
    ];
  });
  return [
    `### int8 layouts: ${LAYERS} residual MLP blocks (${HIDDEN} -> ${FFN} -> ${HIDDEN}, ${(params / 1e6).toFixed(1)} M parameters, random weights)`,
    "",
    `One \`session.run\` of x [rows, ${HIDDEN}], p50 / p10 of ${ROUNDS[1]} (1 row) and ${ROUNDS[8]} (8 rows) interleaved rounds; ratios are against fp32's p50 / p10 in the same run (lower is faster). Load: wasm memory growth while creating the session, in a fresh process.`,
    "",
    table(
      [
        "layout",
        "file MB",
        "1 row p50 / p10 ms",
        "vs fp32",
        "8 rows p50 / p10 ms",
        "vs fp32",
        "wasm growth on load MB",
        "growth / file",
        "session create ms",
      ],
      rowsOut,
    ),
  ].join("\n");
}

/** Which quantized matmul ops a file uses, so the committed int8 file is labelled by its layout. */
function quantizedMatMulOps(bytes: Uint8Array): string {
  const ops = new Set<string>();
  const visit = (g: GraphProto) => {
    for (const node of g.node) {
      if (/^MatMul(NBits|Integer)/.test(node.opType)) ops.add(node.opType);
      for (const body of subgraphs(node)) visit(body);
    }
  };
  const top = decodeModel(bytes).graph;
  if (top) visit(top);
  return [...ops].join(", ") || "no quantized MatMul";
}

async function benchShopAssistant(ort: Ort, dir: string): Promise<string> {
  process.stderr.write("quantize: shop-assistant\n");
  const folder = join(MODELS_DIR, "shop-assistant");
  const config = JSON.parse(await readFile(join(folder, "config.json"), "utf8")) as {
    num_hidden_layers: number;
    num_key_value_heads: number;
    head_dim: number;
    vocab_size: number;
  };
  const fp32 = new Uint8Array(await readFile(join(folder, "onnx", "model.onnx")));
  const committed = new Uint8Array(await readFile(join(folder, "onnx", "model_quantized.onnx")));
  const variants: { label: string; bytes: Uint8Array; grownBytes: number }[] = [];
  for (const [label, bytes] of [
    ["fp32", fp32],
    [`committed model_quantized.onnx (${quantizedMatMulOps(committed)})`, committed],
    ["per-row int8 (models:quantize)", quantizeOnnx(fp32).bytes],
    [
      "per-tensor DynamicQuantizeMatMul (batch-dependent)",
      quantizeOnnx(fp32, { activations: "tensor" }).bytes,
    ],
    ["per-row int8, attention projections fp32", quantizeOnnx(fp32, { keepFloat: attentionFloat }).bytes],
  ] as const) {
    const { grownBytes } = await loadCost(dir, `shop-${variants.length}.onnx`, bytes);
    variants.push({ label, bytes, grownBytes });
  }

  const int64 = (values: number[], dims: number[]) =>
    new ort.Tensor("int64", BigInt64Array.from(values.map(BigInt)), dims);
  const prompt = Array.from({ length: PROMPT }, (_, i) => 3 + ((i * 37) % (config.vocab_size - 3)));
  const emptyPast = new ort.Tensor("float32", new Float32Array(0), [
    1,
    config.num_key_value_heads,
    0,
    config.head_dim,
  ]);
  const pastNames = Array.from({ length: config.num_hidden_layers }, (_, i) => [
    `past_key_values.${i}.key`,
    `past_key_values.${i}.value`,
  ]).flat();
  const prefillFeeds = {
    input_ids: int64(prompt, [1, PROMPT]),
    attention_mask: int64(
      prompt.map(() => 1),
      [1, PROMPT],
    ),
    position_ids: int64(
      prompt.map((_, i) => i),
      [1, PROMPT],
    ),
    ...Object.fromEntries(pastNames.map((name) => [name, emptyPast])),
  };
  const runners: Record<string, () => Promise<unknown>> = {};
  const sessions = [];
  for (const { label, bytes } of variants) {
    const s = await session(ort, bytes);
    sessions.push(s);
    const prefilled = await s.run(prefillFeeds);
    const decodeFeeds = {
      input_ids: int64([5], [1, 1]),
      attention_mask: int64(
        Array.from({ length: PROMPT + 1 }, () => 1),
        [1, PROMPT + 1],
      ),
      position_ids: int64([PROMPT], [1, 1]),
      ...Object.fromEntries(
        pastNames.map((name) => [name, prefilled[name.replace("past_key_values", "present")]]),
      ),
    };
    runners[`${label}/prefill`] = () => s.run(prefillFeeds);
    runners[`${label}/decode`] = () => s.run(decodeFeeds as never);
  }
  const times = await timeInterleaved(SHOP_ROUNDS, runners);
  for (const s of sessions) await s.release();
  const at = (key: string) => spread(times[key] ?? []);
  const rowsOut = variants.map(({ label, bytes, grownBytes }) => [
    label,
    mb(bytes.byteLength),
    ...spreadCells(at(`${label}/prefill`), at("fp32/prefill")),
    ...spreadCells(at(`${label}/decode`), at("fp32/decode")),
    mb(grownBytes),
    ratio(grownBytes, bytes.byteLength),
  ]);
  return [
    "### shop-assistant: float, the committed int8 file and requantized (bare onnxruntime-web, batch 1)",
    "",
    `Prefill of a ${PROMPT}-token prompt and one decode step on its KV cache, p50 / p10 of ${SHOP_ROUNDS} interleaved rounds; ratios against fp32's.`,
    "",
    table(
      [
        "variant",
        "file MB",
        `prefill ${PROMPT} p50 / p10 ms`,
        "vs fp32",
        "decode step p50 / p10 ms",
        "vs fp32",
        "wasm growth on load MB",
        "growth / file",
      ],
      rowsOut,
    ),
  ].join("\n");
}

type Session = Awaited<ReturnType<typeof session>>;
type Feeds = Record<string, InstanceType<Ort["Tensor"]>>;

/** One ONNX file of a bundled model and the shapes it is timed at: a label and the feeds per shape. */
interface SmallModel {
  label: string;
  file: string;
  shapes: Record<string, (ort: Ort, s: Session) => Promise<Feeds>>;
}

/**
 * Variants of a small model's int8 layout, each to find what the int8 time goes to: the committed
 * file, and the float file requantized with one kind of weight left float (attention projections,
 * the feed-forward layers, the embedding tables), or with onnxruntime's per-tensor fused op.
 */
const ATTENTION = /attn|attention/i;
const FEED_FORWARD = /fc1|fc2|intermediate|output\/dense/i;
const readsNode = (keep: (name: string) => boolean) => (weight: Weight) =>
  weight.uses.some((use) => keep(use.node.name));
const SMALL_VARIANTS: [string, (fp32: Uint8Array) => Uint8Array][] = [
  [
    "per-row int8, attention fp32",
    (fp32) => quantizeOnnx(fp32, { keepFloat: readsNode((name) => ATTENTION.test(name)) }).bytes,
  ],
  [
    "per-row int8, feed-forward fp32",
    (fp32) =>
      quantizeOnnx(fp32, {
        keepFloat: readsNode((name) => FEED_FORWARD.test(name) && !ATTENTION.test(name)),
      }).bytes,
  ],
  [
    "per-row int8, embeddings (and a tied head) fp32",
    (fp32) => quantizeOnnx(fp32, { keepFloat: (w) => w.uses.some((use) => use.kind === "gather") }).bytes,
  ],
  [
    "per-row int8, MatMuls of one activation joined (q, k, v)",
    (fp32) => quantizeOnnx(fuseSharedMatMuls(fp32)).bytes,
  ],
  ["fp32, MatMuls of one activation joined", (fp32) => fuseSharedMatMuls(fp32)],
  [
    "per-tensor DynamicQuantizeMatMul (batch-dependent)",
    (fp32) => quantizeOnnx(fp32, { activations: "tensor" }).bytes,
  ],
];
const SMALL_ROUNDS = 40;
const TOKENS = 12;

function int64(ort: Ort, values: number[], dims: number[]) {
  return new ort.Tensor("int64", BigInt64Array.from(values.map(BigInt)), dims);
}

function ids(ort: Ort, rows: number, tokens: number) {
  const values = Array.from({ length: rows * tokens }, (_, i) => 5 + ((i * 37) % 2000));
  return {
    ids: int64(ort, values, [rows, tokens]),
    mask: int64(
      ort,
      values.map(() => 1),
      [rows, tokens],
    ),
    zeros: int64(
      ort,
      values.map(() => 0),
      [rows, tokens],
    ),
  };
}

/** A merged seq2seq decoder's second step: its first step on an encoder output, then one token on the cache. */
async function decoderStepFeeds(ort: Ort, s: Session, rows: number): Promise<Feeds> {
  const hidden = 256;
  const heads = 4;
  const headDim = 64;
  const encoded = new ort.Tensor("float32", randomValues(rows * TOKENS * hidden, 7), [rows, TOKENS, hidden]);
  const empty = new ort.Tensor("float32", new Float32Array(0), [rows, heads, 0, headDim]);
  const past = s.inputNames.filter((name) => name.startsWith("past_key_values."));
  const common = { encoder_attention_mask: ids(ort, rows, TOKENS).mask, encoder_hidden_states: encoded };
  const first = await s.run({
    ...common,
    input_ids: int64(ort, Array(rows).fill(3004), [rows, 1]),
    use_cache_branch: new ort.Tensor("bool", [false], [1]),
    ...Object.fromEntries(past.map((name) => [name, empty])),
  });
  return {
    ...common,
    input_ids: int64(ort, Array(rows).fill(17), [rows, 1]),
    use_cache_branch: new ort.Tensor("bool", [true], [1]),
    ...Object.fromEntries(past.map((name) => [name, first[name.replace("past_key_values", "present")]])),
  } as Feeds;
}

const SMALL_MODELS: SmallModel[] = [
  {
    label: "intent-bert",
    file: "intent-bert/onnx/model",
    shapes: Object.fromEntries(
      [1, 32].map((rows) => [
        `${rows} x ${TOKENS}`,
        async (ort: Ort) => {
          const { ids: input_ids, mask, zeros } = ids(ort, rows, TOKENS);
          return { input_ids, attention_mask: mask, token_type_ids: zeros };
        },
      ]),
    ),
  },
  {
    label: "phrase-translator encoder",
    file: "phrase-translator/onnx/encoder_model",
    shapes: Object.fromEntries(
      [1, 16].map((rows) => [
        `${rows} x ${TOKENS}`,
        async (ort: Ort) => {
          const { ids: input_ids, mask } = ids(ort, rows, TOKENS);
          return { input_ids, attention_mask: mask };
        },
      ]),
    ),
  },
  {
    label: "phrase-translator decoder (merged, cached step)",
    file: "phrase-translator/onnx/decoder_model_merged",
    shapes: Object.fromEntries(
      [1, 16].map((rows) => [`${rows} row(s)`, (ort: Ort, s: Session) => decoderStepFeeds(ort, s, rows)]),
    ),
  },
];

/** Float against int8 on the small bundled models, with the variants that locate int8's cost. */
async function benchSmallModels(ort: Ort): Promise<string> {
  const sections: string[] = [];
  for (const model of SMALL_MODELS) {
    process.stderr.write(`quantize: ${model.label}\n`);
    const fp32 = new Uint8Array(await readFile(join(MODELS_DIR, `${model.file}.onnx`)));
    const committed = new Uint8Array(await readFile(join(MODELS_DIR, `${model.file}_quantized.onnx`)));
    const variants: [string, Uint8Array][] = [
      ["fp32", fp32],
      [`committed int8 (${quantizedMatMulOps(committed)})`, committed],
      ...SMALL_VARIANTS.map(([label, make]): [string, Uint8Array] => [label, make(fp32)]),
    ];
    const runners: Record<string, () => Promise<unknown>> = {};
    const sessions: Session[] = [];
    for (const [label, bytes] of variants) {
      const s = await session(ort, bytes);
      sessions.push(s);
      for (const [shape, feedsFor] of Object.entries(model.shapes)) {
        const feeds = await feedsFor(ort, s);
        runners[`${label}/${shape}`] = () => s.run(feeds);
      }
    }
    const times = await timeInterleaved(SMALL_ROUNDS, runners);
    for (const s of sessions) await s.release();
    const shapes = Object.keys(model.shapes);
    const at = (key: string) => spread(times[key] ?? []);
    const rowsOut = variants.map(([label, bytes]) => [
      label,
      mb(bytes.byteLength),
      ...shapes.flatMap((shape) => spreadCells(at(`${label}/${shape}`), at(`fp32/${shape}`))),
    ]);
    sections.push(
      [
        `#### ${model.label}`,
        "",
        table(
          ["variant", "file MB", ...shapes.flatMap((shape) => [`${shape} p50 / p10 ms`, "vs fp32"])],
          rowsOut,
        ),
      ].join("\n"),
    );
  }
  return [
    "### The small bundled models: float against int8, and where int8's time goes (bare onnxruntime-web)",
    "",
    `One \`session.run\` per shape (rows x tokens for the encoders; a cached decoder step after ${TOKENS} source tokens for the translator's merged decoder), p50 / p10 of ${SMALL_ROUNDS} interleaved rounds, ratios against fp32's in the same run (lower is faster). The variants requantize the float file with \`models:quantize\`'s quantizer, leaving one kind of weight float, after joining the MatMuls that read one activation (q, k and v: one quantization chain and one integer kernel for the three; the same values), or with the per-tensor fused op the issue rules out (a row's output then depends on its batch).`,
    "",
    ...sections.flatMap((section) => [section, ""]),
  ].join("\n");
}

export async function benchQuantize(): Promise<string> {
  const { ort } = await startOrtInNode();
  const dir = await mkdtemp(join(tmpdir(), "bench-quantize-"));
  try {
    return [await benchStack(ort, dir), await benchShopAssistant(ort, dir), await benchSmallModels(ort)].join(
      "\n\n",
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
