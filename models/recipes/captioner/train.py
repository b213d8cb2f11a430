"""Trains the captioner from scratch: a Hugging Face VisionEncoderDecoderModel (ViT encoder, GPT-2 decoder
with cross-attention). Every image of a batch is encoded once and captioned twice, in English (without a
prompt or after an English prompt such as "a photo of") and in Chinese (after a Chinese prompt), so the
encoder learns from both captions for the cost of one encoder pass. The prompt conditions the caption and
chooses its language, as BLIP's "a photo of" does: its tokens are input only, never a target, so a caption
asked for without a prompt cannot start by writing a prompt of its own.
The run is capped by wall time and the learning rate follows a cosine over the elapsed share of it, so the
schedule ends at zero however the speed of a shared machine changes during the run.
Usage: train.py WORK_DIR MODEL_DIR OUT_DIR MINUTES"""
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
from transformers import GPT2Config, PreTrainedTokenizerFast, VisionEncoderDecoderConfig, VisionEncoderDecoderModel, \
    ViTConfig

import scenes

BATCH = 96  # images per step; each brings two captions
LR = 2e-3
WARMUP = 100
MAX_TOKENS = 40
# share of the English captions asked for without a prompt (the rest follow one of scenes.PROMPTS_EN)
PLAIN_EN = 0.5


def build_model(vocab_size, pad, bos, eos):
    # 10 x 10 patches of the 80 x 80 input: an 8 x 8 grid, so that an object (about 10 px wide there) and
    # the gap to its neighbour fall in patches of their own when the model counts
    enc = ViTConfig(image_size=80, patch_size=10, num_channels=3, hidden_size=128, num_hidden_layers=3,
                    num_attention_heads=4, intermediate_size=512, hidden_dropout_prob=0.0,
                    attention_probs_dropout_prob=0.0)
    dec = GPT2Config(vocab_size=vocab_size, n_positions=64, n_embd=128, n_layer=2, n_head=4, n_inner=512,
                     bos_token_id=bos, eos_token_id=eos, pad_token_id=pad, add_cross_attention=True,
                     is_decoder=True, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(enc, dec)
    config.decoder_start_token_id = bos
    config.pad_token_id = pad
    config.eos_token_id = eos
    config.bos_token_id = bos
    return VisionEncoderDecoderModel(config=config)


def normalise(pixels):
    """uint8 NHWC -> float NCHW as the image processor does after its resize: /255, then (x - 0.5) / 0.5."""
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() * (1 / 255)
    return (x - 0.5) / 0.5


def examples(spec, rng):
    """(prompt, text) pairs of one scene, the text starting with its prompt: one English, one Chinese."""
    en = scenes.caption_en(spec)
    en_prompt = "" if rng.random() < PLAIN_EN else rng.choice(scenes.PROMPTS_EN)
    zh_prompt = rng.choice(scenes.PROMPTS_ZH)
    return [(en_prompt, en_prompt + " " + en if en_prompt else en), (zh_prompt, zh_prompt + scenes.caption_zh(spec))]


def main():
    work, model_dir, out_dir, minutes = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    torch.manual_seed(0)
    rng = random.Random(0)
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(model_dir, "tokenizer.json"))
    pad, bos, eos = tok.convert_tokens_to_ids(["<pad>", "<s>", "</s>"])
    specs = [json.loads(line) for line in open(os.path.join(work, "train.jsonl"))]
    pixels = np.load(os.path.join(work, "train_pixels.npy"), mmap_mode="r")
    model = build_model(tok.vocab_size, pad, bos, eos)
    print("parameters", sum(p.numel() for p in model.parameters()), flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01, betas=(0.9, 0.98))
    budget = minutes * 60
    start = time.time()
    step = 0
    model.train()
    while time.time() - start < budget:
        idx = [rng.randrange(len(specs)) for _ in range(BATCH)]
        rows = []  # (token ids, number of prompt tokens after <s>)
        for i in idx:
            for prompt, text in examples(specs[i], rng):
                # the prompt is encoded on its own at inference: its tokens must be the text's first ones
                p = tok.encode(prompt) if prompt else []
                ids = tok.encode(text)[: MAX_TOKENS - 2]
                assert ids[: len(p)] == p, (prompt, text)
                rows.append(([bos] + ids + [eos], len(p)))
        width = max(len(x) for x, _ in rows)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        dec_in = torch.full((len(rows), width), pad, dtype=torch.long)
        for r, (x, n_prompt) in enumerate(rows):
            dec_in[r, : len(x)] = torch.tensor(x)
            # position t predicts x[t + 1]; the prompt's own tokens are given, not predicted
            labels[r, n_prompt: len(x) - 1] = torch.tensor(x[n_prompt + 1:])
        mask = (dec_in != pad).long()
        pv = normalise(np.stack([pixels[i] for i in idx]))
        done = min(1.0, (time.time() - start) / budget)
        lr = LR * min(1.0, (step + 1) / WARMUP) * 0.5 * (1 + math.cos(math.pi * done))
        for g in opt.param_groups:
            g["lr"] = lr
        enc = model.encoder(pixel_values=pv).last_hidden_state.repeat_interleave(2, dim=0)
        out = model.decoder(input_ids=dec_in[:, :-1], attention_mask=mask[:, :-1], encoder_hidden_states=enc)
        logits = out.logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 labels[:, :-1].reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0:
            print("step %d loss %.4f lr %.2e %.0fs" % (step, loss.item(), lr, time.time() - start), flush=True)
        step += 1
    model.eval()
    model.save_pretrained(out_dir)
    print("trained %d steps of %d images (%d captions) in %.0f s wall, %.0f s CPU" % (
        step, BATCH, 2 * BATCH, time.time() - start, time.process_time()))


if __name__ == "__main__":
    main()
