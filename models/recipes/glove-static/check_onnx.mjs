// Verify models/glove-static/onnx/*.onnx against golden.json in onnxruntime-web (WASM, 1 thread).
// Each golden input is run alone and all of them together in one right-padded batch.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { i64, load } from '../common/ort.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const modelDir = join(here, '..', '..', 'glove-static');
const golden = JSON.parse(readFileSync(join(here, 'golden.json'), 'utf8'));

const cos = (a, b) => {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  if (aa === 0 && bb === 0) return 1;
  return ab / Math.sqrt(aa * bb);
};
const maxAbs = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

let failed = 0, passed = 0;
for (const [dtype, file] of [['fp32', 'model.onnx'], ['int8', 'model_quantized.onnx']]) {
  const sess = await load(join(modelDir, 'onnx', file));
  const exp = golden[dtype];
  let worstCos = 1, worstAbs = 0;
  // one by one
  for (let k = 0; k < golden.inputs.length; k++) {
    const inp = golden.inputs[k];
    const L = inp.input_ids.length;
    const out = await sess.run({ input_ids: i64([inp.input_ids], L), attention_mask: i64([inp.attention_mask], L) });
    const e = Array.from(out.sentence_embedding.data);
    worstCos = Math.min(worstCos, cos(e, exp.sentence_embedding[k]));
    worstAbs = Math.max(worstAbs, maxAbs(e, exp.sentence_embedding[k]));
    worstAbs = Math.max(worstAbs, maxAbs(Array.from(out.last_hidden_state.data), exp.last_hidden_state[k].flat()));
  }
  // padded batch
  const L = Math.max(...golden.inputs.map((x) => x.input_ids.length));
  const pad = (r, v) => r.concat(new Array(L - r.length).fill(v));
  const out = await sess.run({
    input_ids: i64(golden.inputs.map((x) => pad(x.input_ids, golden.pad_token_id)), L),
    attention_mask: i64(golden.inputs.map((x) => pad(x.attention_mask, 0)), L),
  });
  const D = golden.hidden_size;
  for (let k = 0; k < golden.inputs.length; k++) {
    const e = Array.from(out.sentence_embedding.data.slice(k * D, (k + 1) * D));
    worstCos = Math.min(worstCos, cos(e, exp.sentence_embedding[k]));
    worstAbs = Math.max(worstAbs, maxAbs(e, exp.sentence_embedding[k]));
  }
  const ok = worstCos >= 0.999 && worstAbs <= 1e-4;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${dtype} ${file}: min cosine ${worstCos.toFixed(7)}, max abs diff ${worstAbs.toExponential(2)}`);
  ok ? passed++ : failed++;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
