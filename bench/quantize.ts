import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { joinSharedMatMuls } from "../cli/lib/quantize/join.js";
import {
  decodeModel,
  defaultOpset,
  encodeModel,
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
import { nodeRegistry } from "../host/engine.js";
import { MemoryStore } from "../host/memory-store.js";
import { MODELS_DIR } from "../host/paths.js";
import type { Ort } from "../src/runtime/ort.js";
import { startOrtInNode } from "../src/runtime/ort-node.js";
import { generateIds } from "../src/tasks/causal-lm.js";
import { GREEDY } from "../src/tasks/sampling.js";
import { chatPrompt, openGenerator } from "../src/tasks/text-generation.js";
import { FLOAT, graph, modelBytes, randomValues, value } from "../test/unit/helpers/graphs.js";
import { bareLoop } from "./bare-loop.js";
import { PROMPTS } from "./generation.js";
import { mb, ms, percentile, ratio, table, timeInterleaved, timeIt } from "./stats.js";

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

type Session = Awaited<ReturnType<typeof session>>;
type Feeds = Record<string, InstanceType<Ort["Tensor"]>>;

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

interface ShopConfig {
  num_hidden_layers: number;
  num_key_value_heads: number;
  head_dim: number;
  vocab_size: number;
}

async function shopConfig(): Promise<ShopConfig> {
  return JSON.parse(await readFile(join(MODELS_DIR, "shop-assistant", "config.json"), "utf8")) as ShopConfig;
}

/** A PROMPT-token prefill on an empty cache, and the one-token decode step on the cache it returns. */
function shopFeeds(ort: Ort, config: ShopConfig) {
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
  const prefillFeeds: Feeds = {
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
  const decodeFeeds = (prefilled: Feeds): Feeds => ({
    input_ids: int64([5], [1, 1]),
    attention_mask: int64(
      Array.from({ length: PROMPT + 1 }, () => 1),
      [1, PROMPT + 1],
    ),
    position_ids: int64([PROMPT], [1, 1]),
    ...Object.fromEntries(
      pastNames.map((name) => [name, prefilled[name.replace("past_key_values", "present")] as Feeds[string]]),
    ),
  });
  return { prefillFeeds, decodeFeeds };
}

async function shopDecodeFeeds(ort: Ort, s: Session): Promise<Feeds> {
  const { prefillFeeds, decodeFeeds } = shopFeeds(ort, await shopConfig());
  return decodeFeeds(await s.run(prefillFeeds));
}

async function benchShopAssistant(ort: Ort, dir: string): Promise<string> {
  process.stderr.write("quantize: shop-assistant\n");
  const folder = join(MODELS_DIR, "shop-assistant");
  const config = await shopConfig();
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
    [
      "per-row int8, MatMuls of one activation apart (before the join)",
      quantizeOnnx(fp32, { join: false }).bytes,
    ],
    ["per-row int8, attention projections fp32", quantizeOnnx(fp32, { keepFloat: attentionFloat }).bytes],
  ] as const) {
    const { grownBytes } = await loadCost(dir, `shop-${variants.length}.onnx`, bytes);
    variants.push({ label, bytes, grownBytes });
  }

  const { prefillFeeds, decodeFeeds } = shopFeeds(ort, config);
  const runners: Record<string, () => Promise<unknown>> = {};
  const sessions = [];
  for (const { label, bytes } of variants) {
    const s = await session(ort, bytes);
    sessions.push(s);
    const decode = decodeFeeds(await s.run(prefillFeeds));
    runners[`${label}/prefill`] = () => s.run(prefillFeeds);
    runners[`${label}/decode`] = () => s.run(decode);
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
    "per-row int8, MatMuls of one activation apart (before the join)",
    (fp32) => quantizeOnnx(fp32, { join: false }).bytes,
  ],
  ["fp32, MatMuls of one activation joined", joinedFloat],
  [
    "per-tensor DynamicQuantizeMatMul (batch-dependent)",
    (fp32) => quantizeOnnx(fp32, { activations: "tensor" }).bytes,
  ],
];
const SMALL_ROUNDS = 40;

