"""Write tokenizer test cases (text -> ids, decode) from the Python tokenizer for check_tokenizer.mjs."""
import json
import random
import sys

from tok import Tokenizer

data_dir, model_dir, out = sys.argv[1], sys.argv[2], sys.argv[3]
tk = Tokenizer(model_dir + "/tokenizer.json")
rng = random.Random(7)
texts = []
with open(data_dir + "/train.jsonl", encoding="utf-8") as f:
    rows = [json.loads(l) for l in f]
for r in rng.sample(rows, 3000):
    texts += [r["source"], r["reference"]]
with open(data_dir + "/heldout.jsonl", encoding="utf-8") as f:
    for l in f:
        r = json.loads(l)
        texts += [r["source"], r["reference"]]
alphabet = list("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789  .,:;'!?-€$£%()éèàçäöüßÄÖÜ") + \
    list("您的订单将在天内发货购物车中有件商品星期五月日年小时分钟欧元美元英镑") + \
    [chr(c) for c in range(0x4E00, 0x4E00 + 400, 7)] + ["▁", "\t", "\n", ">>deu<<", ">>zho<<", "</s>", "<pad>", "<unk>"]
for _ in range(3000):
    texts.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40))))
texts += ["", " ", "  ", " leading", "trailing ", "double  space", ">>fra<<", ">>fra<<  x", "x>>fra<<y", "12345678901234567890"]
cases = []
for t in texts:
    ids = tk.encode(t)
    cases.append({"text": t, "ids": ids, "decoded": tk.decode(ids), "decoded_skip": tk.decode(ids, True)})
with open(out, "w", encoding="utf-8") as f:
    json.dump(cases, f, ensure_ascii=False)
print(len(cases), "cases")
