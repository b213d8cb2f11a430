/**
 * Gives a decoder's ONNX graph LoRA inputs on its Llama-style projections, so one session serves the
 * base and every adapter: for a projection y = x W (fp32 `MatMul`, or the int8 layout's
 * `MatMulIntegerToFloat` chain from cli/lib/quantize/), the rewrite adds
 *
 *   y' = y + MatMul(MatMul(x, A), B)      A: [lora_batch, in, lora_rank], B: [lora_batch, lora_rank, out]
 *
 * with the input names of `loraInputNames`. A and B are the adapter's lora_A and lora_B transposed,
 * the scale lora_alpha / r folded into B at push. `lora_batch` is 1 (every row of the run uses the same
 * adapter: MatMul broadcasts it) or the run's batch (one adapter per row, ranks padded with zeros).
 * With rank 0 the added product is an all-zero tensor, so the base's output is unchanged.
 *
 * The low-rank product reads the float activation x, before the int8 layout quantizes it per row:
 * that is what peft computes over a fake-quant base (the LoRA weights stay float).
 *
 * Projections are found by the node names the PyTorch exporter leaves (`/m/layers.3/mlp/down_proj/MatMul`,
 * `/model/layers.0/self_attn/q_proj/MatMul`), in the top graph; their module names are those of the
 * Hugging Face checkpoint (`model.layers.3.mlp.down_proj`), which peft's key names carry. Where the
 * quantizer joined the projections reading one activation (q, k and v; gate and up: one MatMul, then
 * a Split, cli/lib/quantize/join.ts), each is found by the output the Split hands back under the
 * exporter's name (`/m/layers.0/self_attn/k_proj/MatMul_output_0`), and its LoRA term is added there.
 */
import {
  decodeModel,
  encodeModel,
  floatValueInfo,
  type GraphProto,
  int64Values,
  intsAttribute,
  makeNode,
  type NodeProto,
  type TensorProto,
  tensorDims,
} from "../quantize/onnx.js";

export interface LoraModule {
  /** The module as the checkpoint names it: `model.layers.0.self_attn.q_proj`. */
  name: string;
  in: number;
  out: number;
}

/** The projections peft may target in a Llama decoder, by their attribute name. */
export const PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

const PROJECTION_NODE =
  /^\/[A-Za-z_]+\/layers\.(\d+)\/(self_attn|mlp)\/([a-z_]+_proj)\/MatMul(_int8_matmul)?$/;
const PROJECTION_OUTPUT = /^\/[A-Za-z_]+\/layers\.(\d+)\/(self_attn|mlp)\/([a-z_]+_proj)\/MatMul_output_0$/;

export function loraInputNames(module: string): { a: string; b: string } {
  return { a: `lora.${module}.A`, b: `lora.${module}.B` };
}

interface Projection extends LoraModule {
  /** The float activation the projection reads. */
  x: string;
  /** The node that writes the projection's output, which of its outputs that is, and its name. */
  last: NodeProto;
  output: number;
  y: string;
}

/** The projections of a graph, in graph order. */
export function findProjections(graph: GraphProto): Projection[] {
  const producer = new Map<string, NodeProto>();
  for (const node of graph.node) for (const output of node.output) producer.set(output, node);
  const byName = new Map(graph.node.map((node) => [node.name, node]));
  const tensors = new Map(graph.initializer.map((tensor) => [tensor.name, tensor]));
  const dims = (name: string) => {
    const tensor = tensors.get(name);
    return tensor ? tensorDims(tensor) : undefined;
  };
  // The int8 layout quantizes x with Div(x, scale) -> QuantizeLinear, and scales the integer
  // product by the row scale in a Mul named after the original MatMul.
  const floatInput = (matmul: NodeProto): string | undefined => {
    const quantize = producer.get(matmul.input[0] ?? "");
    const divide = quantize?.opType === "QuantizeLinear" ? producer.get(quantize.input[0] ?? "") : undefined;
    return divide?.opType === "Div" ? divide.input[0] : undefined;
  };
  const rowScaleOf = (matmul: NodeProto) =>
    byName.get(matmul.name.replace(/_int8_matmul$/, "_int8_row_scale"));
  const found: Projection[] = [];
  for (const node of graph.node) {
    if (node.opType === "Split") {
      found.push(...joinedProjections(node, producer, tensors, floatInput, rowScaleOf));
      continue;
    }
    const match = PROJECTION_NODE.exec(node.name);
    if (!match || !PROJECTIONS.includes(match[3] ?? "")) continue;
    const int8 = match[4] !== undefined;
    if (node.opType !== (int8 ? "MatMulIntegerToFloat" : "MatMul")) continue;
    const weight = dims(node.input[1] ?? "");
    if (weight?.length !== 2) continue;
    const name = `model.layers.${match[1]}.${match[2]}.${match[3]}`;
    let x = node.input[0] ?? "";
    let last = node;
    if (int8) {
      const input = floatInput(node);
      const rowScale = rowScaleOf(node);
      if (!input || !rowScale) continue;
      x = input;
      last = rowScale;
    }
    const out = weight[1] as number;
    found.push({ name, in: weight[0] as number, out, x, last, output: 0, y: last.output[0] ?? "" });
  }
  return found;
}

