/**
 * Joins the MatMuls that read one activation (an attention's q, k and v; a Llama MLP's gate and up;
 * a cross-attention's k and v of every layer, all reading the encoder output) into one MatMul over
 * their weights side by side, and a Split that hands each old output its columns back.
 *
 * A float-to-float pass run before the weights are quantized. Quantized per output channel, the
 * joined weight holds the same int8 columns and scales as the separate ones, and every output
 * element is the same integer dot product scaled the same way, so the int8 model computes the same
 * values to the bit with one integer kernel and one row-scale Mul per group instead of one per
 * weight. On a 256-wide model's one-row decode step, per-node overhead is most of the time.
 *
 * Weights are joined when each is read only by MatMuls, and in exactly the same places: the same
 * activations of the same graphs, once each. The two branches of a merged decoder read q, k and v
 * from activations of their own; the weights they share are joined once, in the graph that held them.
 */
import {
  floatValues,
  type GraphProto,
  type ModelProto,
  makeNode,
  makeTensor,
  type NodeProto,
  UniqueNames,
} from "./onnx.js";
import { findWeights, type Weight } from "./uses.js";

export interface Joined {
  /** The joined float initializer (later quantized under its own name). */
  name: string;
  /** The weights it holds, left to right, in the order their columns appear. */
  parts: string[];
}

/** The MatMuls of one graph reading one activation, in graph order, with the weight each reads. */
interface Group {
  graph: GraphProto;
  activation: string;
  reads: { node: NodeProto; weight: Weight }[];
}

/**
 * Joins, in place, every group of at least two MatMuls that read one activation and weights that
 * `joinable` allows (and that the quantizer would quantize with channels on axis 1: no other reader).
 * Split takes its sizes as an input from opset 13 on, as an attribute before; negative axes need 11.
 */
export function joinSharedMatMuls(
  model: ModelProto,
  opset: number,
  joinable: (weight: Weight) => boolean = () => true,
): Joined[] {
  const top = model.graph;
  if (!top || opset < 11) return [];
  const eligible = (weight: Weight) =>
    weight.axis === 1 &&
    weight.transposes.length === 0 &&
    weight.uses.every((use) => use.kind === "matmul") &&
    joinable(weight);

  // Each group: the MatMuls of one graph reading one activation. A set of weights is joined when
  // each of them is read in exactly the same groups, once in each.
  const groups = new Map<string, Group>();
  const groupKeys = new Map<Weight, string[]>();
  const graphIds = new Map<GraphProto, number>();
  const id = (graph: GraphProto) => {
    const known = graphIds.get(graph) ?? graphIds.size;
    graphIds.set(graph, known);
    return known;
  };
  for (const weight of findWeights(top)) {
    if (!eligible(weight)) continue;
    const keys: string[] = [];
    for (const { graph, node } of weight.uses) {
      const activation = node.input[0] ?? "";
      const key = `${id(graph)}\u0000${activation}`;
      const group = groups.get(key) ?? { graph, activation, reads: [] };
      groups.set(key, group);
      group.reads.push({ node, weight });
      keys.push(key);
    }
    if (new Set(keys).size === keys.length) groupKeys.set(weight, keys);
  }
  // The joined MatMul takes the place of the group's first MatMul, before any reader of the others.
  for (const group of groups.values()) {
    const position = new Map(group.graph.node.map((node, index) => [node, index]));
    group.reads.sort((a, b) => (position.get(a.node) ?? 0) - (position.get(b.node) ?? 0));
  }
  const sets = new Map<string, Weight[]>();
  for (const group of groups.values()) {
    for (const { weight } of group.reads) {
      const keys = groupKeys.get(weight);
      if (!keys) continue;
      const signature = [id(weight.owner), weight.rows, ...[...keys].sort()].join("\u0001");
      const set = sets.get(signature) ?? [];
      if (!set.includes(weight)) set.push(weight);
      sets.set(signature, set);
    }
  }

  const names = new UniqueNames(top);
  const sizeConstants = new Map<string, string>();
  const replacements = new Map<GraphProto, Map<NodeProto, NodeProto[]>>();
  const joined: Joined[] = [];
  for (const order of sets.values()) {
    const [head] = order;
    if (!head || order.length < 2) continue;
    const tensor = names.take(`${order.map((w) => w.tensor.name).join("+")}_joined`);
    head.owner.initializer.push(
      makeTensor(tensor, [head.rows, sum(order.map((w) => w.cols))], sideBySide(order)),
    );
    for (const weight of order)
      weight.owner.initializer.splice(weight.owner.initializer.indexOf(weight.tensor), 1);
    joined.push({ name: tensor, parts: order.map((w) => w.tensor.name) });
    const widths = order.map((w) => w.cols);
    for (const key of groupKeys.get(head) ?? []) {
      const group = groups.get(key) as Group;
      const reads = group.reads.filter((read) => order.includes(read.weight));
      const outputOf = new Map(reads.map((read) => [read.weight, read.node.output[0] ?? ""]));
      const outputs = order.map((w) => outputOf.get(w) ?? "");
      const first = reads[0]?.node as NodeProto;
      const base = first.name || `${group.activation}_matmul`;
      const product = names.take(`${base}_joined`);
      const splitName = names.take(`${base}_joined_split`);
      const sizes = opset >= 13 ? [sizeConstant(top, names, sizeConstants, widths)] : [];
      const attributes: Record<string, number | number[]> =
        opset >= 13 ? { axis: -1 } : { axis: -1, split: widths };
      const split = makeNode("Split", [product, ...sizes], outputs, splitName, attributes);
      const plan = replacements.get(group.graph) ?? new Map<NodeProto, NodeProto[]>();
      replacements.set(group.graph, plan);
      plan.set(first, [
        makeNode("MatMul", [group.activation, tensor], [product], names.take(`${base}_joined_matmul`)),
        split,
      ]);
      for (const read of reads.slice(1)) plan.set(read.node, []);
    }
  }
  for (const [graph, plan] of replacements) {
    graph.node = graph.node.flatMap((node) => plan.get(node) ?? [node]);
  }
  return joined;
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

/** The [K, N1 + N2 + ...] matrix holding each [K, Ni] weight's columns, left to right. */
function sideBySide(weights: Weight[]): Float32Array {
  const rows = (weights[0] as Weight).rows;
  const total = sum(weights.map((w) => w.cols));
  const data = new Float32Array(rows * total);
  let offset = 0;
  for (const weight of weights) {
    const values = floatValues(weight.tensor);
    for (let row = 0; row < rows; row++) {
      data.set(values.subarray(row * weight.cols, (row + 1) * weight.cols), row * total + offset);
    }
    offset += weight.cols;
  }
  return data;
}

/** Split's sizes as an int64 initializer of the top graph (visible in every subgraph), one per list. */
function sizeConstant(
  top: GraphProto,
  names: UniqueNames,
  made: Map<string, string>,
  widths: number[],
): string {
  const key = widths.join(",");
  const existing = made.get(key);
  if (existing) return existing;
  const name = names.take(`joined_split_sizes_${widths.join("_")}`);
  top.initializer.push(makeTensor(name, [widths.length], BigInt64Array.from(widths.map(BigInt))));
  made.set(key, name);
  return name;
}
