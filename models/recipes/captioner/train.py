"""Trains the captioner from scratch: a Hugging Face VisionEncoderDecoderModel (ViT encoder, GPT-2 decoder
with cross-attention). Each training example is one scene with one of its captions: English without a
prompt, English after an English prompt ("a photo of ..."), or Chinese after a Chinese prompt, so the
prompt both conditions the caption and chooses its language.
The run is capped by wall time and the learning rate follows a cosine over the elapsed share of it, so the
schedule ends at zero however the speed of a shared machine changes during the run.
Phase 2 (INIT_DIR given) continues from a saved model with a re-warmed learning rate and a mix in which
unprompted English has the largest share: after phase 1 (half the examples Chinese after one of two Chinese
prompts) a caption asked for without a prompt started with a Chinese prompt.
Usage: train.py WORK_DIR MODEL_DIR OUT_DIR MINUTES [INIT_DIR]"""
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

BATCH = 32
LR = {1: 1.5e-3, 2: 1e-3}
MAX_TOKENS = 40


def build_model(vocab_size, pad, bos, eos):
    enc = ViTConfig(image_size=80, patch_size=16, num_channels=3, hidden_size=128, num_hidden_layers=3,
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


# shares of (unprompted English, prompted English); the rest is Chinese after a Chinese prompt
MIX = {1: (0.35, 0.15), 2: (0.5, 0.2)}


def example_text(spec, rng, phase):
    plain, prompted = MIX[phase]
    r = rng.random()
    if r < plain:
        return scenes.caption_en(spec)
    if r < plain + prompted:
        return rng.choice(scenes.PROMPTS_EN) + " " + scenes.caption_en(spec)
    return rng.choice(scenes.PROMPTS_ZH) + scenes.caption_zh(spec)


def main():
    work, model_dir, out_dir, minutes = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    init = sys.argv[5] if len(sys.argv) > 5 else None
    phase = 2 if init else 1
    torch.manual_seed(phase - 1)
    rng = random.Random(phase - 1)
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(model_dir, "tokenizer.json"))
    pad, bos, eos = tok.convert_tokens_to_ids(["<pad>", "<s>", "</s>"])
    specs = [json.loads(line) for line in open(os.path.join(work, "train.jsonl"))]
    pixels = np.load(os.path.join(work, "train_pixels.npy"), mmap_mode="r")
    model = VisionEncoderDecoderModel.from_pretrained(init) if init else build_model(tok.vocab_size, pad, bos, eos)
    print("parameters", sum(p.numel() for p in model.parameters()), flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=LR[phase], weight_decay=0.01, betas=(0.9, 0.98))
    budget = minutes * 60
    start = time.time()
    warmup, step = 50, 0
    model.train()
    while time.time() - start < budget:
        idx = [rng.randrange(len(specs)) for _ in range(BATCH)]
        ids = [[bos] + tok.encode(example_text(specs[i], rng, phase))[: MAX_TOKENS - 2] + [eos] for i in idx]
        width = max(len(x) for x in ids)
        labels = torch.full((BATCH, width), -100, dtype=torch.long)
        dec_in = torch.full((BATCH, width), pad, dtype=torch.long)
        for r, x in enumerate(ids):
            dec_in[r, : len(x)] = torch.tensor(x)
            labels[r, : len(x) - 1] = torch.tensor(x[1:])
        mask = (dec_in != pad).long()
        pv = normalise(np.stack([pixels[i] for i in idx]))
        done = min(1.0, (time.time() - start) / budget)
        lr = LR[phase] * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * done))
        for g in opt.param_groups:
            g["lr"] = lr
        out = model(pixel_values=pv, decoder_input_ids=dec_in[:, :-1], decoder_attention_mask=mask[:, :-1])
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
    print("trained %d steps in %.0f s wall, %.0f s CPU" % (step, time.time() - start, time.process_time()))


if __name__ == "__main__":
    main()