/** The projections a joined MatMul's Split hands back: fp32 MatMul or the int8 chain before it. */
function joinedProjections(
  split: NodeProto,
  producer: Map<string, NodeProto>,
  tensors: Map<string, TensorProto>,
  floatInput: (matmul: NodeProto) => string | undefined,
  rowScaleOf: (matmul: NodeProto) => NodeProto | undefined,
): Projection[] {
  const source = producer.get(split.input[0] ?? "");
  let matmul: NodeProto | undefined;
  let x: string | undefined;
  if (source?.opType === "MatMul") {
    matmul = source;
    x = source.input[0];
  } else if (source?.opType === "Mul") {
    const integer = producer.get(source.input[0] ?? "");
    if (integer?.opType === "MatMulIntegerToFloat" && rowScaleOf(integer) === source) {
      matmul = integer;
      x = floatInput(integer);
    }
  }
  const weight = tensors.get(matmul?.input[1] ?? "");
  const sizes = splitSizes(split, tensors);
  if (!matmul || !x || !weight || !sizes || tensorDims(weight).length !== 2) return [];
  const found: Projection[] = [];
  split.output.forEach((y, output) => {
    const match = PROJECTION_OUTPUT.exec(y);
    if (!match || !PROJECTIONS.includes(match[3] ?? "")) return;
    const name = `model.layers.${match[1]}.${match[2]}.${match[3]}`;
    found.push({
      name,
      in: tensorDims(weight)[0] as number,
      out: sizes[output] as number,
      x,
      last: split,
      output,
      y,
    });
  });
  return found;
}

/** A Split's sizes: its second input (opset 13 on) or its `split` attribute. */
function splitSizes(split: NodeProto, tensors: Map<string, TensorProto>): number[] | undefined {
  const attribute = intsAttribute(split, "split");
  if (attribute) return attribute;
  const sizes = tensors.get(split.input[1] ?? "");
  return sizes ? int64Values(sizes).map(Number) : undefined;
}

/** The LoRA-ready modules of a serialized model (empty when it has no Llama-style projections). */
export function loraModules(bytes: Uint8Array): LoraModule[] {
  const graph = decodeModel(bytes).graph;
  return graph ? findProjections(graph).map(({ name, in: inDim, out }) => ({ name, in: inDim, out })) : [];
}

/** Adds LoRA inputs on every projection; returns the serialized model and the modules it found. */
export function addLoraInputs(bytes: Uint8Array): { bytes: Uint8Array; modules: LoraModule[] } {
  const model = decodeModel(bytes);
  const graph = model.graph;
  if (!graph) throw new Error("The model has no graph.");
  const projections = findProjections(graph);
  if (projections.length === 0) return { bytes, modules: [] };
  const inserted = new Map<NodeProto, NodeProto[]>();
  for (const projection of projections) {
    const { a, b } = loraInputNames(projection.name);
    const base = `/lora/${projection.name}`;
    const baseOut = `${base}/base_output`;
    const down = `${base}/down`;
    const delta = `${base}/delta`;
    projection.last.output[projection.output] = baseOut;
    inserted.set(projection.last, [
      ...(inserted.get(projection.last) ?? []),
      makeNode("MatMul", [projection.x, a], [down], `${base}/MatMul_A`),
      makeNode("MatMul", [down, b], [delta], `${base}/MatMul_B`),
      makeNode("Add", [baseOut, delta], [projection.y], `${base}/Add`),
    ]);
    graph.input.push(
      floatValueInfo(a, ["lora_batch", projection.in, "lora_rank"]),
      floatValueInfo(b, ["lora_batch", "lora_rank", projection.out]),
    );
  }
  graph.node = graph.node.flatMap((node) => [node, ...(inserted.get(node) ?? [])]);
  return {
    bytes: encodeModel(model),
    modules: projections.map(({ name, in: inDim, out }) => ({ name, in: inDim, out })),
  };
}
