/**
 * Reading, writing and building ONNX protobuf messages.
 *
 * The schema comes from `onnx-buf`: the official `onnx.proto3` of ONNX 1.20 compiled by Buf's
 * `protoc-gen-es` for `@bufbuild/protobuf` v2 (a maintained, conformance-tested protobuf runtime).
 * It was chosen over `onnx-proto`, which ships a 2020-era schema on protobufjs 6 with loose types,
 * and over loading `onnx.proto` into protobufjs by reflection, which would leave every message
 * untyped: here each field is typed, int64 fields are bigint and unknown fields survive a round trip.
 * proto3 and proto2 encodings of onnx.proto are wire-compatible, so onnxruntime reads what this writes.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type AttributeProto,
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  type GraphProto,
  type ModelProto,
  ModelProtoSchema,
  type NodeProto,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  type TensorProto,
  TensorProto_DataLocation,
  TensorProto_DataType,
  TensorProtoSchema,
  type ValueInfoProto,
  ValueInfoProtoSchema,
} from "onnx-buf";

export type { AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto };
export { TensorProto_DataType as DataType };

export function decodeModel(bytes: Uint8Array): ModelProto {
  return fromBinary(ModelProtoSchema, bytes);
}

export function encodeModel(model: ModelProto): Uint8Array {
  return toBinary(ModelProtoSchema, model);
}

/** The version of the default (ai.onnx) operator set the model imports. */
export function defaultOpset(model: ModelProto): number {
  const entry = model.opsetImport.find((o) => o.domain === "" || o.domain === "ai.onnx");
  if (!entry) throw new Error("The model imports no ai.onnx operator set.");
  return Number(entry.version);
}

/** Adds an operator set import unless the model already imports that domain. */
export function importOpset(model: ModelProto, domain: string, version: number): void {
  if (model.opsetImport.some((o) => o.domain === domain)) return;
  model.opsetImport.push(create(OperatorSetIdProtoSchema, { domain, version: BigInt(version) }));
}

/** The graphs held by a node's attributes (an If's branches, a Loop's or Scan's body). */
export function subgraphs(node: NodeProto): GraphProto[] {
  return node.attribute.flatMap((a) => (a.g ? [a.g, ...a.graphs] : a.graphs));
}

export function intAttribute(node: NodeProto, name: string, fallback: number): number {
  const found = node.attribute.find((a) => a.name === name);
  return found ? Number(found.i) : fallback;
}

export function floatAttribute(node: NodeProto, name: string, fallback: number): number {
  return node.attribute.find((a) => a.name === name)?.f ?? fallback;
}

export function intsAttribute(node: NodeProto, name: string): number[] | undefined {
  return node.attribute.find((a) => a.name === name)?.ints.map(Number);
}

/** The rewrites only write integer attributes (axes, keepdims, Cast's `to`, perm). */
export type AttributeValue = number | number[];

function attribute(name: string, value: AttributeValue): AttributeProto {
  if (Array.isArray(value)) {
    return create(AttributeProtoSchema, {
      name,
      type: AttributeProto_AttributeType.INTS,
      ints: value.map(BigInt),
    });
  }
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INT, i: BigInt(value) });
}

export function makeNode(
  opType: string,
  inputs: string[],
  outputs: string[],
  name: string,
  attributes: Record<string, AttributeValue> = {},
  domain = "",
): NodeProto {
  return create(NodeProtoSchema, {
    opType,
    input: inputs,
    output: outputs,
    name,
    domain,
    attribute: Object.entries(attributes).map(([key, value]) => attribute(key, value)),
  });
}

type TypedArray = Float32Array | Int8Array | Uint8Array | Int32Array | BigInt64Array;

function dataType(data: TypedArray): TensorProto_DataType {
  if (data instanceof Float32Array) return TensorProto_DataType.FLOAT;
  if (data instanceof Int8Array) return TensorProto_DataType.INT8;
  if (data instanceof Uint8Array) return TensorProto_DataType.UINT8;
  if (data instanceof Int32Array) return TensorProto_DataType.INT32;
  return TensorProto_DataType.INT64;
}

/** An initializer holding `data` (little-endian raw bytes, as every platform ORT runs on). */
export function makeTensor(name: string, dims: number[], data: TypedArray): TensorProto {
  const rawData = new Uint8Array(data.byteLength);
  rawData.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return create(TensorProtoSchema, { name, dims: dims.map(BigInt), dataType: dataType(data), rawData });
}

/** A float32 graph input or output; string dimensions are symbolic (`batch`, `sequence_length`). */
export function floatValueInfo(name: string, dims: (number | string)[]): ValueInfoProto {
  return create(ValueInfoProtoSchema, {
    name,
    type: {
      value: {
        case: "tensorType",
        value: {
          elemType: TensorProto_DataType.FLOAT,
          shape: {
            dim: dims.map((dim) =>
              typeof dim === "number"
                ? { value: { case: "dimValue" as const, value: BigInt(dim) } }
                : { value: { case: "dimParam" as const, value: dim } },
            ),
          },
        },
      },
    },
  });
}

export function tensorDims(tensor: TensorProto): number[] {
  return tensor.dims.map(Number);
}

/** A float tensor's values, from `raw_data` or `float_data`, whichever the writer used. */
export function floatValues(tensor: TensorProto): Float32Array {
  if (tensor.dataType !== TensorProto_DataType.FLOAT) throw new Error(`'${tensor.name}' is not float32`);
  if (tensor.dataLocation === TensorProto_DataLocation.EXTERNAL) {
    throw new Error(`'${tensor.name}' keeps its data in an external file, which is not supported`);
  }
  if (tensor.rawData.byteLength > 0) {
    const copy = new Uint8Array(tensor.rawData);
    return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
  }
  return Float32Array.from(tensor.floatData);
}

/** An int64 tensor's values, from `raw_data` or `int64_data`. */
export function int64Values(tensor: TensorProto): bigint[] {
  if (tensor.dataType !== TensorProto_DataType.INT64) throw new Error(`'${tensor.name}' is not int64`);
  if (tensor.rawData.byteLength > 0) {
    const copy = new Uint8Array(tensor.rawData);
    return [...new BigInt64Array(copy.buffer, 0, copy.byteLength / 8)];
  }
  return [...tensor.int64Data];
}

/** Hands out names no graph of the model uses yet. */
export class UniqueNames {
  private readonly used = new Set<string>();

  constructor(top: GraphProto) {
    const collect = (graph: GraphProto): void => {
      for (const list of [graph.initializer, graph.input, graph.output, graph.valueInfo]) {
        for (const item of list) this.used.add(item.name);
      }
      for (const node of graph.node) {
        this.used.add(node.name);
        for (const name of [...node.input, ...node.output]) this.used.add(name);
        for (const body of subgraphs(node)) collect(body);
      }
    };
    collect(top);
  }

  take(base: string): string {
    let name = base;
    for (let n = 1; this.used.has(name); n++) name = `${base}_${n}`;
    this.used.add(name);
    return name;
  }
}
