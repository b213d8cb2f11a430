/**
 * Rewrites a float ONNX model into the int8 layout that is fast in onnxruntime-web's WASM build and
 * whose every row is computed independently of the rest of the batch:
 *
 * - MatMul(x, W), Gemm(x, W, C) and a tied head MatMul(x, Transpose(E)): W becomes int8 with one scale
 *   per output channel; x is quantized per row at run time, symmetric, as uint8 around 128:
 *   s = max(max|x| over the last axis * (1/127), FLT_MIN), q = QuantizeLinear(x / s, 1, 128);
 *   y = MatMulIntegerToFloat(q, W_int8, 1, channel_scale, 128) * s (Gemm then scales by alpha and adds
 *   beta * C). The integer product runs in MLAS's WASM SIMD QGEMM kernel (MatMulNBits has none: it
 *   dequantizes every weight on every run), and a per-tensor activation scale would make a row
 *   depend on its batch. MatMulIntegerToFloat (com.microsoft) is the standard ops' MatMulInteger,
 *   Cast and channel-scale Mul in one node: the same kernel and values, but on a small model's decode
 *   step, where per-node overhead dominates, it measured about 10% faster (bench/quantize.ts).
 *   Consumers of the same activation in one graph share its quantization, and MatMuls reading one
 *   activation (Q, K and V; gate and up) are first joined into one (join.ts): the same values, fewer nodes.
 * - Gather(E, ids): the int8 rows are gathered and only they are scaled (int8.py's construction),
 *   with the row scales stored as [V, 1] so no Unsqueeze is needed.
 * - An embedding tied to the LM head is stored once, in int8; the head reads it through a Transpose
 *   that onnxruntime folds at load.
 *
 * Weights are searched through `If`/`Loop` subgraphs; new initializers go to the graph that held
 * the float one, so weights shared by both branches of a merged decoder stay shared.
 */

import { type Joined, joinSharedMatMuls } from "./join.js";
import {
  DataType,
  decodeModel,
  defaultOpset,
  encodeModel,
  floatAttribute,
  floatValues,
  type GraphProto,
  importOpset,
  type ModelProto,
  makeNode,
  makeTensor,
  type NodeProto,
  subgraphs,
  UniqueNames,
} from "./onnx.js";
import { findWeights, type Weight, type WeightUse } from "./uses.js";
import { quantizeChannels, transposeInt8 } from "./weights.js";

/** The smallest normal float32: the floor of an activation scale, so an all-zero row divides safely. */
export const MIN_SCALE = 1.1754943508222875e-38;
export const ZERO_POINT = 128;
const MICROSOFT = "com.microsoft";

export interface QuantizeReport {
  /** Names of the float initializers now stored as int8 (the parts of a joined one among them). */
  quantized: string[];
  /** Weights of MatMuls reading one activation, now one int8 matrix each (see join.ts). */
  joined: Joined[];
  /** Names of large float initializers left as they were (read by ops no rewrite handles). */
  kept: string[];
}

export interface QuantizeOptions {
  /** Called after each weight is quantized: its name, how many are done, how many will be. */
  onWeight?: (name: string, done: number, total: number) => void;
  /** Weights to leave in float (all quantizable ones are quantized by default). */
  keepFloat?: (weight: Weight) => boolean;
  /**
   * How activations are quantized: `row` (the default and the served layout: per row, so a row's
   * output never depends on its batch) or `tensor`, onnxruntime's fused DynamicQuantizeMatMul (one
   * asymmetric scale for the whole activation tensor: fewer nodes, but batch-dependent numerics).
   * `tensor` exists to be measured against `row` (bench/quantize.ts), not to be served.
   */
  activations?: "row" | "tensor";
  /**
   * Join the MatMuls that read one activation before quantizing (join.ts; the default). The values
   * are the same either way; `false` exists to check that and to measure what the join saves.
   */
  join?: boolean;
}

/** Quantizes a serialized model; returns the serialized result and what was done. */
export function quantizeOnnx(
  bytes: Uint8Array,
  options: QuantizeOptions = {},
): { bytes: Uint8Array; report: QuantizeReport } {
  const model = decodeModel(bytes);
  const report = quantizeModel(model, options);
  return { bytes: encodeModel(model), report };
}

