// Verify models/intent-bert/onnx/*.onnx against golden.json in onnxruntime-web (WASM, 1 thread):
// token ids rebuilt through tokenizer.json, logits and masked-mean L2-normalised embeddings, each input alone
// and all inputs together in one right-padded batch.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import { i64, load } from '../common/ort.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const modelDir = join(here, '..', '..', 'intent-bert');
const golden = JSON.parse(readFileSync(join(here, 'golden.json'), 'utf8'));
const tok = new Tokenizer(
  JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8')),
  JSON.parse(readFileSync(join(modelDir, 'tokenizer_config.json'), 'utf8')),
);
// int8 quantizes activations per row at run time: a value within float rounding of a .5 step can round the other
// way in WASM than in PyTorch (one quantum), which moves the logits by up to a few 1e-3; the other inputs agree to
// 1e-4 (counted below).
const TOL = { fp32: { logits: 1e-3, cos: 0.999 }, int8: { logits: 1e-2, cos: 0.999 } };

const cos = (a, b) => {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb);
};
const maxAbs = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
function pooled(h, masks, L, H) {
  return masks.map((m, b) => {
    const out = new Float64Array(H);
    let n = 0;
    for (let t = 0; t < L; t++) {
      if (!m[t]) continue;
      n++;
      for (let k = 0; k < H; k++) out[k] += h[(b * L + t) * H + k];
    }
    let s = 0;
    for (let k = 0; k < H; k++) { out[k] /= Math.max(n, 1e-9); s += out[k] * out[k]; }
    s = Math.max(Math.sqrt(s), 1e-12);
    return Array.from(out, (v) => v / s);
  });
}

let passed = 0, failed = 0;
const check = (ok, msg) => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${msg}`); ok ? passed++ : failed++; };

// tokenizer parity with the ids stored in the golden
let tokOk = 0;
for (const inp of golden.inputs) {
  if (JSON.stringify(tok.encode(inp.text).ids) === JSON.stringify(inp.input_ids)) tokOk++;
}
check(tokOk === golden.inputs.length, `tokenizer.json rebuilds ${tokOk}/${golden.inputs.length} golden input_ids`);

for (const [dtype, file] of [['fp32', 'model.onnx'], ['int8', 'model_quantized.onnx']]) {
  const sess = await load(join(modelDir, 'onnx', file));
  const exp = golden[dtype];
  const C = golden.num_labels;
  let worstLogit = 0, worstCos = 1, sameArgmax = 0, near = 0;
  const runRows = async (idxs) => {
    const rows = idxs.map((k) => golden.inputs[k]);
    const L = Math.max(...rows.map((r) => r.input_ids.length));
    const out = await sess.run({
      input_ids: i64(rows.map((r) => r.input_ids), L, golden.special_token_ids['[PAD]']),
      attention_mask: i64(rows.map((r) => r.attention_mask), L, 0),
      token_type_ids: i64(rows.map((r) => r.token_type_ids), L, 0),
    });
    const H = out.last_hidden_state.dims[2];
    const masks = rows.map((r) => Array.from({ length: L }, (_, t) => (t < r.attention_mask.length ? r.attention_mask[t] : 0)));
    const embs = pooled(out.last_hidden_state.data, masks, L, H);
    idxs.forEach((k, b) => {
      const lg = Array.from(out.logits.data.slice(b * C, (b + 1) * C));
      worstLogit = Math.max(worstLogit, maxAbs(lg, exp.logits[k]));
      if (maxAbs(lg, exp.logits[k]) <= 1e-4) near++;
      worstCos = Math.min(worstCos, cos(embs[b], exp.embedding[k]));
      const am = (a) => a.indexOf(Math.max(...a));
      if (am(lg) === am(exp.logits[k])) sameArgmax++;
    });
  };
  for (let k = 0; k < golden.inputs.length; k++) await runRows([k]);
  await runRows(golden.inputs.map((_, k) => k));
  const n = 2 * golden.inputs.length;
  check(worstLogit <= TOL[dtype].logits && worstCos >= TOL[dtype].cos && sameArgmax === n,
    `${dtype} ${file}: max |logit diff| ${worstLogit.toExponential(2)} (tol ${TOL[dtype].logits}), ` +
    `min embedding cosine ${worstCos.toFixed(7)} (tol ${TOL[dtype].cos}), argmax equal ${sameArgmax}/${n}, ` +
    `logits within 1e-4 ${near}/${n}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
