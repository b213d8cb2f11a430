// Compare models/glove-static/tokenizer.json in @huggingface/tokenizers (JS) with the Python reference
// (cases written by tok_cases.py). Usage: node check_tokenizer.mjs CASES.jsonl
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';

const here = dirname(fileURLToPath(import.meta.url));
const modelDir = join(here, '..', '..', 'glove-static');
const tj = JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8'));
const tc = JSON.parse(readFileSync(join(modelDir, 'tokenizer_config.json'), 'utf8'));
const tok = new Tokenizer(tj, tc);
const lines = readFileSync(process.argv[2], 'utf8').trim().split('\n').map((l) => JSON.parse(l));
let bad = 0;
for (const c of lines) {
  const enc = tok.encode(c.text);
  const same = JSON.stringify(enc.ids) === JSON.stringify(c.ids);
  let dsame = true;
  if (c.ids.length > 0) {
    dsame = tok.decode(c.ids) === c.decoded && tok.decode(c.ids, { skip_special_tokens: true }) === c.decoded_skip;
  }
  if (!same || !dsame) {
    bad++;
    if (bad <= 10) console.log('MISMATCH', JSON.stringify(c.text), enc.tokens, c.tokens, tok.decode(c.ids || [0]), c.decoded);
  }
}
console.log(`${lines.length - bad} passed, ${bad} failed`);
process.exit(bad ? 1 : 0);