/** Rewrites the model in place. */
export function quantizeModel(model: ModelProto, options: QuantizeOptions = {}): QuantizeReport {
  const top = model.graph;
  if (!top) throw new Error("The model has no graph.");
  const opset = defaultOpset(model);
  if (opset < 10) throw new Error(`QuantizeLinear needs opset 10 or later; the model imports opset ${opset}`);
  const keepFloat = options.keepFloat ?? (() => false);
  const joined =
    options.join === false ? [] : joinSharedMatMuls(model, opset, (weight) => !keepFloat(weight));
  const partsOf = new Map(joined.map((join) => [join.name, join.parts]));
  // a joined weight is made only of weights keepFloat let through
  const kept = (weight: Weight) =>
    weight.axis === undefined || (!partsOf.has(weight.tensor.name) && keepFloat(weight));
  const rewriter = new Rewriter(top, opset, options.activations ?? "row");
  const report: QuantizeReport = { quantized: [], joined, kept: [] };
  const weights = findWeights(top);
  const total = weights.filter((weight) => !kept(weight)).length;
  let done = 0;
  for (const weight of weights) {
    const name = weight.tensor.name;
    if (weight.axis === undefined || kept(weight)) {
      report.kept.push(name);
      continue;
    }
    rewriter.quantize(weight, weight.axis);
    report.quantized.push(...(partsOf.get(name) ?? [name]));
    options.onWeight?.(name, ++done, total);
  }
  rewriter.finish();
  if (rewriter.usesMicrosoft) importOpset(model, MICROSOFT, 1);
  return report;
}

/** The int8 form of one weight, as its rewritten readers need it. */
interface Stored {
  /** An int8 [K, N] matrix (the B of MatMulIntegerToFloat) and its per-column scales, when MatMuls read it. */
  matrix?: { name: string; scales: string };
  /** The int8 [V, H] table and its [V, 1] row scales, when Gathers read it. */
  table?: { name: string; scales: string };
}

type Emit = (node: NodeProto) => void;
/** Emits the nodes replacing one node; `rows` quantizes activations for the node's graph. */
type Plan = (emit: Emit, rows: RowQuantizer) => void;

class Rewriter {
  private readonly names: UniqueNames;
  private readonly constants = new Map<string, string>();
  /** Per graph: how each rewritten node is replaced. */
  private readonly plans = new Map<GraphProto, Map<NodeProto, Plan>>();
  private readonly dropped = new Set<NodeProto>();
  private readonly retired = new Set<string>();
  private readonly prologue = new Map<GraphProto, NodeProto[]>();
  /** Set once a MatMulIntegerToFloat (a com.microsoft op) is planned. */
  usesMicrosoft = false;

  constructor(
    private readonly top: GraphProto,
    private readonly opset: number,
    private readonly activations: "row" | "tensor",
  ) {
    this.names = new UniqueNames(top);
  }

  quantize(weight: Weight, axis: 0 | 1): void {
    const { tensor, owner, rows, cols } = weight;
    const name = tensor.name;
    const { values, scales } = quantizeChannels(floatValues(tensor), rows, cols, axis);
    owner.initializer.splice(owner.initializer.indexOf(tensor), 1);
    this.retired.add(name);
    for (const transpose of weight.transposes) {
      this.dropped.add(transpose.node);
      for (const output of transpose.node.output) this.retired.add(output);
    }

    const readByGather = weight.uses.some((use) => use.kind === "gather");
    const readByMatMul = weight.uses.some((use) => use.kind !== "gather");
    const channels = scales.length;
    const stored: Stored = {};
    const addInitializer = (base: string, dims: number[], data: Int8Array | Float32Array): string => {
      const unique = this.names.take(base);
      owner.initializer.push(makeTensor(unique, dims, data));
      return unique;
    };
    if (readByGather) {
      stored.table = {
        name: addInitializer(`${name}_quantized`, [rows, cols], values),
        scales: addInitializer(`${name}_row_scale`, [channels, 1], scales),
      };
    }
    if (readByMatMul) {
      const matrixScales = addInitializer(`${name}_scale`, [channels], scales);
      // MatMulIntegerToFloat wants [K, N] with channels as columns; channels on axis 0 mean W is [N, K].
      if (axis === 1) {
        stored.matrix = {
          name: addInitializer(`${name}_quantized`, [rows, cols], values),
          scales: matrixScales,
        };
      } else if (stored.table) {
        const transposed = this.names.take(`${name}_quantized_transposed`);
        const node = makeNode(
          "Transpose",
          [stored.table.name],
          [transposed],
          this.names.take(`${transposed}_node`),
          {
            perm: [1, 0],
          },
        );
        this.prologue.set(owner, [...(this.prologue.get(owner) ?? []), node]);
        stored.matrix = { name: transposed, scales: matrixScales };
      } else {
        const matrix = addInitializer(`${name}_quantized`, [cols, rows], transposeInt8(values, rows, cols));
        stored.matrix = { name: matrix, scales: matrixScales };
      }
    }
    for (const use of weight.uses) this.plan(use, stored);
  }

