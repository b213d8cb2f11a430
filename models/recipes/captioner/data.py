"""Writes the captioner's data: scene specs for training and the held-out split, the rendered training
images already resized to the model's input (uint8, as the image processor's PIL resize leaves them), the
tokenizer corpus, and heldout.jsonl (spec, both captions).
Usage: data.py WORK_DIR N_TRAIN N_HELDOUT"""
import json
import os
import random
import sys

import numpy as np
from PIL import Image

import scenes

INPUT = 80  # the model's input size (preprocessor_config.json)


def main():
    work, n_train, n_heldout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.makedirs(work, exist_ok=True)
    rng = random.Random(17)
    train = [scenes.random_spec(rng, held_out=False) for _ in range(n_train)]
    heldout = [scenes.random_spec(rng, held_out=True) for _ in range(n_heldout)]
    pixels = np.lib.format.open_memmap(os.path.join(work, "train_pixels.npy"), mode="w+", dtype=np.uint8,
                                       shape=(n_train, INPUT, INPUT, 3))
    for i, spec in enumerate(train):
        pixels[i] = np.asarray(scenes.render(spec).resize((INPUT, INPUT), Image.BILINEAR))
    pixels.flush()
    with open(os.path.join(work, "train.jsonl"), "w") as f:
        for spec in train:
            f.write(json.dumps(spec) + "\n")
    with open(os.path.join(work, "heldout.jsonl"), "w") as f:
        for spec in heldout:
            row = dict(spec, en=scenes.caption_en(spec), zh=scenes.caption_zh(spec))
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    with open(os.path.join(work, "corpus.txt"), "w") as f:
        # the prompts go in as the model sees them, so they get tokens of their own
        for i, spec in enumerate(train):
            en_prompt = scenes.PROMPTS_EN[i % len(scenes.PROMPTS_EN)] + " " if i % 2 else ""
            zh_prompt = scenes.PROMPTS_ZH[i % len(scenes.PROMPTS_ZH)]
            f.write(en_prompt + scenes.caption_en(spec) + "\n" + zh_prompt + scenes.caption_zh(spec) + "\n")
    print("train", n_train, "heldout", n_heldout)


if __name__ == "__main__":
    main()
