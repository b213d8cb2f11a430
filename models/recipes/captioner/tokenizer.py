"""Byte-level BPE for English and Chinese captions. Chinese characters (and the full-width comma) are
split off one by one before the byte-level step, so no token spans two Chinese words: a colour or a noun
in an unseen combination is written with the same tokens as in training.
Usage: tokenizer.py WORK_DIR MODEL_DIR VOCAB_SIZE"""
import json
import os
import sys

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]


def main():
    work, model_dir, vocab = sys.argv[1], sys.argv[2], int(sys.argv[3])
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex("[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train([os.path.join(work, "corpus.txt")], trainer)
    os.makedirs(model_dir, exist_ok=True)
    tok.save(os.path.join(model_dir, "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
        "add_bos_token": False, "add_eos_token": False, "clean_up_tokenization_spaces": False,
        "model_max_length": 64,
    }
    with open(os.path.join(model_dir, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(model_dir, "special_tokens_map.json"), "w") as f:
        json.dump({k: config[k] for k in ("bos_token", "eos_token", "pad_token", "unk_token")}, f, indent=2)
    print("vocab", tok.get_vocab_size())


if __name__ == "__main__":
    main()