  private plan(use: WeightUse, stored: Stored): void {
    const plans = this.plans.get(use.graph) ?? new Map<NodeProto, Plan>();
    this.plans.set(use.graph, plans);
    const { node } = use;
    const base = node.name || (node.output[0] ?? "node");
    const output = node.output[0] ?? "";
    const table = stored.table;
    const matrix = stored.matrix;
    if (use.kind === "gather" && table) {
      plans.set(node, (emit) => {
        const ids = node.input[1] ?? "";
        const rows = this.names.take(`${base}_int8_rows`);
        const rowScales = this.names.take(`${base}_int8_row_scales`);
        const float = this.names.take(`${base}_int8_float`);
        emit(
          makeNode("Gather", [table.name, ids], [rows], this.names.take(`${base}_int8_gather`), { axis: 0 }),
        );
        emit(
          makeNode("Gather", [table.scales, ids], [rowScales], this.names.take(`${base}_int8_gather_scales`)),
        );
        emit(makeNode("Cast", [rows], [float], this.names.take(`${base}_int8_cast`), { to: DataType.FLOAT }));
        emit(makeNode("Mul", [float, rowScales], [output], this.names.take(`${base}_int8_scale`)));
      });
      return;
    }
    if (!matrix) throw new Error(`No int8 matrix for ${node.opType} '${base}'`);
    const isGemm = use.kind === "gemm";
    const alpha = isGemm ? floatAttribute(node, "alpha", 1) : 1;
    const beta = isGemm ? floatAttribute(node, "beta", 1) : 1;
    const bias = isGemm ? node.input[2] : undefined;
    this.usesMicrosoft = true;
    plans.set(node, (emit, rows) => {
      // the fused op's result is final unless alpha or a bias still apply
      const direct = this.activations === "tensor" && alpha === 1 && !bias;
      const channelScaled = direct ? output : this.names.take(`${base}_int8_channel_scaled`);
      const steps: [string, string][] = [];
      if (this.activations === "tensor") {
        emit(
          makeNode(
            "DynamicQuantizeMatMul",
            [node.input[0] ?? "", matrix.name, matrix.scales],
            [channelScaled],
            this.names.take(`${base}_int8_matmul`),
            {},
            MICROSOFT,
          ),
        );
      } else {
        const x = rows.quantized(node.input[0] ?? "", emit);
        steps.push([x.scales, "row_scale"]);
        emit(
          makeNode(
            "MatMulIntegerToFloat",
            [
              x.values,
              matrix.name,
              this.constant("one", new Float32Array([1])),
              matrix.scales,
              this.constant("zero_point", new Uint8Array([ZERO_POINT])),
            ],
            [channelScaled],
            this.names.take(`${base}_int8_matmul`),
            {},
            MICROSOFT,
          ),
        );
      }
      if (alpha !== 1) steps.push([this.constant(`alpha_${alpha}`, new Float32Array([alpha])), "alpha"]);
      let current = channelScaled;
      steps.forEach(([factor, label], index) => {
        const last = index === steps.length - 1 && !bias;
        const next = last ? output : this.names.take(`${base}_int8_${label}d`);
        emit(makeNode("Mul", [current, factor], [next], this.names.take(`${base}_int8_${label}`)));
        current = next;
      });
      if (bias) {
        let addend = bias;
        if (beta !== 1) {
          addend = this.names.take(`${base}_int8_beta_c`);
          const factor = this.constant(`beta_${beta}`, new Float32Array([beta]));
          emit(makeNode("Mul", [bias, factor], [addend], this.names.take(`${base}_int8_beta`)));
        }
        emit(makeNode("Add", [current, addend], [output], this.names.take(`${base}_int8_bias`)));
      }
    });
  }

