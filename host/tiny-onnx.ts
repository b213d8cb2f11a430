/**
 * Writes ONNX models for tests and benchmarks: a MatMul of the input by one constant weight,
 * optionally in 8-bit `MatMulNBits` as the project's int8 recipe writes it. Just enough protobuf
 * to describe that graph; field numbers are onnx.proto's.
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

const FLOAT = 1;
const UINT8 = 2;
/** Inputs per block of MatMulNBits' scales. */
const BLOCK = 256;

export function matMulModel(model: MatMulModel): Uint8Array {
  const { inputs, outputs } = model;
  const count = inputs * outputs;
  const nodes: Uint8Array[] = [];
  const initializers: Uint8Array[] = [];
  if (model.int8) {
    // Every byte is 255 and the zero point defaults to 128, so each weight is 127 * scale.
    const blocks = Math.ceil(inputs / BLOCK);
    initializers.push(
      tensor("w_q", UINT8, [outputs, blocks, BLOCK], new Uint8Array(outputs * blocks * BLOCK).fill(255)),
    );
    initializers.push(
      tensor(
        "w_scales",
        FLOAT,
        [outputs * blocks],
        floats(new Array(outputs * blocks).fill(model.weight / 127)),
      ),
    );
    const attributes = { K: inputs, N: outputs, bits: 8, block_size: BLOCK };
    nodes.push(node("MatMulNBits", ["x", "w_q", "w_scales"], ["y"], "com.microsoft", attributes));
  } else {
    initializers.push(tensor("w", FLOAT, [inputs, outputs], floats(new Array(count).fill(model.weight))));
    nodes.push(node("MatMul", ["x", "w"], ["y"]));
  }
  const graph = concat(
    ...nodes.map((n) => field(1, n)),
    field(2, text("matmul")),
    ...initializers.map((t) => field(5, t)),
    field(11, valueInfo("x", ["batch", inputs])),
    field(12, valueInfo("y", ["batch", outputs])),
  );
  const opset = (domain: string, version: number) =>
    field(8, concat(field(1, text(domain)), varintField(2, version)));
  return concat(varintField(1, 7), opset("", 13), opset("com.microsoft", 1), field(7, graph));
}

function node(
  op: string,
  inputs: string[],
  outputs: string[],
  domain = "",
  attributes: Record<string, number> = {},
): Uint8Array {
  const INT = 2;
  return concat(
    ...inputs.map((name) => field(1, text(name))),
    ...outputs.map((name) => field(2, text(name))),
    field(4, text(op)),
    ...Object.entries(attributes).map(([name, value]) =>
      field(5, concat(field(1, text(name)), varintField(3, value), varintField(20, INT))),
    ),
    field(7, text(domain)),
  );
}

function tensor(name: string, type: number, dims: number[], raw: Uint8Array): Uint8Array {
  return concat(
    ...dims.map((dim) => varintField(1, dim)),
    varintField(2, type),
    field(8, text(name)),
    field(9, raw),
  );
}

function valueInfo(name: string, shape: (number | string)[]): Uint8Array {
  const dims = shape.map((dim) =>
    field(1, typeof dim === "number" ? varintField(1, dim) : field(2, text(dim))),
  );
  const tensorType = concat(varintField(1, FLOAT), field(2, concat(...dims)));
  return concat(field(1, text(name)), field(2, field(1, tensorType)));
}

function floats(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

function text(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}

function varint(value: number): Uint8Array {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Uint8Array.from(bytes);
}

function varintField(number: number, value: number): Uint8Array {
  return concat(varint(number << 3), varint(value));
}

function field(number: number, payload: Uint8Array): Uint8Array {
  return concat(varint((number << 3) | 2), varint(payload.byteLength), payload);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
