// Verifies that every ONNX file of models/phrase-translator reproduces golden.json in onnxruntime-web:
// greedy ids (merged decoder with an empty past on step 1; decoder_model + decoder_with_past; decoder_model
// without cache; the padded batch) and first-step logits. Usage: node models/recipes/phrase-translator/check_onnx.mjs
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { genConfig, greedy, sessions } from './ortlib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const modelDir = process.env.PT_MODEL_DIR ?? path.join(here, '../../phrase-translator');
const golden = JSON.parse(fs.readFileSync(process.env.PT_GOLDEN ?? path.join(here, 'golden.json'), 'utf8'));
const g = genConfig(modelDir);
// int8 quantizes activations per row at run time: a value within float rounding of a .5 step can round the other
// way in WASM than in PyTorch (one quantum), which moves that run's logits by a few hundredths, as far as fp32 is
// from int8 (0.05-0.15). So int8 runs may differ by up to `max`, but at least `near` of them must agree to 1e-4
// (fp32 or another int8 layout agrees on none).
const TOL = { fp32: { max: 1e-3, near: 0 }, int8: { max: 0.1, near: 0.75 } };
let failures = 0;
const eq = (a, b) => JSON.stringify(a) === JSON.stringify(b);

const dtypes = (process.env.PT_DTYPES ?? 'fp32,int8').split(',');
for (const [dtype, suffix] of [['fp32', ''], ['int8', '_quantized']].filter(([d]) => dtypes.includes(d))) {
  const s = await sessions(modelDir, suffix, ['merged', 'decoder', 'withPast']);
  let maxDiff = 0, maxRms = 0, near = 0, runs = 0;
  for (const c of golden.cases) {
    const exp = c[dtype];
    for (const mode of ['merged', 'pair', 'nocache']) {
      const r = await greedy(s, [c.input_ids], [c.input_ids.map(() => 1)], g, mode);
      const want = mode === 'nocache' ? exp.greedy_ids_no_cache : exp.greedy_ids;
      if (!eq(r.ids[0], want)) {
        failures++;
        console.log(`FAIL ${dtype} ${mode} ${c.source}: got ${JSON.stringify(r.ids[0])} want ${JSON.stringify(want)}`);
      }
      const diffs = r.firstLogits[0].map((v, i) => Math.abs(v - exp.first_step_logits[i]));
      const d = Math.max(...diffs);
      const rms = Math.sqrt(diffs.reduce((a, v) => a + v * v, 0) / diffs.length);
      maxDiff = Math.max(maxDiff, d);
      maxRms = Math.max(maxRms, rms);
      runs++;
      if (d <= 1e-4) near++;
    }
  }
  const b = golden.batch;
  const r = await greedy(s, b.input_ids, b.attention_mask, g, 'merged');
  if (!eq(r.ids, b[dtype].greedy_ids)) { failures++; console.log(`FAIL ${dtype} batch`, JSON.stringify(r.ids)); }
  if (maxDiff > TOL[dtype].max || near < TOL[dtype].near * runs) {
    failures++;
    console.log(`FAIL ${dtype} first-step logits max |diff| ${maxDiff}, root mean square ${maxRms}`);
  }
  console.log(`${dtype}: ${golden.cases.length} cases x 3 decoder paths + batch of ${b.input_ids.length}; ` +
    `first-step logits max |onnx - torch| = ${maxDiff.toExponential(2)}, root mean square ${maxRms.toExponential(2)} ` +
    `(tolerance ${TOL[dtype].max}); ${near}/${runs} runs within 1e-4 (at least ${TOL[dtype].near * 100}% needed)`);
}
console.log(failures ? `${failures} FAILURES` : 'all ONNX files reproduce golden.json');
process.exit(failures ? 1 : 0);
