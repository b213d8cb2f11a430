"""Reference Python implementation of a BERT WordPiece tokenizer.json (BertNormalizer, BertPreTokenizer,
WordPiece, TemplateProcessing "[CLS] $A [SEP]", WordPiece decoder), written to behave like
@huggingface/tokenizers in JS, plus a small WordPiece vocabulary trainer (BPE-style merges over words)."""
import collections
import unicodedata

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PREFIX = "##"
MAX_CHARS = 100

# JS \s (with the u flag)
_JS_WS = set("\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff") | set(chr(c) for c in range(0x2000, 0x200B))


def _is_chinese_bmp(cp):
    return 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xF900 <= cp <= 0xFAFF


def _is_control(c):
    if c in "\t\n\r":
        return False
    return unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs")


def _is_punct(c):
    cp = ord(c)
    if 0x21 <= cp <= 0x2F or 0x3A <= cp <= 0x40 or 0x5B <= cp <= 0x60 or 0x7B <= cp <= 0x7E:
        return True
    return unicodedata.category(c).startswith("P")


def normalize(text):
    out = []
    for c in text:  # clean_text
        if c in ("\x00", "\ufffd") or _is_control(c):
            continue
        out.append(" " if c in _JS_WS else c)
    text = "".join(out)
    out = []
    for c in text:  # handle_chinese_chars (JS checks UTF-16 units, so only BMP ideographs)
        out.append(" %s " % c if _is_chinese_bmp(ord(c)) else c)
    text = "".join(out).lower()
    text = unicodedata.normalize("NFD", text)  # strip_accents
    return "".join(c for c in text if unicodedata.category(c) != "Mn")


def pre_tokenize(text):
    words, cur = [], []
    for c in text:
        if c in _JS_WS:
            if cur:
                words.append("".join(cur))
                cur = []
        elif _is_punct(c):
            if cur:
                words.append("".join(cur))
                cur = []
            words.append(c)
        else:
            cur.append(c)
    if cur:
        words.append("".join(cur))
    return words


def clean_up(t):
    for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                 (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        t = t.replace(a, b)
    return t


class BertTokenizer:
    def __init__(self, vocab):
        self.vocab = list(vocab)
        self.ids = {t: i for i, t in enumerate(self.vocab)}
        self.unk_id = self.ids["[UNK]"]
        self.cls_id, self.sep_id, self.pad_id = self.ids["[CLS]"], self.ids["[SEP]"], self.ids["[PAD]"]

    def wordpiece(self, word):
        chars = list(word)
        if len(chars) > MAX_CHARS:
            return ["[UNK]"]
        out, i = [], 0
        while i < len(chars):
            j, piece = len(chars), None
            while i < j:
                s = "".join(chars[i:j])
                if i > 0:
                    s = PREFIX + s
                if s in self.ids:
                    piece = s
                    break
                j -= 1
            if piece is None:
                return ["[UNK]"]
            out.append(piece)
            i = j
        return out

    def _split_special(self, text):
        out, start, i, n = [], 0, 0, len(text)
        while i < n:
            m = None
            for s in SPECIALS:
                if text.startswith(s, i) and (m is None or len(s) > len(m)):
                    m = s
            if m:
                if i > start:
                    out.append((text[start:i], False))
                out.append((m, True))
                i += len(m)
                start = i
            else:
                i += 1
        if start < n:
            out.append((text[start:], False))
        return out

    def tokenize(self, text):
        toks = []
        for piece, special in self._split_special(text):
            if special:
                toks.append(piece)
                continue
            for w in pre_tokenize(normalize(piece)):
                toks.extend(self.wordpiece(w))
        return toks

    def encode(self, text, add_special_tokens=True, max_length=None):
        toks = self.tokenize(text)
        if max_length is not None:
            toks = toks[: max_length - 2]
        if add_special_tokens:
            toks = ["[CLS]"] + toks + ["[SEP]"]
        return [self.ids.get(t, self.unk_id) for t in toks]

    def decode(self, ids, skip_special_tokens=False, clean_up_tokenization_spaces=True):
        toks = [self.vocab[i] for i in ids]
        if skip_special_tokens:
            toks = [t for t in toks if t not in SPECIALS]
        parts = []
        for i, t in enumerate(toks):
            if i != 0:
                t = t[len(PREFIX):] if t.startswith(PREFIX) else " " + t
            parts.append(clean_up(t))
        s = "".join(parts)
        return clean_up(s) if clean_up_tokenization_spaces else s


def train_wordpiece(texts, vocab_size, min_freq=2, keep_chars_min=1):
    """Own trainer: start from characters (word-initial and ##-continuation), then repeatedly merge the most
    frequent adjacent pair inside words until vocab_size is reached. Returns the vocabulary list."""
    words = collections.Counter()
    for t in texts:
        words.update(pre_tokenize(normalize(t)))
    chars = collections.Counter()
    for w, c in words.items():
        for k, ch in enumerate(w):
            chars[ch if k == 0 else PREFIX + ch] += c
    # always include basic ASCII letters/digits/punct in both forms so English rarely falls back to [UNK]
    base = set()
    for ch in "abcdefghijklmnopqrstuvwxyz0123456789":
        base.add(ch)
        base.add(PREFIX + ch)
    for cp in range(0x21, 0x7F):
        ch = chr(cp)
        if _is_punct(ch):
            base.add(ch)
    for ch, c in chars.items():
        if c >= keep_chars_min:
            base.add(ch)
    vocab = list(SPECIALS) + sorted(base)
    vset = set(vocab)
    splits = {w: [w[0]] + [PREFIX + ch for ch in w[1:]] for w in words}
    pairs = collections.Counter()
    where = collections.defaultdict(set)
    for w, c in words.items():
        s = splits[w]
        for a, b in zip(s, s[1:]):
            pairs[(a, b)] += c
            where[(a, b)].add(w)
    while len(vocab) < vocab_size and pairs:
        (a, b), c = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if c < min_freq:
            break
        new = a + b[len(PREFIX):]
        for w in list(where[(a, b)]):
            s, cw = splits[w], words[w]
            for p in zip(s, s[1:]):
                pairs[p] -= cw
                if pairs[p] <= 0:
                    del pairs[p]
                where[p].discard(w)
            i, out = 0, []
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            splits[w] = out
            for p in zip(out, out[1:]):
                pairs[p] += cw
                where[p].add(w)
        pairs.pop((a, b), None)
        if new not in vset:
            vocab.append(new)
            vset.add(new)
    return vocab


def tokenizer_json(vocab):
    ids = {t: i for i, t in enumerate(vocab)}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": ids[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for t in SPECIALS],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {t: {"id": t, "ids": [ids[t]], "tokens": [t]} for t in ("[CLS]", "[SEP]")},
        },
        "decoder": {"type": "WordPiece", "prefix": PREFIX, "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": PREFIX,
                  "max_input_chars_per_word": MAX_CHARS, "vocab": ids},
    }
