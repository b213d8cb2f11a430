"""Byte-level BPE tokenizer: trainer, encoder/decoder and Hugging Face tokenizer.json writer.

Written for this project. The pre-tokenizer reproduces the ByteLevel(use_regex=true) split
('s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+) with a hand-written
scanner over unicodedata categories (no `regex` module here). Merges never involve digits, so numbers
(order numbers) are always one token per digit.
"""
import collections
import json
import unicodedata

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# CJK isolation: before the ByteLevel split every CJK ideograph becomes its own piece, so BPE merges never
# join two Chinese characters (each character is one token, as the model needs to copy or reorder them) (tokenizer.json: Split pre-tokenizer, behavior Isolated, then
# ByteLevel). Ranges: CJK Ext. A, CJK Unified Ideographs, CJK Compatibility Ideographs (all in the BMP).
CJK_RANGES = [(0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)]
CJK_REGEX = "[" + "".join("%s-%s" % (chr(a), chr(b)) for a, b in CJK_RANGES) + "]"


def is_cjk(ch):
    o = ord(ch)
    return any(a <= o <= b for a, b in CJK_RANGES)


def split_cjk(text):
    """Isolated split: runs of non-CJK text and single CJK characters, in order."""
    out, buf = [], []
    for ch in text:
        if is_cjk(ch):
            if buf:
                out.append("".join(buf))
                buf = []
            out.append(ch)
        else:
            buf.append(ch)
    if buf:
        out.append("".join(buf))
    return out


def _byte_chars():
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table = {}
    extra = 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE2CHAR = _byte_chars()
CHAR2BYTE = {c: b for b, c in BYTE2CHAR.items()}


def _cls(ch):
    if ch.isspace():
        return "s"
    cat = unicodedata.category(ch)
    if cat[0] == "L":
        return "L"
    if cat[0] == "N":
        return "N"
    return "o"


_CONTRACTIONS = ["s", "t", "re", "ve", "m", "ll", "d"]


def pre_split(text):
    out = []
    i, n = 0, len(text)
    cls = [_cls(c) for c in text]
    while i < n:
        c = text[i]
        if c == "'":
            hit = None
            for suf in _CONTRACTIONS:
                if text.startswith(suf, i + 1):
                    hit = suf
                    break
            if hit is not None:
                out.append(text[i:i + 1 + len(hit)])
                i += 1 + len(hit)
                continue
        start = i
        j = i + 1 if (c == " " and i + 1 < n and cls[i + 1] != "s") else i
        k = cls[j] if j < n else "s"
        if k in ("L", "N", "o") and (j == i or c == " "):
            e = j
            while e < n and cls[e] == k:
                e += 1
            out.append(text[start:e])
            i = e
            continue
        # whitespace run
        e = i
        while e < n and cls[e] == "s":
            e += 1
        if e == n:
            out.append(text[i:e])
            i = e
        elif e - i >= 2:
            out.append(text[i:e - 1])
            i = e - 1
        else:
            out.append(text[i:e])
            i = e
    return out


def _is_digit_sym(s):
    return any(ch in "0123456789" for ch in s)


def train(texts, vocab_size, min_count=2):
    words = collections.Counter()
    for t in texts:
        for piece in (p for seg in split_cjk(t) for p in pre_split(seg)):
            words["".join(BYTE2CHAR[b] for b in piece.encode("utf-8"))] += 1
    vocab = list(SPECIALS) + [BYTE2CHAR[b] for b in range(256)]
    wl = [list(w) for w in words]
    wc = [words[w] for w in words]
    pairs = collections.Counter()
    where = collections.defaultdict(set)
    for wi, syms in enumerate(wl):
        for a, b in zip(syms, syms[1:]):
            if _is_digit_sym(a) or _is_digit_sym(b):
                continue
            pairs[(a, b)] += wc[wi]
            where[(a, b)].add(wi)
    merges = []
    while len(vocab) < vocab_size and pairs:
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        (a, b), cnt = best
        if cnt < min_count:
            break
        merges.append((a, b))
        new = a + b
        vocab.append(new)
        for wi in list(where[(a, b)]):
            syms = wl[wi]
            for x, y in zip(syms, syms[1:]):
                if _is_digit_sym(x) or _is_digit_sym(y):
                    continue
                pairs[(x, y)] -= wc[wi]
                if pairs[(x, y)] <= 0:
                    del pairs[(x, y)]
                where[(x, y)].discard(wi)
            out = []
            i = 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            wl[wi] = out
            for x, y in zip(out, out[1:]):
                if _is_digit_sym(x) or _is_digit_sym(y):
                    continue
                pairs[(x, y)] += wc[wi]
                where[(x, y)].add(wi)
        pairs.pop((a, b), None)
    return vocab, merges


class Tokenizer:
    def __init__(self, vocab, merges):
        self.vocab = vocab
        self.ids = {t: i for i, t in enumerate(vocab)}
        self.ranks = {tuple(m): i for i, m in enumerate(merges)}
        self.merges = [tuple(m) for m in merges]
        self.special_ids = {t: self.ids[t] for t in SPECIALS}
        self.cache = {}

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        v = j["model"]["vocab"]
        vocab = [None] * len(v)
        for t, i in v.items():
            vocab[i] = t
        return cls(vocab, j["model"]["merges"])

    def _bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        syms = list(word)
        while len(syms) > 1:
            best, bi = None, -1
            for i in range(len(syms) - 1):
                r = self.ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best):
                    best, bi = r, i
            if best is None:
                break
            a, b = self.merges[best]
            out, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            syms = out
        ids = [self.ids[s] for s in syms]
        self.cache[word] = ids
        return ids

    def encode(self, text):
        ids = []
        i = 0
        while i < len(text):
            nxt, which = len(text), None
            for s in SPECIALS:
                p = text.find(s, i)
                if p != -1 and p < nxt:
                    nxt, which = p, s
            chunk = text[i:nxt]
            for piece in (p for seg in split_cjk(chunk) for p in pre_split(seg)):
                ids.extend(self._bpe("".join(BYTE2CHAR[b] for b in piece.encode("utf-8"))))
            if which is None:
                break
            ids.append(self.special_ids[which])
            i = nxt + len(which)
        return ids

    def decode(self, ids, skip_special_tokens=False):
        out, buf = [], []
        for i in ids:
            t = self.vocab[i]
            if t in self.special_ids:
                if buf:
                    out.append(bytes(buf).decode("utf-8", errors="replace"))
                    buf = []
                if not skip_special_tokens:
                    out.append(t)
                continue
            buf.extend(CHAR2BYTE[c] for c in t)
        if buf:
            out.append(bytes(buf).decode("utf-8", errors="replace"))
        return "".join(out)

    def to_json(self):
        added = [{"id": self.ids[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                  "normalized": False, "special": True} for s in SPECIALS]
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": CJK_REGEX}, "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
            "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                      "vocab": {t: i for i, t in enumerate(self.vocab)},
                      "merges": [list(m) for m in self.merges]},
        }
