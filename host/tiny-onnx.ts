import { create } from "@bufbuild/protobuf";
import { GraphProtoSchema, ModelProtoSchema, OperatorSetIdProtoSchema } from "onnx-buf";
import { encodeModel, floatValueInfo, makeNode, makeTensor } from "../cli/lib/quantize/onnx.js";

/**
 * ONNX models for tests and benchmarks: a MatMul of the input by one constant weight, optionally in
 * 8-bit `MatMulNBits` as the project's int8 recipe writes it.
 */
export interface MatMulModel {
  /** Columns of the input `x` (rows are the batch, a symbolic dimension). */
  inputs: number;
  /** Columns of the output `y`. */
  outputs: number;
  /** Every weight of the model, so the answer tells which model answered: y = sum(x) * weight. */
  weight: number;
  int8?: boolean;
}

/** Inputs per block of MatMulNBits' scales. */
const BLOCK = 256;

export function matMulModel(model: MatMulModel): Uint8Array {
  const { inputs, outputs, weight } = model;
  const blocks = Math.ceil(inputs / BLOCK);
  const [nodes, initializers] = model.int8
    ? [
        [
          makeNode(
            "MatMulNBits",
            ["x", "w_q", "w_scales"],
            ["y"],
            "matmul",
            {
              K: inputs,
              N: outputs,
              bits: 8,
              block_size: BLOCK,
            },
            "com.microsoft",
          ),
        ],
        // Every byte is 255 and the zero point defaults to 128, so each weight is 127 * scale.
        [
          makeTensor("w_q", [outputs, blocks, BLOCK], new Uint8Array(outputs * blocks * BLOCK).fill(255)),
          makeTensor("w_scales", [outputs * blocks], new Float32Array(outputs * blocks).fill(weight / 127)),
        ],
      ]
    : [
        [makeNode("MatMul", ["x", "w"], ["y"], "matmul")],
        [makeTensor("w", [inputs, outputs], new Float32Array(inputs * outputs).fill(weight))],
      ];
  const graph = create(GraphProtoSchema, {
    name: "matmul",
    node: nodes,
    initializer: initializers,
    input: [floatValueInfo("x", ["batch", inputs])],
    output: [floatValueInfo("y", ["batch", outputs])],
  });
  const opset = (domain: string, version: number) =>
    create(OperatorSetIdProtoSchema, { domain, version: BigInt(version) });
  return encodeModel(
    create(ModelProtoSchema, {
      irVersion: 7n,
      opsetImport: [opset("", 13), opset("com.microsoft", 1)],
      graph,
    }),
  );
}
