"""Train a shared BPE vocabulary with sentencepiece (Debian python3-sentencepiece) on the training split and
write it as a Hugging Face tokenizer.json (BPE model + merge list derived from the vocabulary) plus
tokenizer_config.json and special_tokens_map.json.  Usage: train_tokenizer.py DATA_DIR MODEL_DIR VOCAB_SIZE"""
import json
import os
import sys

import sentencepiece as spm

SPACE = "\u2581"
LANG_TOKENS = [">>zho<<", ">>deu<<", ">>fra<<"]


def main():
    data_dir, model_dir, vocab_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    corpus = os.path.join(data_dir, "spm_corpus.txt")
    with open(os.path.join(data_dir, "train.jsonl"), encoding="utf-8") as f, \
            open(corpus, "w", encoding="utf-8") as out:
        for line in f:
            r = json.loads(line)
            out.write(r["source"].split(" ", 1)[1] + "\n")
            out.write(r["reference"] + "\n")
    prefix = os.path.join(data_dir, "spm")
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=prefix, model_type="bpe", vocab_size=vocab_size, character_coverage=1.0,
        split_digits=True, add_dummy_prefix=True, normalization_rule_name="identity", remove_extra_whitespaces=False,
        unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1, hard_vocab_limit=False, num_threads=1, seed_sentencepiece_size=200000,
        input_sentence_size=400000, shuffle_input_sentence=True, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if not sp.is_unknown(i)]
    # make sure every character of the corpus (and the bare word-start marker) is a base symbol
    chars = set(SPACE)
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            chars.update(line.rstrip("\n").replace(" ", SPACE))
    have = set(pieces)
    pieces += sorted(c for c in chars if c not in have)
    specials_front = ["</s>", "<unk>"] + LANG_TOKENS
    vocab = {}
    for t in specials_front + pieces:
        if t not in vocab:
            vocab[t] = len(vocab)
    vocab["<pad>"] = len(vocab)
    # merges: every split of a multi-character piece into two vocabulary pieces, ordered by the rank of the result
    merges = []
    for p in pieces:
        if len(p) < 2:
            continue
        for k in range(1, len(p)):
            a, b = p[:k], p[k:]
            if a in vocab and b in vocab and not b.startswith(SPACE):
                merges.append((vocab[p], vocab[a], vocab[b], a, b))
    merges.sort()
    added = [{"id": vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for t in specials_front + ["<pad>"]]
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Metaspace", "replacement": SPACE, "prepend_scheme": "always", "split": False},
            {"type": "Digits", "individual_digits": True}]},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "special_tokens": {"</s>": {"id": "</s>", "ids": [vocab["</s>"]], "tokens": ["</s>"]}}},
        "decoder": {"type": "Metaspace", "replacement": SPACE, "prepend_scheme": "always", "split": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [[m[3], m[4]] for m in merges]},
    }
    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
    added_decoder = {str(a["id"]): {k: a[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word",
                                                       "special")} for a in added}
    cfg = {"added_tokens_decoder": added_decoder, "additional_special_tokens": LANG_TOKENS,
           "clean_up_tokenization_spaces": False, "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
           "model_max_length": 128, "model_input_names": ["input_ids", "attention_mask"],
           "padding_side": "right", "tokenizer_class": "PreTrainedTokenizerFast"}
    with open(os.path.join(model_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=2)
    with open(os.path.join(model_dir, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump({"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                   "additional_special_tokens": LANG_TOKENS}, f, ensure_ascii=False, indent=2)
    print("vocab", len(vocab), "merges", len(merges), "pad id", vocab["<pad>"])


if __name__ == "__main__":
    main()
