/**
 * Which float initializers can be quantized, and where each is read.
 *
 * Names are resolved the way ONNX scopes them: a graph sees its own initializers and everything
 * visible in the graphs around it, unless one of its inputs or node outputs reuses the name. That
 * is what makes merged decoders work, where Optimum moves the weights both `If` branches share into
 * the outer graph.
 */
import {
  DataType,
  type GraphProto,
  intAttribute,
  intsAttribute,
  type NodeProto,
  subgraphs,
  type TensorProto,
  tensorDims,
} from "./onnx.js";

/** How a node reads a weight; each kind fixes which axis holds the output channels. */
export type UseKind =
  /** MatMul(x, W): channels are W's columns. */
  | "matmul"
  /** MatMul(x, Transpose(W)), a tied LM head: channels are W's rows. */
  | "matmul-transposed"
  /** Gemm(x, W) or Gemm(x, W, transB=1): channels are the columns of op(W). */
  | "gemm"
  /** Gather(W, ids) on axis 0, an embedding table: channels are W's rows. */
  | "gather";

export interface WeightUse {
  kind: UseKind;
  /** The graph holding `node`. */
  graph: GraphProto;
  node: NodeProto;
}

export interface Weight {
  tensor: TensorProto;
  /** The graph whose initializer list holds the tensor. */
  owner: GraphProto;
  rows: number;
  cols: number;
  /** Set when every read is one this quantizer rewrites and all agree on the channel axis. */
  axis?: 0 | 1;
  uses: WeightUse[];
  /** Transpose nodes reading the weight; each is dropped once its readers read the int8 weight. */
  transposes: { node: NodeProto; graph: GraphProto }[];
  /** Read by something no rewrite handles (another op, a graph output, an overridable input). */
  unsupported: boolean;
}

interface Binding {
  weight: Weight;
  /** Bound to the output of a Transpose of the weight rather than to the weight itself. */
  transpose?: { node: NodeProto; graph: GraphProto };
}

/** Weights smaller than this stay float, as in int8.py: their scales would cost as much as they save. */
export const MIN_ELEMENTS = 1024;

/** Every 2-D float initializer of at least `MIN_ELEMENTS` values in the model, with its reads. */
export function findWeights(top: GraphProto): Weight[] {
  const weights: Weight[] = [];
  walk(top, new Map(), weights);
  for (const weight of weights) weight.axis = channelAxis(weight);
  return weights;
}

function walk(graph: GraphProto, outer: Map<string, Binding>, weights: Weight[]): void {
  const scope = new Map(outer);
  for (const tensor of graph.initializer) {
    const dims = tensorDims(tensor);
    const [rows, cols] = dims;
    const eligible =
      tensor.dataType === DataType.FLOAT &&
      rows !== undefined &&
      cols !== undefined &&
      dims.length === 2 &&
      rows * cols >= MIN_ELEMENTS;
    if (!eligible) {
      scope.delete(tensor.name);
      continue;
    }
    const weight: Weight = { tensor, owner: graph, rows, cols, uses: [], transposes: [], unsupported: false };
    weights.push(weight);
    scope.set(tensor.name, { weight });
  }
  // An initializer also listed as a graph input can be overridden by the caller: it stays float.
  for (const input of graph.input) unsupported(scope.get(input.name));
  for (const input of graph.input) scope.delete(input.name);
  const outputs = new Set(graph.output.map((o) => o.name));
  for (const name of outputs) unsupported(scope.get(name));

  for (const node of graph.node) {
    node.input.forEach((name, index) => {
      const binding = scope.get(name);
      if (binding) record(binding, graph, node, index);
    });
    for (const body of subgraphs(node)) walk(body, scope, weights);
    for (const name of node.output) scope.delete(name);
    const source =
      node.opType === "Transpose" && node.domain === "" ? scope.get(node.input[0] ?? "") : undefined;
    if (source && !source.transpose && isMatrixTranspose(node)) {
      const output = node.output[0] ?? "";
      const transpose = { node, graph };
      source.weight.transposes.push(transpose);
      scope.set(output, { weight: source.weight, transpose });
      if (outputs.has(output)) unsupported(source);
    }
  }
}

function unsupported(binding: Binding | undefined): void {
  if (binding) binding.weight.unsupported = true;
}

function record(binding: Binding, graph: GraphProto, node: NodeProto, index: number): void {
  const { weight, transpose } = binding;
  const op = node.domain === "" ? node.opType : "";
  let kind: UseKind | undefined;
  if (transpose) {
    if (op === "MatMul" && index === 1) kind = "matmul-transposed";
  } else if (op === "MatMul" && index === 1) kind = "matmul";
  else if (op === "Gemm" && index === 1 && intAttribute(node, "transA", 0) === 0) kind = "gemm";
  else if (op === "Gather" && index === 0 && intAttribute(node, "axis", 0) === 0) kind = "gather";
  else if (op === "Transpose" && index === 0 && isMatrixTranspose(node)) return; // judged by its readers
  if (kind) weight.uses.push({ kind, graph, node });
  else weight.unsupported = true;
}

function isMatrixTranspose(node: NodeProto): boolean {
  const perm = intsAttribute(node, "perm");
  return perm === undefined || (perm[0] === 1 && perm[1] === 0 && perm.length === 2);
}

function channelAxis(weight: Weight): 0 | 1 | undefined {
  if (weight.uses.length === 0 || weight.unsupported) return undefined;
  const axes = new Set(
    weight.uses.map((use) => {
      if (use.kind === "matmul") return 1;
      if (use.kind === "gemm") return intAttribute(use.node, "transB", 0) === 1 ? 0 : 1;
      return 0;
    }),
  );
  const [axis] = axes;
  return axes.size === 1 ? axis : undefined;
}
