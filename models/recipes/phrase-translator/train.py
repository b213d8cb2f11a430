"""Train the Marian phrase translator on the generated training split (1 CPU thread).
Usage: train.py DATA_DIR MODEL_DIR OUT_CKPT STEPS"""
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from marian import Marian  # noqa: E402
from tok import Tokenizer  # noqa: E402

torch.set_num_threads(1)
random.seed(0)
np.random.seed(0)
torch.manual_seed(0)

ARCH = dict(d_model=256, encoder_layers=3, decoder_layers=3, encoder_attention_heads=4, decoder_attention_heads=4,
            encoder_ffn_dim=512, decoder_ffn_dim=512, max_position_embeddings=128, dropout=0.1,
            scale_embedding=True)


def load(path, tk):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            rows.append((tk.encode(r["source"]), tk.encode(r["reference"]), r))
    return rows


def pad_batch(seqs, pad):
    n = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), n), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    return ids, mask


@torch.no_grad()
def greedy(model, src, pad, eos, max_len=40):
    ids, mask = pad_batch(src, pad)
    enc = model.encode(ids, mask)
    cur = torch.full((len(src), 1), pad, dtype=torch.long)
    past, out = None, [[] for _ in src]
    done = torch.zeros(len(src), dtype=torch.bool)
    for _ in range(max_len):
        logits, past = model.decode(cur[:, -1:], enc, mask, past)
        nxt = logits[:, -1].argmax(-1)
        nxt = torch.where(done, torch.tensor(pad), nxt)
        for i in range(len(src)):
            if not done[i]:
                out[i].append(int(nxt[i]))
        done |= nxt == eos
        cur = torch.cat([cur, nxt[:, None]], 1)
        if done.all():
            break
    return out


def batches(rows, bs, rng):
    """Endless batches of `bs` rows in a shuffled order, reshuffled whenever fewer than `bs` rows remain."""
    order = list(range(len(rows)))
    rng.shuffle(order)
    pos = 0
    while True:
        if pos + bs > len(order):
            rng.shuffle(order)
            pos = 0
        yield [rows[i] for i in order[pos:pos + bs]]
        pos += bs


def train_step(model, opt, batch, pad):
    """One AdamW step of teacher-forced cross-entropy (label smoothing 0.05); returns the loss."""
    src_ids, src_mask = pad_batch([b[0] for b in batch], pad)
    tgt, _ = pad_batch([b[1] for b in batch], pad)
    dec_in = torch.cat([torch.full((len(batch), 1), pad, dtype=torch.long), tgt[:, :-1]], 1)
    labels = tgt.masked_fill(tgt == pad, -100)
    enc = model.encode(src_ids, src_mask)
    logits, _ = model.decode(dec_in, enc, src_mask)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100,
                           label_smoothing=0.05)
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    with torch.no_grad():  # Marian keeps the pad embedding at zero
        model.shared.weight[pad].zero_()
    return loss.item()


def heldout_exact(model, tk, rows, pad, eos):
    """Greedy exact match per target language on held-out rows; leaves the model in train mode."""
    model.eval()
    hyp = greedy(model, [h[0] for h in rows], pad, eos)
    em = {}
    for h, (_, _, r) in zip(hyp, rows):
        em.setdefault(r["target_lang"], []).append(tk.decode(h, True) == r["reference"])
    model.train()
    return {k: round(sum(v) / len(v), 4) for k, v in em.items()}


def main():
    data_dir, model_dir, out_ckpt, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    # optional wall-clock budget: after 200 steps, the step count is capped to what fits in the budget
    budget = float(sys.argv[5]) if len(sys.argv) > 5 else None
    tk = Tokenizer(os.path.join(model_dir, "tokenizer.json"))
    pad, eos = tk.vocab["<pad>"], tk.vocab["</s>"]
    cfg = dict(ARCH, vocab_size=len(tk.vocab), pad_token_id=pad)
    model = Marian(cfg)
    for n, p in model.named_parameters():  # init as HF Marian (normal(0, 0.02), zero biases, pad row zero)
        if p.dim() > 1:
            torch.nn.init.normal_(p, 0.0, 0.02)
        elif n.endswith("bias"):
            torch.nn.init.zeros_(p)
    with torch.no_grad():
        model.shared.weight[pad].zero_()
    print("params", sum(p.numel() for p in model.parameters()), flush=True)
    train = load(os.path.join(data_dir, "train.jsonl"), tk)
    held = load(os.path.join(data_dir, "heldout.jsonl"), tk)
    print("train rows", len(train), flush=True)
    bs, peak, warm = 64, 1.5e-3, 400
    opt = torch.optim.AdamW(model.parameters(), lr=peak, betas=(0.9, 0.98), eps=1e-9, weight_decay=0.01)
    stream = batches(train, bs, random.Random(1))
    t0 = time.time()
    model.train()
    ema = None
    step = 0
    while step < steps:
        step += 1
        lr = peak * min(step / warm, 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, steps - warm))))
                        if step > warm else 1.0)
        for g in opt.param_groups:
            g["lr"] = lr
        loss = train_step(model, opt, next(stream), pad)
        ema = loss if ema is None else 0.98 * ema + 0.02 * loss
        if budget and step == 200:
            steps = min(steps, int(budget * 200 / (time.time() - t0)))
            print("budget %.0fs -> training for %d steps" % (budget, steps), flush=True)
        if step % 100 == 0:
            el = time.time() - t0
            print("step %d loss %.4f lr %.2e %.2f steps/s elapsed %.0fs" % (step, ema, lr, step / el, el), flush=True)
        if step % 1000 == 0 or step == steps:
            print("step %d heldout exact %s" % (step, heldout_exact(model, tk, held[::3], pad, eos)), flush=True)
            torch.save({"cfg": cfg, "state": model.state_dict(), "step": step}, out_ckpt)
    print("train seconds %.0f" % (time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