/** The float file with the quantizer's join applied and nothing quantized: what the join does to fp32. */
function joinedFloat(fp32: Uint8Array): Uint8Array {
  const model = decodeModel(fp32);
  joinSharedMatMuls(model, defaultOpset(model));
  return encodeModel(model);
}
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
    `One \`session.run\` per shape (rows x tokens for the encoders; a cached decoder step after ${TOKENS} source tokens for the translator's merged decoder), p50 / p10 of ${SMALL_ROUNDS} interleaved rounds, ratios against fp32's in the same run (lower is faster). The variants requantize the float file with \`models:quantize\`'s quantizer, leaving one kind of weight float, or without joining the MatMuls that read one activation first (q, k and v apart: one integer kernel and row-scale Mul each instead of one for the group; the same values), or with the per-tensor fused op the issue rules out (a row's output then depends on its batch); "fp32, joined" is the float file with only the join applied.`,
    "",
    ...sections.flatMap((section) => [section, ""]),
  ].join("\n");
}

const DECODE_TOKENS = 32;
const DECODE_ROUNDS = 20;
const DECODE_WARMUP = 3;

/**
 * shop-assistant's int8 and fp32 decoding 32 greedy tokens (EOS banned) in the bare loop and in the
 * engine, from the folder pushed to a memory store (the ORT copies, as the worker loads them), the
 * two dtypes taken in turn for every prompt so that a burst of load lands on both.
 */
async function benchShopDecode(): Promise<string> {
  process.stderr.write("quantize: shop-assistant decode, int8 and fp32 in turn\n");
  const store = new MemoryStore();
  await store.push(join(MODELS_DIR, "shop-assistant"), "shop-assistant");
  const registry = nodeRegistry(store);
  const manifest = await registry.manifest("shop-assistant");
  const dtypes = ["int8", "fp32"] as const;
  const leases = await Promise.all(dtypes.map((dtype) => openGenerator(registry, manifest, dtype)));
  const speeds = new Map<string, number[]>();
  const record = (key: string, first: number, total: number) =>
    speeds.set(key, [...(speeds.get(key) ?? []), ((DECODE_TOKENS - 1) * 1000) / (total - first)]);
  try {
    for (let round = -DECODE_WARMUP; round < DECODE_ROUNDS; round++) {
      for (const messages of PROMPTS) {
        for (const [index, dtype] of dtypes.entries()) {
          const generator = (leases[index] as (typeof leases)[number]).value;
          const prompt = chatPrompt(generator, messages);
          const bare = await bareLoop(generator.lm, prompt, DECODE_TOKENS);
          const options = { promptIds: prompt, sampling: GREEDY, seed: 0, eosIds: new Set<number>() };
          const [first] = await timeIt(() => generateIds(generator.lm, { ...options, maxNewTokens: 1 }));
          const [total] = await timeIt(() =>
            generateIds(generator.lm, { ...options, maxNewTokens: DECODE_TOKENS }),
          );
          if (round < 0) continue;
          record(`bare/${dtype}`, bare.first, bare.total);
          record(`engine/${dtype}`, first, total);
        }
      }
    }
  } finally {
    for (const lease of leases) lease.release();
  }
  const rowsOut = ["bare", "engine"].map((runner) => {
    const [int8, fp32] = dtypes.map((dtype) => speeds.get(`${runner}/${dtype}`) ?? []) as [
      number[],
      number[],
    ];
    const at = (times: number[]) => [percentile(times, 50), percentile(times, 90)] as const;
    const [i50, i90] = at(int8);
    const [f50, f90] = at(fp32);
    return [
      runner === "bare" ? "bare onnxruntime-web loop" : "engine (generateIds)",
      `${i50.toFixed(1)} / ${i90.toFixed(1)}`,
      `${f50.toFixed(1)} / ${f90.toFixed(1)}`,
      `${ratio(i50, f50)} / ${ratio(i90, f90)}`,
    ];
  });
  return [
    "### shop-assistant decode: int8 and fp32 in turn (ORT copies, as the worker loads them)",
    "",
    `${DECODE_TOKENS} greedy tokens after each of ${PROMPTS.length} chat prompts, ${DECODE_ROUNDS} rounds after ${DECODE_WARMUP} untimed ones; each prompt is decoded by int8 then fp32, in the bare loop then the engine. Decode tokens/s p50 / p90 (higher is faster); the ratio is int8's over fp32's (above 1.00x int8 is faster).`,
    "",
    table(["runner", "int8 tok/s p50 / p90", "fp32 tok/s p50 / p90", "int8 / fp32"], rowsOut),
  ].join("\n");
}

