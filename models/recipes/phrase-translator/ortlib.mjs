// Greedy decoding of the Marian ONNX files with onnxruntime-web (used by check_onnx.mjs and eval_onnx.mjs).
import fs from 'node:fs';
import { i64, load, ort } from '../common/ort.mjs';

export function padBatch(seqs, pad) {
  const n = Math.max(...seqs.map((s) => s.length));
  return {
    ids: seqs.map((s) => [...s, ...Array(n - s.length).fill(pad)]),
    mask: seqs.map((s) => [...Array(s.length).fill(1), ...Array(n - s.length).fill(0)]),
  };
}

export async function encode(enc, ids, mask) {
  const out = await enc.run({ input_ids: i64(ids), attention_mask: i64(mask) });
  return out.last_hidden_state;
}

// scores: Float32Array of one row; HF processors NoBadWords([[pad]]) then ForcedEOS at max_length-1.
function pick(row, curLen, g) {
  if (curLen === g.max_length - 1) return g.eos;
  let best = -1, bv = -Infinity;
  for (let v = 0; v < row.length; v++) {
    if (v === g.pad) continue;
    if (row[v] > bv) { bv = row[v]; best = v; }
  }
  return best;
}

function lastLogits(logits, b) {
  const [, t, V] = logits.dims;
  const rows = [];
  for (let i = 0; i < b; i++) rows.push(logits.data.subarray((i * t + t - 1) * V, (i * t + t) * V));
  return rows;
}

function finish(seqs, g) {
  return seqs.map((s) => { const k = s.indexOf(g.eos); return k >= 0 ? s.slice(0, k + 1) : s; });
}

// mode: 'merged' (decoder_model_merged), 'pair' (decoder_model then decoder_with_past), 'nocache' (decoder_model only)
export async function greedy(sess, ids, mask, g, mode) {
  const b = ids.length;
  const hidden = await encode(sess.encoder, ids, mask);
  const encMask = i64(mask);
  const seqs = ids.map(() => [g.pad]);
  const done = Array(b).fill(false);
  let past = null;
  let firstLogits = null;
  const H = g.heads, hd = g.head_dim;
  while (seqs[0].length < g.max_length) {
    let out;
    const step = seqs[0].length;
    if (mode === 'merged') {
      const feeds = { encoder_attention_mask: encMask, encoder_hidden_states: hidden,
        use_cache_branch: new ort.Tensor('bool', new Uint8Array([past ? 1 : 0]), [1]) };
      feeds.input_ids = i64(seqs.map((s) => [s[s.length - 1]]));
      for (let l = 0; l < g.layers; l++) {
        for (const kind of ['decoder', 'encoder']) {
          for (const kv of ['key', 'value']) {
            const name = `past_key_values.${l}.${kind}.${kv}`;
            feeds[name] = past ? past[`present.${l}.${kind}.${kv}`]
              : new ort.Tensor('float32', new Float32Array(0), [b, H, 0, hd]);
          }
        }
      }
      out = await sess.merged.run(feeds);
      past = out;
    } else if (mode === 'pair' && past) {
      const feeds = { encoder_attention_mask: encMask, input_ids: i64(seqs.map((s) => [s[s.length - 1]])) };
      for (let l = 0; l < g.layers; l++) {
        for (const kv of ['key', 'value']) {
          feeds[`past_key_values.${l}.decoder.${kv}`] = past[`present.${l}.decoder.${kv}`];
          feeds[`past_key_values.${l}.encoder.${kv}`] = past[`present.${l}.encoder.${kv}`];
        }
      }
      out = await sess.withPast.run(feeds);
      for (const k of Object.keys(out)) if (k.startsWith('present.')) past[k] = out[k];
    } else {
      const inp = mode === 'nocache' ? seqs : seqs.map((s) => [s[s.length - 1]]);
      out = await sess.decoder.run({ encoder_attention_mask: encMask, input_ids: i64(inp),
        encoder_hidden_states: hidden });
      if (mode === 'pair') past = { ...out };
    }
    const rows = lastLogits(out.logits, b);
    if (step === 1) firstLogits = rows.map((r) => Array.from(r));
    for (let i = 0; i < b; i++) {
      const t = done[i] ? g.pad : pick(rows[i], step, g);
      seqs[i].push(t);
      if (t === g.eos) done[i] = true;
    }
    if (done.every((x) => x)) break;
  }
  return { ids: finish(seqs, g), firstLogits };
}

export function genConfig(modelDir) {
  const cfg = JSON.parse(fs.readFileSync(`${modelDir}/config.json`, 'utf8'));
  const gen = JSON.parse(fs.readFileSync(`${modelDir}/generation_config.json`, 'utf8'));
  return { pad: gen.pad_token_id, eos: gen.eos_token_id, max_length: gen.max_length, layers: cfg.decoder_layers,
    heads: cfg.decoder_attention_heads, head_dim: cfg.d_model / cfg.decoder_attention_heads };
}

export async function sessions(modelDir, suffix, which) {
  const s = { encoder: await load(`${modelDir}/onnx/encoder_model${suffix}.onnx`) };
  if (which.includes('merged')) s.merged = await load(`${modelDir}/onnx/decoder_model_merged${suffix}.onnx`);
  if (which.includes('decoder')) s.decoder = await load(`${modelDir}/onnx/decoder_model${suffix}.onnx`);
  if (which.includes('withPast')) s.withPast = await load(`${modelDir}/onnx/decoder_with_past_model${suffix}.onnx`);
  return s;
}
