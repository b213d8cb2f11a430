"""Reference Python implementation of the glove-static tokenizer.json.

It mirrors what tokenizer.json declares (and what @huggingface/tokenizers does in JS):
normalizer  = Sequence[NFD, StripAccents, Lowercase, Replace(U+2019 -> '), Replace(n't -> " not")]
pretokenizer = Split(regex WORD_RE, behavior Removed, invert true)  -> only the matches are kept
model        = WordLevel (unknown words -> [UNK])
decoder      = none (tokens joined by one space)
"""
import unicodedata

PAD, UNK = "[PAD]", "[UNK]"
# The regex as stored in tokenizer.json (Oniguruma / JS syntax).
WORD_RE = r"[\p{L}\p{N}]+(?:-[\p{L}\p{N}]+)*|[^\p{L}\p{N}\p{White_Space}]"

# Unicode White_Space property
_WS = set(map(chr, [0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]))
_WS |= set(chr(c) for c in range(0x2000, 0x200B))


def _is_ln(c):
    cat = unicodedata.category(c)
    return cat[0] in "LN"


def normalize(text):
    text = unicodedata.normalize("NFD", text)
    text = "".join(c for c in text if not unicodedata.category(c).startswith("M"))
    text = text.lower()
    text = text.replace("\u2019", "'")
    text = text.replace("n't", " not")
    return text


def pre_tokenize(text):
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if _is_ln(c):
            j = i + 1
            while True:
                while j < n and _is_ln(text[j]):
                    j += 1
                if j + 1 < n and text[j] == "-" and _is_ln(text[j + 1]):
                    j += 2
                    continue
                break
            out.append(text[i:j])
            i = j
        elif c in _WS:
            i += 1
        else:
            out.append(c)
            i += 1
    return out


class GloveTokenizer:
    def __init__(self, vocab):
        self.vocab = list(vocab)
        self.ids = {t: i for i, t in enumerate(self.vocab)}
        self.unk_id = self.ids[UNK]
        self.pad_id = self.ids[PAD]

    def tokenize(self, text):
        # special tokens are matched as added tokens before normalisation
        toks = []
        for piece, special in self._split_special(text):
            if special:
                toks.append(piece)
            else:
                toks.extend(pre_tokenize(normalize(piece)))
        return toks

    def _split_special(self, text):
        specials = [PAD, UNK]
        out, buf, i = [], "", 0
        while i < len(text):
            hit = next((s for s in specials if text.startswith(s, i)), None)
            if hit:
                if buf:
                    out.append((buf, False))
                    buf = ""
                out.append((hit, True))
                i += len(hit)
            else:
                buf += text[i]
                i += 1
        if buf:
            out.append((buf, False))
        return out

    def encode(self, text):
        toks = self.tokenize(text)
        return [self.ids.get(t, self.unk_id) for t in toks], toks

    def decode(self, ids, skip_special_tokens=False):
        toks = [self.vocab[i] for i in ids]
        if skip_special_tokens:
            toks = [t for t in toks if t not in (PAD, UNK)]
        return " ".join(toks)
