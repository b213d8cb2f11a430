"""Adapter over the shared generator models/recipes/shopdata (user turns only).

Each row: text, intent, language, group (the generator's paraphrase-group id) and request
(intent:sub-request[:order number]) = what the user actually asks for. Rows with the same `request` are
paraphrases of the same request (same intent, same sub-request, same order number), in either language.

python3 data.py  -> writes heldout.jsonl (the generator's TEST split; never used in training)."""
import json, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.abspath(os.path.join(HERE, "..")))
import shopdata  # noqa: E402

TRAIN_GROUPS, TRAIN_CONVS = 8000, 4000
TEST_GROUPS, TEST_CONVS = 100, 150


def _request(intent, group, order):
    parts = group.split(":")  # split:g<k>:intent:sub  or  split:intent:sub:order:k
    sub = parts[3] if parts[1].startswith("g") else parts[2]
    return "%s:%s" % (intent, sub) + (":%s" % order if order else "")


def _row(m, text_key):
    return {"text": m[text_key], "intent": m["intent"], "language": m["lang"], "group": m["group"],
            "request": _request(m["intent"], m["group"], m.get("order"))}


def rows(split, n_groups, n_convs, seed):
    out = []
    for g in shopdata.paraphrase_groups(split, n_groups, 2, seed):
        out.extend(_row(m, "text") for m in g)
    for conv in shopdata.generate(split, n_convs, seed):
        out.extend(_row(m, "content") for m in conv if m["role"] == "user")
    return out


def train_rows():
    return rows("train", TRAIN_GROUPS, TRAIN_CONVS, 11)


def test_rows():
    return rows("test", TEST_GROUPS, TEST_CONVS, 7)


def labels():
    return list(shopdata.INTENTS)


if __name__ == "__main__":
    test = test_rows()
    train_texts = {r["text"] for r in train_rows()}
    overlap = sum(r["text"] in train_texts for r in test)
    with open(os.path.join(HERE, "heldout.jsonl"), "w") as f:
        for r in test:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print("heldout rows", len(test), "texts also in train:", overlap)
    # strings for the tokenizer parity check (tok_cases.py): 2,000 training turns + the held-out turns
    import random
    tr = train_rows()
    random.Random(0).shuffle(tr)
    tmp = os.path.join(HERE, "..", "..", "..", ".tmp", "intent-bert")
    os.makedirs(tmp, exist_ok=True)
    with open(os.path.join(tmp, "tok_texts.jsonl"), "w") as f:
        for r in tr[:2000] + test:
            f.write(json.dumps({"text": r["text"]}, ensure_ascii=False) + "\n")
