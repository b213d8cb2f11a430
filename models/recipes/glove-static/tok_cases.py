"""Write tokenizer test cases (text -> ids, decode) from the Python reference tokenizer for
check_tokenizer.mjs to compare against @huggingface/tokenizers. Usage: tok_cases.py MODEL_DIR OUT.jsonl"""
import json, random, sys, os, unicodedata
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from glove_tok import GloveTokenizer

model_dir, out = sys.argv[1], sys.argv[2]
tj = json.load(open(os.path.join(model_dir, "tokenizer.json")))
vocab = sorted(tj["model"]["vocab"], key=tj["model"]["vocab"].get)
tok = GloveTokenizer(vocab)
rng = random.Random(1234)
words = vocab[2:20000]
extra = ["don't", "Can't", "WON'T", "isn’t", "e-mail", "co-operate", "U.S.", "3.5kg", "1,000", "$19.99", "café",
         "naïve", "Zürich", "São Paulo", "Straße", "İstanbul", "ΣΟΦΙΑ", "Москва", "退货", "我想退货，谢谢！", "こんにちは",
         "😀", "\t", "\n", "\u00a0", "\u3000", "a--b", "-x-", "x-", "--", "...", "?!", "#1", "@home", "[UNK]", "[PAD]",
         "ﬁne", "Ⅻ", "²", "½", "e\u0301", "\u200b", "\ufeff", "a_b", "`quote`", "«guillemets»", "‘single’", "“double”"]


def rand_char(rng):
    # code points assigned in Python's Unicode database (Node may know a newer Unicode version;
    # characters unassigned in the older one are the only known source of disagreement)
    while True:
        c = chr(rng.choice([rng.randint(0x21, 0x7e), rng.randint(0xa0, 0x2fff), rng.randint(0x4e00, 0x9fff)]))
        if unicodedata.category(c) != "Cn":
            return c


cases = ["", " ", "Hello, world!", "I don't want it.", "Where's my order #4821?"]
for i in range(4000):
    n = rng.randint(1, 14)
    parts = []
    for _ in range(n):
        r = rng.random()
        if r < 0.6:
            w = rng.choice(words)
            if rng.random() < 0.3:
                w = w.capitalize()
            elif rng.random() < 0.1:
                w = w.upper()
        elif r < 0.85:
            w = rng.choice(extra)
        else:
            w = "".join(rand_char(rng) for _ in range(rng.randint(1, 4)))
        parts.append(w)
    seps = [" ", " ", " ", "", ", ", ". ", "-", "\t", "  "]
    cases.append("".join(p + rng.choice(seps) for p in parts).strip(" "))
with open(out, "w") as f:
    for t in cases:
        ids, toks = tok.encode(t)
        f.write(json.dumps({"text": t, "ids": ids, "tokens": toks,
                            "decoded": tok.decode(ids) if ids else "",
                            "decoded_skip": tok.decode(ids, True) if ids else ""}, ensure_ascii=False) + "\n")
print("wrote", len(cases), "cases to", out)
