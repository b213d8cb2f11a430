// Greedy replies of both ONNX files on heldout.jsonl through onnxruntime-web. Prompts are rendered with the
// tokenizer_config.json chat_template (@huggingface/jinja) and encoded with tokenizer.json (@huggingface/tokenizers),
// as the product does. Each conversation is decoded ALONE (batch 1, no padding: the prompt is fed whole, then one
// token per step with the KV cache), exactly how the product serves a request. Writes one JSON line per conversation and dtype to OUT (default .tmp/shop-assistant/predictions.jsonl);
// score.py turns them into metrics.json. Usage: node eval_onnx.mjs [OUT] [STRIDE]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { greedy, load } from './ortlib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const modelDir = process.env.SA_MODEL_DIR ?? path.join(here, '../../shop-assistant');
const read = (f) => JSON.parse(fs.readFileSync(path.join(modelDir, f), 'utf8'));
const cfg = read('config.json');
const tc = read('tokenizer_config.json');
const gen = read('generation_config.json');
const tok = new Tokenizer(read('tokenizer.json'), tc);
const tpl = new Template(tc.chat_template);
const out = process.argv[2] ?? path.join(here, '../../../.tmp/shop-assistant/predictions.jsonl');
const stride = Number(process.argv[3] ?? 1); // evaluate every stride-th conversation (1 = all)
const rows = fs.readFileSync(path.join(here, 'heldout.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((_, i) => i % stride === 0);
const lines = [];
const only = process.env.DTYPES ? process.env.DTYPES.split(',') : null; // e.g. DTYPES=fp32 for a quick look
for (const [dtype, file] of [['fp32', 'model.onnx'], ['int8', 'model_quantized.onnx']].filter(([d]) => !only || only.includes(d))) {
  const sess = await load(path.join(modelDir, 'onnx', file));
  const t0 = Date.now();
  for (const r of rows) {
    const prompt = tok.encode(tpl.render({ messages: r.messages, add_generation_prompt: true })).ids;
    const res = await greedy(sess, cfg, [prompt], { eos: gen.eos_token_id, pad: gen.pad_token_id, maxNew: gen.max_new_tokens });
    const ids = res.ids[0];
    lines.push(JSON.stringify({ id: r.id, dtype, ids, reply: tok.decode(ids, { skip_special_tokens: true }),
      ended: gen.eos_token_id.includes(ids[ids.length - 1]) }));
  }
  console.log(`${dtype}: ${rows.length} conversations in ${((Date.now() - t0) / 1000).toFixed(1)}s (batch 1, KV cache)`);
}
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, lines.join('\n') + '\n');
