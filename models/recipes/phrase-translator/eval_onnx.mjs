// Held-out evaluation through the ONNX files in onnxruntime-web (encoder_model + decoder_model_merged, greedy
// decoding, batches of 32), tokenized and detokenized with tokenizer.json via @huggingface/tokenizers.
// Writes metrics.json (per target language: exact match and chrF, fp32 and int8) for heldout.jsonl and, under
// novel_frames, for novel.jsonl (frames that occur in no training file).
// Usage: node models/recipes/phrase-translator/eval_onnx.mjs
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import { genConfig, greedy, padBatch, sessions } from './ortlib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const modelDir = process.env.PT_MODEL_DIR ?? path.join(here, '../../phrase-translator');
const tok = new Tokenizer(JSON.parse(fs.readFileSync(path.join(modelDir, 'tokenizer.json'), 'utf8')),
  JSON.parse(fs.readFileSync(path.join(modelDir, 'tokenizer_config.json'), 'utf8')));
const g = genConfig(modelDir);
const readJsonl = (name) => fs.readFileSync(path.join(here, name), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const heldout = readJsonl('heldout.jsonl');
const novel = readJsonl('novel.jsonl');

// chrF (Popovic 2015): character n-grams n = 1..6 with whitespace removed; n-gram counts are summed over the
// corpus, precision and recall are averaged over n, then F-beta with beta = 2.
function ngrams(s, n) {
  const chars = Array.from(s.replace(/\s+/g, ''));
  const m = new Map();
  for (let i = 0; i + n <= chars.length; i++) { const k = chars.slice(i, i + n).join(''); m.set(k, (m.get(k) ?? 0) + 1); }
  return m;
}
export function chrf(hyps, refs, N = 6, beta = 2) {
  const st = Array.from({ length: N }, () => ({ hyp: 0, ref: 0, match: 0 }));
  hyps.forEach((h, k) => {
    for (let n = 1; n <= N; n++) {
      const hg = ngrams(h, n), rg = ngrams(refs[k], n);
      for (const v of hg.values()) st[n - 1].hyp += v;
      for (const v of rg.values()) st[n - 1].ref += v;
      for (const [key, v] of hg) st[n - 1].match += Math.min(v, rg.get(key) ?? 0);
    }
  });
  let P = 0, R = 0;
  for (const s of st) { P += s.hyp ? s.match / s.hyp : 0; R += s.ref ? s.match / s.ref : 0; }
  P /= N; R /= N;
  const b2 = beta * beta;
  return P + R > 0 ? (100 * (1 + b2) * P * R) / (b2 * P + R) : 0;
}

const LANGS = ['zho', 'deu', 'fra'];

async function translateAll(s, rows) {
  const enc = rows.map((r) => tok.encode(r.source).ids);
  const order = rows.map((_, i) => i).sort((a, b) => enc[a].length - enc[b].length);
  const hyp = Array(rows.length);
  for (let k = 0; k < order.length; k += 32) {
    const idx = order.slice(k, k + 32);
    const { ids, mask } = padBatch(idx.map((i) => enc[i]), g.pad);
    const r = await greedy(s, ids, mask, g, 'merged');
    idx.forEach((i, j) => { hyp[i] = tok.decode(r.ids[j], { skip_special_tokens: true }); });
  }
  return hyp;
}

// per language: exact match, chrF, and the failing rows
function score(rows, hyp) {
  const out = {};
  for (const lang of LANGS) {
    const ix = rows.map((r, i) => i).filter((i) => rows[i].target_lang === lang);
    const em = ix.filter((i) => hyp[i] === rows[i].reference).length / ix.length;
    const errors = ix.filter((i) => hyp[i] !== rows[i].reference)
      .map((i) => ({ source: rows[i].source, reference: rows[i].reference, output: hyp[i], template: rows[i].template }));
    out[lang] = { n: ix.length, exact_match: +(100 * em).toFixed(2),
      chrf: +chrf(ix.map((i) => hyp[i]), ix.map((i) => rows[i].reference)).toFixed(2), errors };
  }
  return out;
}

const examples = (errors) => errors.slice(0, 5).map(({ template, ...r }) => r);
const metrics = { split: 'heldout.jsonl', n_per_language: {}, decoding: 'greedy (num_beams=1), max_length 64',
  measured_with: 'onnxruntime-web (WASM, 1 thread) in Node: encoder_model + decoder_model_merged; tokenizer.json via @huggingface/tokenizers',
  chrf: 'character n-gram F-score, n = 1..6, beta = 2, whitespace removed, corpus-level statistics, precision/recall averaged over n (Popovic 2015); 0-100',
  results: {} };
const novelMetrics = { split: 'novel.jsonl', about: 'frames that occur in no training file, never used to choose anything',
  n_per_language: {}, results: {}, example_errors: {} };
const failures = {};
const allErrors = {}; // every failing row, written to $PT_ERRORS (a path) when set
for (const [dtype, suffix] of [['fp32', ''], ['int8', '_quantized']]) {
  const s = await sessions(modelDir, suffix, ['merged']);
  const t0 = Date.now();
  const held = score(heldout, await translateAll(s, heldout));
  const secs = (Date.now() - t0) / 1000;
  const nov = score(novel, await translateAll(s, novel));
  metrics.results[dtype] = {};
  novelMetrics.results[dtype] = {};
  for (const lang of LANGS) {
    const { n, errors, ...m } = held[lang];
    metrics.n_per_language[lang] = n;
    metrics.results[dtype][lang] = m;
    failures[`${dtype}/${lang}`] = examples(errors);
    allErrors[`${dtype}/${lang}`] = errors;
    const { n: nn, errors: ne, ...nm } = nov[lang];
    novelMetrics.n_per_language[lang] = nn;
    novelMetrics.results[dtype][lang] = nm;
    novelMetrics.example_errors[`${dtype}/${lang}`] = examples(ne);
    allErrors[`novel/${dtype}/${lang}`] = ne;
  }
  metrics.results[dtype].seconds = +secs.toFixed(1);
  console.log(dtype, JSON.stringify(metrics.results[dtype]), 'novel frames', JSON.stringify(novelMetrics.results[dtype]));
}
metrics.int8_minus_fp32 = {};
for (const lang of LANGS) {
  metrics.int8_minus_fp32[lang] = {
    exact_match: +(metrics.results.int8[lang].exact_match - metrics.results.fp32[lang].exact_match).toFixed(2),
    chrf: +(metrics.results.int8[lang].chrf - metrics.results.fp32[lang].chrf).toFixed(2) };
}
metrics.example_errors = failures;
metrics.novel_frames = novelMetrics;
fs.writeFileSync(process.env.PT_METRICS ?? path.join(here, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
console.log('wrote metrics.json');
if (process.env.PT_ERRORS) fs.writeFileSync(process.env.PT_ERRORS, JSON.stringify(allErrors, null, 1) + '\n');
