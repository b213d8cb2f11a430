import type { Tensor } from "onnxruntime-web/wasm";
import type { Ort } from "../runtime/ort.js";

/**
 * The tensor plumbing every task shares: padded id batches, row repetition and reordering of
 * caches (float32 or float16), last-position logits, and empty first-step caches. Rows are the
 * first dimension throughout.
 */
export type CacheType = "float32" | "float16";

export interface PaddedBatch {
  ids: Tensor;
  mask: Tensor;
  /** The mask's data, for pooling over real tokens. */
  maskData: BigInt64Array;
  length: number;
}

/** Right-padded `[rows, longest]` input ids and attention mask. */
export function paddedBatch(ort: Ort, rows: readonly (readonly number[])[], padId: number): PaddedBatch {
  const length = Math.max(1, ...rows.map((row) => row.length));
  const ids = new BigInt64Array(rows.length * length).fill(BigInt(padId));
  const mask = new BigInt64Array(rows.length * length);
  rows.forEach((row, r) => {
    row.forEach((id, i) => {
      ids[r * length + i] = BigInt(id);
      mask[r * length + i] = 1n;
    });
  });
  const shape = [rows.length, length];
  return {
    ids: new ort.Tensor("int64", ids, shape),
    mask: new ort.Tensor("int64", mask, shape),
    maskData: mask,
    length,
  };
}

export function int64Tensor(ort: Ort, values: readonly number[], shape: readonly number[]): Tensor {
  return new ort.Tensor("int64", BigInt64Array.from(values, BigInt), shape);
}

type RowData = Float32Array | Uint16Array | BigInt64Array;

function rowSize(tensor: Tensor): number {
  return tensor.dims.slice(1).reduce((a, b) => a * b, 1);
}

function withRows(ort: Ort, tensor: Tensor, data: RowData, rows: number): Tensor {
  return new ort.Tensor(tensor.type as "float32", data as Float32Array, [rows, ...tensor.dims.slice(1)]);
}

/** Each row repeated `times` times in place: rows a, b become a, a, b, b (beams of one input together). */
export function repeatRows(ort: Ort, tensor: Tensor, times: number): Tensor {
  if (times === 1) return tensor;
  const rows = tensor.dims[0] ?? 1;
  const size = rowSize(tensor);
  const source = tensor.data as RowData;
  const target = new (source.constructor as new (length: number) => RowData)(source.length * times);
  for (let r = 0; r < rows; r++) {
    const row = source.subarray(r * size, (r + 1) * size);
    for (let k = 0; k < times; k++) target.set(row as never, (r * times + k) * size);
  }
  return withRows(ort, tensor, target, rows * times);
}

/** Row r of the result is row `sources[r]` of `tensor` (beams follow their parents). */
export function reorderRows(ort: Ort, tensor: Tensor, sources: readonly number[]): Tensor {
  if (sources.length === tensor.dims[0] && sources.every((source, r) => source === r)) return tensor;
  const size = rowSize(tensor);
  const source = tensor.data as RowData;
  const target = new (source.constructor as new (length: number) => RowData)(sources.length * size);
  sources.forEach((from, r) => {
    target.set(source.subarray(from * size, (from + 1) * size) as never, r * size);
  });
  return withRows(ort, tensor, target, sources.length);
}

/** A float tensor's values as float32: fp16 models (transformers.js `_fp16` files) return half floats. */
export function floatData(tensor: Tensor): Float32Array {
  if (tensor.type === "float16") return Float32Array.from(tensor.data as Uint16Array, fromHalfBits);
  return tensor.data as Float32Array;
}

/** The logits of the last position of every row, as float32 (fp16 models return half floats). */
export function lastLogits(logits: Tensor): Float32Array[] {
  const [rows = 1, length = 1, vocab = 0] = logits.dims;
  const at = (row: number) => (row * length + length - 1) * vocab;
  if (logits.type === "float16") {
    const data = logits.data as Uint16Array;
    return Array.from({ length: rows }, (_, row) =>
      Float32Array.from(data.subarray(at(row), at(row) + vocab), fromHalfBits),
    );
  }
  const data = logits.data as Float32Array;
  return Array.from({ length: rows }, (_, row) => data.subarray(at(row), at(row) + vocab));
}

/** A zero-length cache tensor `[rows, heads, 0, headDim]` for a first step with past inputs. */
export function emptyCache(ort: Ort, type: CacheType, rows: number, heads: number, headDim: number): Tensor {
  const shape = [rows, heads, 0, headDim];
  return type === "float16"
    ? new ort.Tensor("float16", new Uint16Array(0), shape)
    : new ort.Tensor("float32", new Float32Array(0), shape);
}

export function cacheType(type: string | undefined): CacheType {
  return type === "float16" ? "float16" : "float32";
}

const halfView = new DataView(new ArrayBuffer(4));

/** IEEE 754 binary16 bits of a number, rounded to nearest even (onnxruntime-web takes FP16 as bits). */
export function toHalfBits(value: number): number {
  halfView.setFloat32(0, value);
  const bits = halfView.getUint32(0);
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    if (halfExponent < -10) return sign;
    return sign | roundShift(mantissa | 0x800000, 14 - halfExponent);
  }
  return sign + ((halfExponent << 10) + roundShift(mantissa, 13));
}

function roundShift(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value - kept * 2 ** shift;
  const half = 2 ** (shift - 1);
  return rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept;
}

export function fromHalfBits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (mantissa / 1024);
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
}

/**
 * Cache tensors are `[rows, heads, positions, headDim]`. In a batch of sequences of different
 * lengths, each row's positions are right-aligned (left padding, masked out), so a row's newest
 * position is always the last column.
 */
export function padPositionsLeft(ort: Ort, tensor: Tensor, width: number): Tensor {
  const [rows = 1, heads = 1, positions = 0, headDim = 1] = tensor.dims;
  if (positions === width) return tensor;
  return copyColumns(ort, tensor, [rows, heads, width, headDim], width - positions, 0, positions);
}

/** Keeps the last `width` positions of every row (the columns every row has left as padding go). */
export function keepLastPositions(ort: Ort, tensor: Tensor, width: number): Tensor {
  const [rows = 1, heads = 1, positions = 0, headDim = 1] = tensor.dims;
  if (positions === width) return tensor;
  return copyColumns(ort, tensor, [rows, heads, width, headDim], 0, positions - width, width);
}

/** The rows of `a` then the rows of `b` (same shape but for rows). */
export function concatRows(ort: Ort, a: Tensor, b: Tensor): Tensor {
  const first = a.data as RowData;
  const second = b.data as RowData;
  const target = new (first.constructor as new (length: number) => RowData)(first.length + second.length);
  target.set(first as never, 0);
  target.set(second as never, first.length);
  return withRows(ort, a, target, (a.dims[0] ?? 0) + (b.dims[0] ?? 0));
}

function copyColumns(
  ort: Ort,
  tensor: Tensor,
  dims: [number, number, number, number],
  targetStart: number,
  sourceStart: number,
  count: number,
): Tensor {
  const [rows, heads, width, headDim] = dims;
  const positions = tensor.dims[2] ?? 0;
  const source = tensor.data as RowData;
  const target = new (source.constructor as new (length: number) => RowData)(rows * heads * width * headDim);
  for (let block = 0; block < rows * heads; block++) {
    const from = (block * positions + sourceStart) * headDim;
    target.set(
      source.subarray(from, from + count * headDim) as never,
      (block * width + targetStart) * headDim,
    );
  }
  return new ort.Tensor(tensor.type as "float32", target as Float32Array, dims);
}
