// onnxruntime-web as the recipes' checks use it: one WASM thread (as in a Worker), sessions from files,
// int64 tensors from rows of ids.
import fs from 'node:fs';
import * as ort from 'onnxruntime-web';

ort.env.wasm.numThreads = 1;

export { ort };

export async function load(file) {
  return ort.InferenceSession.create(fs.readFileSync(file));
}

// Rows of ids as an int64 [rows, length] tensor; shorter rows are right-padded with `fill`.
export function i64(rows, length = Math.max(...rows.map((r) => r.length)), fill = 0) {
  const data = new BigInt64Array(rows.length * length).fill(BigInt(fill));
  rows.forEach((r, i) => r.forEach((v, j) => { data[i * length + j] = BigInt(v); }));
  return new ort.Tensor('int64', data, [rows.length, length]);
}
