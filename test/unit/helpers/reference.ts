/**
 * The int8 layout's arithmetic in plain JS, float32 rounding at every step where ONNX rounds, written
 * from the layout's definition rather than from the rewritten graph.
 */
import { MIN_SCALE, ZERO_POINT } from "../../../cli/lib/quantize/rewrite.js";
import { roundHalfEven } from "../../../cli/lib/quantize/weights.js";

const f = Math.fround;

/** Per row: s = max(max|x| * f32(1/127), FLT_MIN); q = clamp(round(x / s) + 128, 0, 255) - 128. */
export function quantizeRows(x: Float32Array, width: number): { q: Int32Array; scales: Float32Array } {
  const rows = x.length / width;
  const q = new Int32Array(x.length);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let peak = 0;
    for (let i = 0; i < width; i++) peak = Math.max(peak, Math.abs(x[r * width + i] as number));
    const scale = Math.max(f(f(peak) * f(1 / 127)), MIN_SCALE);
    scales[r] = scale;
    for (let i = 0; i < width; i++) {
      const shifted = roundHalfEven(f((x[r * width + i] as number) / scale)) + ZERO_POINT;
      q[r * width + i] = Math.max(0, Math.min(255, shifted)) - ZERO_POINT;
    }
  }
  return { q, scales };
}

/** (float(sum_k q[r,k] * w[k,n]) * channel[n]) * s[r], with w int8 [K, N] row-major. */
export function int8MatMul(
  x: Float32Array,
  k: number,
  w: Int8Array,
  n: number,
  channelScales: Float32Array,
): Float32Array {
  const { q, scales } = quantizeRows(x, k);
  const rows = x.length / k;
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < n; c++) {
      let acc = 0;
      for (let i = 0; i < k; i++) acc += (q[r * k + i] as number) * (w[i * n + c] as number);
      out[r * n + c] = f(f(f(acc) * (channelScales[c] as number)) * (scales[r] as number));
    }
  }
  return out;
}

/** Plain float32 x [rows, K] @ w [K, N]. */
export function floatMatMul(x: Float32Array, k: number, w: Float32Array, n: number): Float32Array {
  const rows = x.length / k;
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < n; c++) {
      let acc = 0;
      for (let i = 0; i < k; i++) acc += (x[r * k + i] as number) * (w[i * n + c] as number);
      out[r * n + c] = acc;
    }
  }
  return out;
}

/** The [cols, rows] transpose of a row-major [rows, cols] float matrix. */
export function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c] as number;
  }
  return out;
}

/** Largest |a - b| relative to max(1, |b|). */
export function maxRelativeError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const error = Math.abs((a[i] as number) - (b[i] as number)) / Math.max(1, Math.abs(b[i] as number));
    worst = Math.max(worst, error);
  }
  return worst;
}

/** max |a - b| / max |b|: how far a quantized result is from the float one, on the float one's scale. */
export function errorOnScale(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  let peak = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
    peak = Math.max(peak, Math.abs(b[i] as number));
  }
  return worst / peak;
}
