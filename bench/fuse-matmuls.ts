import {
  decodeModel,
  encodeModel,
  floatValues,
  type GraphProto,
  makeNode,
  makeTensor,
  type NodeProto,
  subgraphs,
  type TensorProto,
  tensorDims,
} from "../cli/lib/quantize/onnx.js";

/**
 * Joins the MatMuls that read the same activation with 2-D float weights of the same input width
 * (an attention's q, k and v projections) into one MatMul over the weights side by side, and a Split
 * that gives each old output its columns back. Quantized per output channel, the joined weight has
 * the same channels and scales as the separate ones, so the int8 file computes the same values with
 * one quantization chain and one integer kernel per group. For measuring (bench/quantize.ts): the
 * quantizer does not do this.
 */
export function fuseSharedMatMuls(bytes: Uint8Array): Uint8Array {
  const model = decodeModel(bytes);
  const top = model.graph;
  if (!top) throw new Error("The model has no graph.");
  type Scoped = { tensor: TensorProto; owner: GraphProto };
  // Merged decoders read the same weights from both If branches: one joined weight per group serves both.
  const joined = new Map<string, string>();
  const replaced = new Set<string>();

  const visit = (graph: GraphProto, outer: Map<string, Scoped>) => {
    const scope = new Map(outer);
    for (const tensor of graph.initializer) scope.set(tensor.name, { tensor, owner: graph });
    const groups = new Map<string, NodeProto[]>();
    for (const node of graph.node) {
      const weight = node.opType === "MatMul" ? scope.get(node.input[1] ?? "") : undefined;
      if (!weight || tensorDims(weight.tensor).length !== 2) continue;
      const input = node.input[0] ?? "";
      groups.set(input, [...(groups.get(input) ?? []), node]);
    }
    for (const [input, nodes] of groups) {
      const weights = nodes.map((node) => scope.get(node.input[1] ?? "") as Scoped);
      const [k] = tensorDims((weights[0] as Scoped).tensor);
      if (nodes.length < 2 || weights.some((weight) => tensorDims(weight.tensor)[0] !== k)) continue;
      const widths = weights.map((weight) => tensorDims(weight.tensor)[1] ?? 0);
      const key = weights.map((weight) => weight.tensor.name).join("+");
      let name = joined.get(key);
      if (!name) {
        name = `${(nodes[0] as NodeProto).name}_joined_weight`;
        joined.set(key, name);
        const total = widths.reduce((sum, width) => sum + width, 0);
        const rows = k ?? 0;
        const data = new Float32Array(rows * total);
        let offset = 0;
        weights.forEach((weight, index) => {
          const width = widths[index] ?? 0;
          const values = floatValues(weight.tensor);
          for (let row = 0; row < rows; row++) {
            data.set(values.subarray(row * width, (row + 1) * width), row * total + offset);
          }
          offset += width;
          replaced.add(weight.tensor.name);
        });
        (weights[0] as Scoped).owner.initializer.push(makeTensor(name, [rows, total], data));
      }
      const first = nodes[0] as NodeProto;
      const sizes = makeTensor(
        `${first.name}_joined_sizes`,
        [widths.length],
        BigInt64Array.from(widths.map(BigInt)),
      );
      graph.initializer.push(sizes);
      const product = `${first.name}_joined_out`;
      const fused = [
        makeNode("MatMul", [input, name], [product], `${first.name}_joined`),
        makeNode(
          "Split",
          [product, sizes.name],
          nodes.map((node) => node.output[0] ?? ""),
          `${first.name}_joined_split`,
          { axis: -1 },
        ),
      ];
      graph.node.splice(graph.node.indexOf(first), 1, ...fused);
      for (const node of nodes.slice(1)) graph.node.splice(graph.node.indexOf(node), 1);
    }
    for (const node of graph.node) for (const body of subgraphs(node)) visit(body, scope);
  };
  visit(top, new Map());

  const read = new Set<string>();
  const collect = (graph: GraphProto) => {
    for (const node of graph.node) {
      for (const input of node.input) read.add(input);
      for (const body of subgraphs(node)) collect(body);
    }
  };
  collect(top);
  const prune = (graph: GraphProto) => {
    graph.initializer = graph.initializer.filter(
      (tensor) => !replaced.has(tensor.name) || read.has(tensor.name),
    );
    for (const node of graph.node) for (const body of subgraphs(node)) prune(body);
  };
  prune(top);
  return encodeModel(model);
}
