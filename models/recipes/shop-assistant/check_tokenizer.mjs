// Compare models/shop-assistant/tokenizer.json in @huggingface/tokenizers (JS) with the Python reference
// bpe.py (cases written by tok_cases.py). Usage: node check_tokenizer.mjs CASES.jsonl [MODEL_DIR]
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';

const here = dirname(fileURLToPath(import.meta.url));
const modelDir = process.argv[3] ?? join(here, '..', '..', 'shop-assistant');
const tj = JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8'));
const tc = JSON.parse(readFileSync(join(modelDir, 'tokenizer_config.json'), 'utf8'));
const tok = new Tokenizer(tj, tc);
const lines = readFileSync(process.argv[2], 'utf8').trim().split('\n').map((l) => JSON.parse(l));
let bad = 0;
for (const c of lines) {
  const ids = tok.encode(c.text).ids;
  const d = c.ids.length ? tok.decode(c.ids) : '';
  const ds = c.ids.length ? tok.decode(c.ids, { skip_special_tokens: true }) : '';
  if (JSON.stringify(ids) !== JSON.stringify(c.ids) || d !== c.decoded || ds !== c.decoded_skip) {
    bad++;
    if (bad <= 10) console.log('MISMATCH', JSON.stringify(c.text), ids, c.ids, JSON.stringify(d), JSON.stringify(c.decoded), JSON.stringify(ds), JSON.stringify(c.decoded_skip));
  }
}
console.log(`${lines.length - bad} passed, ${bad} failed`);
process.exit(bad ? 1 : 0);
