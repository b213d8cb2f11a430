// Verifies models/shop-assistant/onnx/{model,model_quantized}.onnx against golden.json in onnxruntime-web:
// greedy ids with KV cache (empty past on step 1) and without cache, first-step logits, left-padded batch.
// Usage: node models/recipes/shop-assistant/check_onnx.mjs
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { greedy, load } from './ortlib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const modelDir = process.env.SA_MODEL_DIR ?? path.join(here, '../../shop-assistant');
const cfg = JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8'));
const golden = JSON.parse(fs.readFileSync(process.env.SA_GOLDEN ?? path.join(here, 'golden.json'), 'utf8'));
// int8 quantizes activations per row at run time: a value within float rounding of a .5 step may round the other
// way in WASM than in PyTorch (one quantum), a few hundredths on the logits (see test/chat.test.ts)
const TOL = { fp32: 1e-3, int8: 0.1 };
const opt = { eos: golden.eos_token_id, pad: golden.pad_token_id, maxNew: golden.max_new_tokens };
const eq = (a, b) => JSON.stringify(a) === JSON.stringify(b);
let failures = 0;
// the prompts rebuild through the chat template (jinja) and tokenizer.json (JS) exactly
const tc = JSON.parse(fs.readFileSync(path.join(modelDir, 'tokenizer_config.json'), 'utf8'));
const tok = new Tokenizer(JSON.parse(fs.readFileSync(path.join(modelDir, 'tokenizer.json'), 'utf8')), tc);
const tpl = new Template(tc.chat_template);
for (const c of golden.cases) {
  const prompt = tpl.render({ messages: c.messages, add_generation_prompt: c.add_generation_prompt });
  const ids = tok.encode(prompt).ids;
  if (prompt !== c.prompt || !eq(ids, c.input_ids)) {
    failures++;
    console.log(`FAIL prompt/ids rebuild ${c.name}: ${JSON.stringify(prompt)} ${JSON.stringify(ids)}`);
  }
}
console.log(`chat template + tokenizer.json rebuild the ${golden.cases.length} golden prompts and input ids: ${failures ? 'FAIL' : 'ok'}`);
for (const [dtype, file] of [['fp32', 'model.onnx'], ['int8', 'model_quantized.onnx']]) {
  const sess = await load(path.join(modelDir, 'onnx', file));
  let maxDiff = 0;
  for (const c of golden.cases) {
    const exp = c[dtype];
    for (const cache of [true, false]) {
      const r = await greedy(sess, cfg, [c.input_ids], { ...opt, cache });
      const want = cache ? exp.greedy_ids : exp.greedy_ids_no_cache;
      if (!eq(r.ids[0], want)) {
        failures++;
        console.log(`FAIL ${dtype} cache=${cache} ${c.name}: got ${JSON.stringify(r.ids[0])} want ${JSON.stringify(want)}`);
      }
      const d = Math.max(...r.firstLogits[0].map((v, i) => Math.abs(v - exp.first_step_logits[i])));
      maxDiff = Math.max(maxDiff, d);
    }
  }
  const rb = await greedy(sess, cfg, golden.cases.map((c) => c.input_ids), opt);
  if (!eq(rb.ids, golden.left_padded_batch[dtype])) {
    failures++;
    console.log(`FAIL ${dtype} left-padded batch: got ${JSON.stringify(rb.ids)}`);
  }
  const ok = maxDiff <= TOL[dtype];
  if (!ok) failures++;
  console.log(`${dtype} ${file}: greedy ids (cache, no cache, left-padded batch) checked on ${golden.cases.length} cases; ` +
    `max |first-step logit diff| = ${maxDiff.toExponential(2)} (tolerance ${TOL[dtype]}) ${ok ? 'ok' : 'FAIL'}`);
}
console.log(failures ? `${failures} failure(s)` : 'all ONNX checks passed');
process.exit(failures ? 1 : 0);
