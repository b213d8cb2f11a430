/**
 * Symmetric int8 weights with one scale per channel, bit for bit what `quantize_array` in
 * models/recipes/common/int8.py computes (float32 division, round half to even, clip to ±127), so a
 * PyTorch fake-quant model built with that function holds exactly the weights of the ONNX file.
 */
export interface ChannelQuantized {
  /** The int8 values in the weight's own [rows, cols] order. */
  values: Int8Array;
  /** One scale per channel: max |w| / 127 over the channel, 1 where the channel is all zeros. */
  scales: Float32Array;
}

/** Round half to even, as numpy's `np.round` and ONNX's QuantizeLinear do. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Quantizes a row-major [rows, cols] weight with channels along `axis` (0: rows, 1: columns). */
export function quantizeChannels(
  weight: Float32Array,
  rows: number,
  cols: number,
  axis: 0 | 1,
): ChannelQuantized {
  const channels = axis === 0 ? rows : cols;
  const peaks = new Float32Array(channels);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const channel = axis === 0 ? r : c;
      const magnitude = Math.abs(weight[r * cols + c] as number);
      if (magnitude > (peaks[channel] as number)) peaks[channel] = magnitude;
    }
  }
  const scales = peaks.map((peak) => (peak > 0 ? Math.fround(peak / 127) : 1));
  const values = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const scale = scales[axis === 0 ? r : c] as number;
      const q = roundHalfEven(Math.fround((weight[r * cols + c] as number) / scale));
      values[r * cols + c] = Math.max(-127, Math.min(127, q));
    }
  }
  return { values, scales };
}

/** The [cols, rows] transpose of a row-major [rows, cols] int8 matrix. */
export function transposeInt8(values: Int8Array, rows: number, cols: number): Int8Array {
  const out = new Int8Array(values.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c] as number;
  }
  return out;
}
