// Greedy decoding of models/shop-assistant ONNX files in onnxruntime-web (used by check_onnx.mjs, eval_onnx.mjs).
import { i64, load, ort } from '../common/ort.mjs';

export { load };

function argmax(row) {
  let best = 0, bv = -Infinity;
  for (let v = 0; v < row.length; v++) if (row[v] > bv) { bv = row[v]; best = v; }
  return best;
}

// One forward step. past: null (empty past, length 0) or the previous outputs.
export async function step(sess, cfg, ids, mask, pos, past) {
  const b = ids.length;
  const feeds = { input_ids: i64(ids), attention_mask: i64(mask), position_ids: i64(pos) };
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    for (const kv of ['key', 'value']) {
      feeds[`past_key_values.${l}.${kv}`] = past ? past[`present.${l}.${kv}`]
        : new ort.Tensor('float32', new Float32Array(0), [b, cfg.num_key_value_heads, 0, cfg.head_dim]);
    }
  }
  return sess.run(feeds);
}

function lastRows(logits) {
  const [b, t, V] = logits.dims;
  const rows = [];
  for (let i = 0; i < b; i++) rows.push(logits.data.subarray((i * t + t - 1) * V, (i * t + t) * V));
  return rows;
}

// Left-padded batch greedy. cache=false: full recomputation each step (empty past every time).
export async function greedy(sess, cfg, prompts, { eos, pad, maxNew, cache = true }) {
  const B = prompts.length;
  const L = Math.max(...prompts.map((p) => p.length));
  let seqs = prompts.map((p) => [...Array(L - p.length).fill(pad), ...p]);
  let mask = prompts.map((p) => [...Array(L - p.length).fill(0), ...Array(p.length).fill(1)]);
  const posOf = (m) => { let c = 0; return m.map((v) => { c += v; return v ? c - 1 : 1; }); };
  const outs = prompts.map(() => []);
  const done = Array(B).fill(false);
  let past = null;
  let firstLogits = null;
  for (let s = 0; s < maxNew; s++) {
    let out;
    if (cache && past) {
      const pos = mask.map((m) => [posOf(m)[m.length - 1]]);
      out = await step(sess, cfg, seqs.map((q) => [q[q.length - 1]]), mask, pos, past);
    } else {
      out = await step(sess, cfg, seqs, mask, mask.map(posOf), null);
    }
    if (cache) past = out;
    const rows = lastRows(out.logits);
    if (!firstLogits) firstLogits = rows.map((r) => Array.from(r));
    rows.forEach((r, i) => {
      const t = argmax(r);
      if (!done[i]) { outs[i].push(t); if (eos.includes(t)) done[i] = true; }
      seqs[i] = [...seqs[i], t];
      mask[i] = [...mask[i], 1];
    });
    if (done.every(Boolean)) break;
  }
  return { ids: outs, firstLogits };
}