  /** A scalar initializer in the top graph, visible to every subgraph; made once per key. */
  private constant(
    key: string,
    data: Float32Array | Uint8Array | BigInt64Array,
    dims: number[] = [],
  ): string {
    const existing = this.constants.get(key);
    if (existing) return existing;
    const name = this.names.take(`int8_row_${key}`);
    this.top.initializer.push(makeTensor(name, dims, data));
    this.constants.set(key, name);
    return name;
  }

  /** Rebuilds every graph's node list with the planned replacements, in the original order. */
  finish(): void {
    const visit = (graph: GraphProto): void => {
      const plans = this.plans.get(graph);
      const rows = new RowQuantizer(this.names, {
        inverse127: () => this.constant("inverse_127", new Float32Array([1 / 127])),
        minScale: () => this.constant("min_scale", new Float32Array([MIN_SCALE])),
        one: () => this.constant("one", new Float32Array([1])),
        zeroPoint: () => this.constant("zero_point", new Uint8Array([ZERO_POINT])),
        axesLast: () => this.constant("axes_last", new BigInt64Array([-1n]), [1]),
        axesAsInput: this.opset >= 18,
      });
      const nodes: NodeProto[] = [...(this.prologue.get(graph) ?? [])];
      const emit: Emit = (node) => nodes.push(node);
      for (const node of graph.node) {
        for (const body of subgraphs(node)) visit(body);
        if (this.dropped.has(node)) continue;
        const plan = plans?.get(node);
        if (plan) plan(emit, rows);
        else nodes.push(node);
      }
      graph.node = nodes;
      graph.valueInfo = graph.valueInfo.filter((info) => !this.retired.has(info.name));
    };
    visit(this.top);
  }
}

interface RowConstants {
  inverse127(): string;
  minScale(): string;
  one(): string;
  zeroPoint(): string;
  axesLast(): string;
  /** ReduceMax takes its axes as an input from opset 18 on, as an attribute before. */
  axesAsInput: boolean;
}

/** Per-row activation quantization for one graph, emitted once per activation before its first reader. */
class RowQuantizer {
  private readonly done = new Map<string, { values: string; scales: string }>();

  constructor(
    private readonly names: UniqueNames,
    private readonly constants: RowConstants,
  ) {}

  quantized(x: string, emit: Emit): { values: string; scales: string } {
    const existing = this.done.get(x);
    if (existing) return existing;
    const base = `${x}_rowq`;
    const take = (suffix: string) => this.names.take(`${base}_${suffix}`);
    const c = this.constants;
    const [abs, peak, scale, safe, scaled, values] = [
      "abs",
      "peak",
      "scale",
      "safe_scale",
      "scaled",
      "uint8",
    ].map(take) as [string, string, string, string, string, string];
    emit(makeNode("Abs", [x], [abs], take("abs_node")));
    emit(
      c.axesAsInput
        ? makeNode("ReduceMax", [abs, c.axesLast()], [peak], take("peak_node"), { keepdims: 1 })
        : makeNode("ReduceMax", [abs], [peak], take("peak_node"), { axes: [-1], keepdims: 1 }),
    );
    emit(makeNode("Mul", [peak, c.inverse127()], [scale], take("scale_node")));
    emit(makeNode("Max", [scale, c.minScale()], [safe], take("safe_scale_node")));
    emit(makeNode("Div", [x, safe], [scaled], take("scaled_node")));
    emit(makeNode("QuantizeLinear", [scaled, c.one(), c.zeroPoint()], [values], take("quantize_node")));
    const result = { values, scales: safe };
    this.done.set(x, result);
    return result;
  }
}
