"""Make Chinese tokenize character by character: drop every BPE merge whose result holds a CJK character.

sentencepiece learned whole Chinese phrases as single pieces from this narrow corpus (`▁您的通话安排在`,
`▁您的通话安排在下午`, `内免费退货`): Chinese has no spaces, so nothing stops a piece at a word boundary. A frame
seen in training only with am/pm times then has its 24-hour form written with a piece the decoder never emitted,
and a held-out unit after `free returns within` needs a split (`小时` + `内免费退货`) never seen either. Without
those merges every CJK character (all of them are base symbols of the vocabulary) is its own token, so an unseen
frame/format pairing is written with the same tokens as the seen ones. Latin-script merges are untouched, and the
vocabulary and its ids stay as they are (the multi-character CJK pieces simply become unreachable), so a model
trained with the old merges can continue training with the new ones.

Usage: isolate_cjk.py MODEL_DIR   (rewrites MODEL_DIR/tokenizer.json; build.sh runs it before phase 5)"""
import json
import os
import sys

CJK_RANGES = [(0x3000, 0x303F), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0xFF00, 0xFFEF)]


def is_cjk(ch):
    return any(lo <= ord(ch) <= hi for lo, hi in CJK_RANGES)


def isolating(merges):
    """The merges whose result contains no CJK character (ideographs, CJK punctuation, full-width forms)."""
    return [m for m in merges if not any(is_cjk(c) for c in m[0] + m[1])]


def main():
    path = os.path.join(sys.argv[1], "tokenizer.json")
    with open(path, encoding="utf-8") as f:
        tok = json.load(f)
    before = tok["model"]["merges"]
    tok["model"]["merges"] = isolating(before)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
    print("merges %d -> %d (CJK merges dropped)" % (len(before), len(tok["model"]["merges"])))


if __name__ == "__main__":
    main()
