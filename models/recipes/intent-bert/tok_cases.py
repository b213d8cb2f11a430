"""Write tokenizer test cases from the Python reference (bert_tok.py) for check_tokenizer.mjs.
Usage: tok_cases.py MODEL_DIR TEXTS.jsonl OUT.jsonl  (TEXTS.jsonl: objects with a "text" field)"""
import json, os, random, sys, unicodedata
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bert_tok import BertTokenizer

model_dir, texts_path, out = sys.argv[1:4]
tj = json.load(open(os.path.join(model_dir, "tokenizer.json")))
vocab = sorted(tj["model"]["vocab"], key=tj["model"]["vocab"].get)
tok = BertTokenizer(vocab)
rng = random.Random(4321)
texts = [json.loads(l)["text"] for l in open(texts_path)]
rng.shuffle(texts)


def rand_char():
    while True:  # only code points assigned in Python's (older) Unicode database
        c = chr(rng.choice([rng.randint(0x20, 0x7e), rng.randint(0xa0, 0x2fff), rng.randint(0x3000, 0x30ff),
                            rng.randint(0x4e00, 0x9fff), rng.randint(0xff00, 0xffef), rng.randint(0x1f300, 0x1f64f)]))
        if unicodedata.category(c) != "Cn":
            return c


extra = ["Café", "naïve", "ZÜRICH", "İstanbul", "ΣΟΦΙΑ", "Москва", "Straße", "ﬁne", "½", "e\u0301", "\u200b",
         "\ufeff", "\t", "\n", "\r\n", "\u3000", "\u00a0", "[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]",
         "£12.50", "€9", "¥300", "😀👍", "#A-1023", "订单号：88231", "（急）", "“引号”", "don't", "e-mail", "x" * 120]
cases = ["", " ", "Hello!", "你好，我想退货。"] + texts[:2500]
for _ in range(2000):
    parts = []
    for _ in range(rng.randint(1, 8)):
        r = rng.random()
        if r < 0.5 and texts:
            t = rng.choice(texts).split()
            parts.append(" ".join(t[: rng.randint(1, len(t))]) if t else "")
        elif r < 0.75:
            parts.append(rng.choice(extra))
        else:
            parts.append("".join(rand_char() for _ in range(rng.randint(1, 5))))
    cases.append(rng.choice(["", " ", "  "]).join(parts))
with open(out, "w") as f:
    for t in cases:
        ids = tok.encode(t)
        f.write(json.dumps({"text": t, "ids": ids, "decoded": tok.decode(ids),
                            "decoded_skip": tok.decode(ids, skip_special_tokens=True)}, ensure_ascii=False) + "\n")
print("wrote", len(cases), "cases to", out)
