import { create } from "@bufbuild/protobuf";
import {
  type AttributeProto,
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  type GraphProto,
  GraphProtoSchema,
  ModelProtoSchema,
  type NodeProto,
  OperatorSetIdProtoSchema,
  type TensorProto,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  type ValueInfoProto,
  ValueInfoProtoSchema,
} from "onnx-buf";
import { encodeModel } from "../../../cli/lib/quantize/onnx.js";
import { startOrtInNode } from "../../../src/runtime/ort-node.js";

export { makeNode, makeTensor } from "../../../cli/lib/quantize/onnx.js";

export const FLOAT = 1;
export const INT64 = 7;
export const BOOL = 9;

/** A tensor's name, element type and shape (a string is a symbolic dim); no shape for a branch output. */
export function value(name: string, elemType: number, shape?: (number | string)[]): ValueInfoProto {
  const dims = (shape ?? []).map((d) =>
    create(TensorShapeProto_DimensionSchema, {
      value: typeof d === "number" ? { case: "dimValue", value: BigInt(d) } : { case: "dimParam", value: d },
    }),
  );
  const tensorType = create(TypeProto_TensorSchema, {
    elemType,
    ...(shape ? { shape: create(TensorShapeProtoSchema, { dim: dims }) } : {}),
  });
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, { value: { case: "tensorType", value: tensorType } }),
  });
}

export function graph(
  name: string,
  parts: {
    inputs?: ValueInfoProto[];
    outputs: ValueInfoProto[];
    nodes: NodeProto[];
    initializers?: TensorProto[];
  },
): GraphProto {
  return create(GraphProtoSchema, {
    name,
    input: parts.inputs ?? [],
    output: parts.outputs,
    node: parts.nodes,
    initializer: parts.initializers ?? [],
  });
}

/** Attributes the quantizer's own node builder never writes: floats (Gemm's alpha) and graphs (If). */
export function floatAttribute(name: string, f: number): AttributeProto {
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.FLOAT, f });
}

export function graphAttribute(name: string, g: GraphProto): AttributeProto {
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.GRAPH, g });
}

/** A serialized model importing ai.onnx `opset`, plus com.microsoft when `microsoft` is set. */
export function modelBytes(top: GraphProto, opset = 17, microsoft = false): Uint8Array {
  const imports = [create(OperatorSetIdProtoSchema, { domain: "", version: BigInt(opset) })];
  if (microsoft) imports.push(create(OperatorSetIdProtoSchema, { domain: "com.microsoft", version: 1n }));
  return encodeModel(create(ModelProtoSchema, { irVersion: 8n, opsetImport: imports, graph: top }));
}

/** Seeded uniform values in [-1, 1) (a small LCG), so a failure reproduces. */
export function randomValues(count: number, seed: number, spread = 1): Float32Array {
  let state = seed >>> 0 || 1;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = (state / 2 ** 32) * 2 * spread - spread;
  }
  return out;
}

type Feed =
  | { type: "float32"; data: Float32Array; dims: number[] }
  | { type: "int64" | "bool"; data: BigInt64Array | Uint8Array; dims: number[] };

/** Runs a model once in onnxruntime-web (WASM, as the worker runs it); returns its float outputs. */
export async function runOnnx(
  bytes: Uint8Array,
  feeds: Record<string, Feed>,
): Promise<Record<string, Float32Array>> {
  const { ort } = await startOrtInNode();
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
  });
  try {
    const tensors = Object.fromEntries(
      Object.entries(feeds).map(([name, feed]) => [name, new ort.Tensor(feed.type, feed.data, feed.dims)]),
    );
    const outputs = await session.run(tensors);
    return Object.fromEntries(
      Object.entries(outputs).map(([name, tensor]) => [name, tensor.data as Float32Array]),
    );
  } finally {
    await session.release();
  }
}

export function floats(data: Float32Array, dims: number[]): Feed {
  return { type: "float32", data, dims };
}

export function ids(values: number[], dims: number[]): Feed {
  return { type: "int64", data: BigInt64Array.from(values.map(BigInt)), dims };
}

export function flag(on: boolean): Feed {
  return { type: "bool", data: new Uint8Array([on ? 1 : 0]), dims: [] };
}