const JOIN_ROUNDS = 300;

/**
 * What the join saves on the one-row steps it was made for: fp32, the int8 file with the MatMuls apart
 * and joined, each int8 file twice under two labels in alternating order (apart, joined, apart,
 * joined), since a runner's place in the round moved its times by a few percent in probes.
 */
async function benchJoin(ort: Ort): Promise<string> {
  process.stderr.write("quantize: the join, one-row steps\n");
  const steps: { label: string; file: string; feeds: (s: Session) => Promise<Feeds> }[] = [
    {
      label: "phrase-translator decoder, cached step, 1 row",
      file: "phrase-translator/onnx/decoder_model_merged",
      feeds: (s) => decoderStepFeeds(ort, s, 1),
    },
    {
      label: "shop-assistant, decode step after 24 tokens",
      file: "shop-assistant/onnx/model",
      feeds: (s) => shopDecodeFeeds(ort, s),
    },
  ];
  const rowsOut: string[][] = [];
  for (const step of steps) {
    const fp32 = new Uint8Array(await readFile(join(MODELS_DIR, `${step.file}.onnx`)));
    const apart = quantizeOnnx(fp32, { join: false }).bytes;
    const joined = quantizeOnnx(fp32).bytes;
    const files: [string, Uint8Array][] = [
      ["fp32", fp32],
      ["apart", apart],
      ["joined", joined],
      ["apart again", apart],
      ["joined again", joined],
    ];
    const runners: Record<string, () => Promise<unknown>> = {};
    const sessions: Session[] = [];
    for (const [label, bytes] of files) {
      const s = await session(ort, bytes);
      sessions.push(s);
      const feeds = await step.feeds(s);
      runners[label] = () => s.run(feeds);
    }
    const times = await timeInterleaved(JOIN_ROUNDS, runners);
    for (const s of sessions) await s.release();
    const at = (label: string) => spread(times[label] ?? []);
    const pair = (first: string, second: string) =>
      [first, second].map((label) => spreadCells(at(label), at("fp32"))[1]).join(", ");
    rowsOut.push([
      step.label,
      spreadCells(at("fp32"), at("fp32"))[0],
      pair("apart", "apart again"),
      pair("joined", "joined again"),
    ]);
  }
  return [
    "### The join: one-row steps, int8 with the MatMuls that read one activation apart and joined",
    "",
    `p50 / p10 of ${JOIN_ROUNDS} interleaved rounds; each int8 file runs twice per round (apart, joined, apart, joined) and both of its ratios to fp32's time are given.`,
    "",
    table(["step", "fp32 p50 / p10 ms", "apart / fp32 (twice)", "joined / fp32 (twice)"], rowsOut),
  ].join("\n");
}

export async function benchQuantize(): Promise<string> {
  const { ort } = await startOrtInNode();
  const dir = await mkdtemp(join(tmpdir(), "bench-quantize-"));
  try {
    return [
      await benchStack(ort, dir),
      await benchShopAssistant(ort, dir),
      await benchShopDecode(),
      await benchJoin(ort),
      await benchSmallModels(ort),
    ].join("\n\n");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
