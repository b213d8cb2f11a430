"""Python implementation of the exact tokenizer.json pipeline this recipe writes
(added-token split -> Metaspace(always) -> Digits(individual) -> BPE with merge ranks -> TemplateProcessing "$A </s>";
decode: Metaspace decoder). Verified against @huggingface/tokenizers (JS) by check_tokenizer.mjs."""
import json
import re

DIGITS = re.compile(r"[^0-9]+|[0-9]")
SPACE = "\u2581"


class Tokenizer:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        m = j["model"]
        self.vocab = dict(m["vocab"])
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.unk = m["unk_token"]
        self.ranks = {tuple(p): i for i, p in enumerate(m["merges"])}
        self.added = {a["content"]: a["id"] for a in j["added_tokens"]}
        for c, i in self.added.items():
            self.id_to_token[i] = c
        self.special = {a["content"] for a in j["added_tokens"] if a["special"]}
        self.eos = "</s>"
        self.cache = {}

    def split_added(self, text):
        out, start, i, n = [], 0, 0, len(text)
        while i < n:
            match = None
            for c in self.added:  # longest added token starting at i
                if text.startswith(c, i) and (match is None or len(c) > len(match)):
                    match = c
            if match:
                if i > start:
                    out.append(text[start:i])
                out.append(match)
                i += len(match)
                start = i
            else:
                i += 1
        if start < n:
            out.append(text[start:])
        return out

    def bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        syms = list(word)
        while len(syms) > 1:
            best, best_i = None, -1
            for i in range(len(syms) - 1):
                r = self.ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best):
                    best, best_i = r, i
            if best is None:
                break
            syms[best_i:best_i + 2] = [syms[best_i] + syms[best_i + 1]]
        self.cache[word] = syms
        return syms

    def tokenize(self, text, add_special_tokens=True):
        toks = []
        for sec in self.split_added(text):
            if not sec:
                continue
            if sec in self.added:
                toks.append(sec)
                continue
            s = sec.replace(" ", SPACE)
            if not s.startswith(SPACE):
                s = SPACE + s
            for piece in DIGITS.findall(s):
                for t in self.bpe(piece):
                    toks.append(t if t in self.vocab else self.unk)
        if add_special_tokens:
            toks.append(self.eos)
        return toks

    def encode(self, text, add_special_tokens=True):
        return [self.added.get(t, self.vocab.get(t)) for t in self.tokenize(text, add_special_tokens)]

    def decode(self, ids, skip_special_tokens=False):
        toks = [self.id_to_token.get(int(i), self.unk) for i in ids]
        if skip_special_tokens:
            toks = [t for t in toks if t not in self.special]
        out = []
        for k, t in enumerate(toks):
            t = t.replace(SPACE, " ")
            if k == 0 and t.startswith(" "):
                t = t[1:]
            out.append(t)
        return "".join(out)
