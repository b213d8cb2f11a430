/**
 * The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {...}}`, then the raw
 * little-endian tensor bytes. Written here because no maintained JavaScript package for it is in
 * the project's registry; the format is small enough that the whole of it fits in this file. Only
 * the float dtypes LoRA adapters are saved in are decoded (F32, F16, BF16), always into float32.
 */
export interface FloatTensor {
  shape: number[];
  data: Float32Array;
}

export class SafetensorsError extends Error {}

const BYTES: Record<string, number> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  F64: 8,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Reads every tensor of a file into float32; a tensor of another dtype, or a malformed file, is an error. */
export function readSafetensors(bytes: Uint8Array): Map<string, FloatTensor> {
  if (bytes.byteLength < 8) throw new SafetensorsError("the file is shorter than its 8-byte header length");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.byteLength - 8)
    throw new SafetensorsError("the header runs past the end of the file");
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<
      string,
      unknown
    >;
  } catch {
    throw new SafetensorsError("the header is not JSON");
  }
  const data = bytes.subarray(8 + headerLength);
  const tensors = new Map<string, FloatTensor>();
  for (const [name, value] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const entry = value as HeaderEntry;
    const width = BYTES[entry?.dtype];
    const [begin, end] = Array.isArray(entry?.data_offsets) ? entry.data_offsets : [Number.NaN, Number.NaN];
    if (!width || !Array.isArray(entry.shape) || !Number.isInteger(begin) || !Number.isInteger(end)) {
      throw new SafetensorsError(`tensor '${name}' has a malformed header entry`);
    }
    const count = entry.shape.reduce((product, dim) => product * dim, 1);
    if (begin < 0 || end > data.byteLength || end - begin !== count * width) {
      throw new SafetensorsError(`tensor '${name}' does not fit its data offsets`);
    }
    tensors.set(name, { shape: entry.shape, data: toFloat32(entry.dtype, data.subarray(begin, end), name) });
  }
  return tensors;
}

/** Writes float32 tensors, in the order given. */
export function writeSafetensors(tensors: Iterable<[string, FloatTensor]>): Uint8Array<ArrayBuffer> {
  const header: Record<string, HeaderEntry> = {};
  const parts: Float32Array[] = [];
  let offset = 0;
  for (const [name, tensor] of tensors) {
    const length = tensor.data.byteLength;
    header[name] = { dtype: "F32", shape: tensor.shape, data_offsets: [offset, offset + length] };
    parts.push(tensor.data);
    offset += length;
  }
  let json = JSON.stringify(header);
  // The format pads the header with spaces so the data starts 8-byte aligned.
  json += " ".repeat((8 - ((8 + new TextEncoder().encode(json).byteLength) % 8)) % 8);
  const encoded = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + encoded.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(encoded.byteLength), true);
  out.set(encoded, 8);
  let position = 8 + encoded.byteLength;
  for (const part of parts) {
    out.set(new Uint8Array(part.buffer, part.byteOffset, part.byteLength), position);
    position += part.byteLength;
  }
  return out;
}

function toFloat32(dtype: string, raw: Uint8Array, name: string): Float32Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (dtype === "F32") {
    const out = new Float32Array(raw.byteLength / 4);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  if (dtype === "BF16") {
    const out = new Float32Array(raw.byteLength / 2);
    const bits = new DataView(new ArrayBuffer(4));
    for (let i = 0; i < out.length; i++) {
      bits.setUint32(0, view.getUint16(i * 2, true) << 16);
      out[i] = bits.getFloat32(0);
    }
    return out;
  }
  if (dtype === "F16") {
    const out = new Float32Array(raw.byteLength / 2);
    for (let i = 0; i < out.length; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
    return out;
  }
  throw new SafetensorsError(`tensor '${name}' is ${dtype}; LoRA weights must be F32, F16 or BF16`);
}

function halfToFloat(half: number): number {
  const sign = half & 0x8000 ? -1 : 1;
  const exponent = (half >> 10) & 0x1f;
  const fraction = half & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}
