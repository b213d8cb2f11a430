// Checks that @huggingface/tokenizers (JS) encodes and decodes exactly like tok.py on the cases from tok_cases.py.
// Usage: node check_tokenizer.mjs CASES_JSON
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';

const here = path.dirname(fileURLToPath(import.meta.url));
const modelDir = path.join(here, '../../phrase-translator');
const tj = JSON.parse(fs.readFileSync(path.join(modelDir, 'tokenizer.json'), 'utf8'));
const tc = JSON.parse(fs.readFileSync(path.join(modelDir, 'tokenizer_config.json'), 'utf8'));
const tok = new Tokenizer(tj, tc);
const cases = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
let bad = 0;
for (const c of cases) {
  const ids = tok.encode(c.text).ids;
  const d = tok.decode(ids);
  const ds = tok.decode(ids, { skip_special_tokens: true });
  if (JSON.stringify(ids) !== JSON.stringify(c.ids) || d !== c.decoded || ds !== c.decoded_skip) {
    if (bad < 10) console.log('MISMATCH', JSON.stringify(c.text), ids, c.ids, JSON.stringify(d), JSON.stringify(c.decoded), JSON.stringify(ds), JSON.stringify(c.decoded_skip));
    bad++;
  }
}
console.log(`${cases.length} strings, ${bad} mismatches`);
process.exit(bad ? 1 : 0);
