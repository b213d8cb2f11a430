// Held-out metrics for intent-bert, computed through the ONNX files in onnxruntime-web (WASM, 1 thread) with
// token ids from tokenizer.json in @huggingface/tokenizers -- the product's path. Writes metrics.json.
//  - intent accuracy: argmax(logits) == intent, per language and overall
//  - paraphrase retrieval top-1: every held-out row that has at least one paraphrase among the candidates is a
//    query; candidates are ALL other held-out rows (both languages); correct when the nearest candidate by cosine
//    of the masked-mean-pooled, L2-normalised last_hidden_state asks for the same request (field `request`:
//    same intent, same sub-request, same order number when there is one), worded differently and/or in the
//    other language. Also reported cross-lingually (English queries against Chinese candidates only and vice
//    versa), and with the stricter key `group` (the generator's paraphrase-group id).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-web';
import { Tokenizer } from '@huggingface/tokenizers';

ort.env.wasm.numThreads = 1;
const here = dirname(fileURLToPath(import.meta.url));
const modelDir = join(here, '..', '..', 'intent-bert');
const cfg = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8'));
const tok = new Tokenizer(
  JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8')),
  JSON.parse(readFileSync(join(modelDir, 'tokenizer_config.json'), 'utf8')),
);
const rows = readFileSync(join(here, 'heldout.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const MAXLEN = cfg.max_position_embeddings;
const enc = rows.map((r) => {
  let ids = tok.encode(r.text).ids;
  if (ids.length > MAXLEN) ids = ids.slice(0, MAXLEN - 1).concat([ids[ids.length - 1]]);
  return ids;
});

async function embedAll(sess) {
  const order = rows.map((_, i) => i).sort((a, b) => enc[a].length - enc[b].length);
  const logits = new Array(rows.length), embs = new Array(rows.length);
  const C = cfg.num_labels;
  for (let s = 0; s < order.length; s += 32) {
    const idx = order.slice(s, s + 32);
    const L = Math.max(...idx.map((i) => enc[i].length));
    const mk = (f) => {
      const d = new BigInt64Array(idx.length * L);
      idx.forEach((i, b) => { for (let t = 0; t < L; t++) d[b * L + t] = BigInt(f(i, t)); });
      return new ort.Tensor('int64', d, [idx.length, L]);
    };
    const out = await sess.run({
      input_ids: mk((i, t) => (t < enc[i].length ? enc[i][t] : 0)),
      attention_mask: mk((i, t) => (t < enc[i].length ? 1 : 0)),
      token_type_ids: mk(() => 0),
    });
    const H = out.last_hidden_state.dims[2];
    const h = out.last_hidden_state.data;
    idx.forEach((i, b) => {
      logits[i] = Array.from(out.logits.data.slice(b * C, (b + 1) * C));
      const e = new Float64Array(H);
      const n = enc[i].length;
      for (let t = 0; t < n; t++) for (let k = 0; k < H; k++) e[k] += h[(b * L + t) * H + k];
      let ss = 0;
      for (let k = 0; k < H; k++) { e[k] /= n; ss += e[k] * e[k]; }
      ss = Math.sqrt(ss);
      embs[i] = Array.from(e, (v) => v / ss);
    });
  }
  return { logits, embs };
}

function metrics({ logits, embs }) {
  const res = { intent_accuracy: {}, paraphrase_top1: {} };
  const langs = [...new Set(rows.map((r) => r.language))].sort();
  const acc = (sel) => {
    const ix = rows.map((_, i) => i).filter(sel);
    const ok = ix.filter((i) => cfg.id2label[String(logits[i].indexOf(Math.max(...logits[i])))] === rows[i].intent).length;
    return { accuracy: ok / ix.length, n: ix.length };
  };
  res.intent_accuracy.all = acc(() => true);
  for (const l of langs) res.intent_accuracy[l] = acc((i) => rows[i].language === l);
  const dot = (a, b) => { let s = 0; for (let k = 0; k < a.length; k++) s += a[k] * b[k]; return s; };
  const retr = (qsel, csel, key = 'request') => {
    let ok = 0, n = 0;
    for (let q = 0; q < rows.length; q++) {
      if (!qsel(q)) continue;
      const cands = rows.map((_, c) => c).filter((c) => c !== q && csel(c));
      if (!cands.some((c) => rows[c][key] === rows[q][key])) continue; // query needs a true paraphrase
      let best = -1, bs = -Infinity;
      for (const c of cands) { const s = dot(embs[q], embs[c]); if (s > bs) { bs = s; best = c; } }
      n++;
      if (rows[best][key] === rows[q][key]) ok++;
    }
    return { top1: n ? ok / n : null, queries: n };
  };
  res.paraphrase_top1.all_candidates = retr(() => true, () => true);
  res.paraphrase_top1.all_candidates_same_group_id = retr(() => true, () => true, 'group');
  for (const a of langs) for (const b of langs) {
    if (a !== b) res.paraphrase_top1[`${a}_to_${b}`] = retr((q) => rows[q].language === a, (c) => rows[c].language === b);
  }
  return res;
}

const out = {
  heldout_rows: rows.length,
  computed_with: 'onnxruntime-web (WASM, 1 thread) in Node, token ids from tokenizer.json via @huggingface/tokenizers',
};
for (const [dtype, file] of [['fp32', 'model.onnx'], ['int8', 'model_quantized.onnx']]) {
  const t = Date.now();
  const sess = await ort.InferenceSession.create(readFileSync(join(modelDir, 'onnx', file)));
  out[dtype] = metrics(await embedAll(sess));
  out[dtype].seconds = (Date.now() - t) / 1000;
  console.log(dtype, JSON.stringify(out[dtype]));
}
let train = {};
try { train = JSON.parse(readFileSync(join(here, 'train_log.json'), 'utf8')); } catch {}
out.training = train;
writeFileSync(join(here, 'metrics.json'), JSON.stringify(out, null, 2) + '\n');
