// Compare a model folder's tokenizer.json in @huggingface/tokenizers (JS, what the product runs) with the
// recipe's Python reference tokenizer, on cases the recipe's tok_cases.py wrote: {text, ids, decoded,
// decoded_skip} per line. Usage: node check_tokenizer.mjs MODEL_DIR CASES.jsonl
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

const [modelDir, casesPath] = process.argv.slice(2);
if (!modelDir || !casesPath) {
  console.error('usage: node check_tokenizer.mjs MODEL_DIR CASES.jsonl');
  process.exit(2);
}
const read = (file) => JSON.parse(readFileSync(join(modelDir, file), 'utf8'));
const tok = new Tokenizer(read('tokenizer.json'), read('tokenizer_config.json'));
const cases = readFileSync(casesPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
let bad = 0;
for (const c of cases) {
  const ids = tok.encode(c.text).ids;
  // decoding no ids is not defined by every decoder; the references write '' for it
  const decoded = c.ids.length ? tok.decode(c.ids) : '';
  const decodedSkip = c.ids.length ? tok.decode(c.ids, { skip_special_tokens: true }) : '';
  if (JSON.stringify(ids) !== JSON.stringify(c.ids) || decoded !== c.decoded || decodedSkip !== c.decoded_skip) {
    bad++;
    if (bad <= 10) {
      console.log('MISMATCH', JSON.stringify(c.text), ids, c.ids, JSON.stringify(decoded), JSON.stringify(c.decoded),
        JSON.stringify(decodedSkip), JSON.stringify(c.decoded_skip));
    }
  }
}
console.log(`${cases.length - bad} passed, ${bad} failed`);
process.exit(bad ? 1 : 0);
