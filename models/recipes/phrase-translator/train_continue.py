"""Continue training the phrase translator from a checkpoint (same tokenizer, 1 CPU thread).
Re-warmed schedule: linear warm-up to PEAK over WARM steps, then cosine to 0 at STEPS.
Usage: train_continue.py DATA_DIR MODEL_DIR IN_CKPT OUT_CKPT STEPS [BUDGET_SECONDS]
Environment (defaults = phase 2): PT_TRAIN training file in DATA_DIR (train.jsonl), PT_SEED data-order seed (2),
PT_PEAK peak learning rate (5e-4). Phase 3 uses PT_TRAIN=train_aug.jsonl PT_SEED=3."""
import math
import os
import random
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from marian import Marian  # noqa: E402
from tok import Tokenizer  # noqa: E402
from train import batches, heldout_exact, load, train_step  # noqa: E402

torch.set_num_threads(1)
random.seed(0)
np.random.seed(0)
torch.manual_seed(0)


def main():
    data_dir, model_dir, in_ckpt, out_ckpt = sys.argv[1:5]
    steps = int(sys.argv[5])
    budget = float(sys.argv[6]) if len(sys.argv) > 6 else None
    tk = Tokenizer(os.path.join(model_dir, "tokenizer.json"))
    pad, eos = tk.vocab["<pad>"], tk.vocab["</s>"]
    ck = torch.load(in_ckpt)
    cfg, start = ck["cfg"], ck.get("step", 0)
    model = Marian(cfg)
    model.load_state_dict(ck["state"])
    train_file = os.environ.get("PT_TRAIN", "train.jsonl")
    train = load(os.path.join(data_dir, train_file), tk)
    held = load(os.path.join(data_dir, "heldout.jsonl"), tk)
    unk = tk.vocab["<unk>"]
    n_unk = sum(unk in s or unk in t for s, t, _ in train)
    assert n_unk == 0, "%d training rows contain <unk> (characters the tokenizer does not know)" % n_unk
    print("resumed from step", start, "train file", train_file, "rows", len(train), flush=True)
    bs, peak, warm = 64, float(os.environ.get("PT_PEAK", "5e-4")), 100
    opt = torch.optim.AdamW(model.parameters(), lr=peak, betas=(0.9, 0.98), eps=1e-9, weight_decay=0.01)
    # a different data order from the previous phase
    stream = batches(train, bs, random.Random(int(os.environ.get("PT_SEED", "2"))))
    t0 = time.time()
    model.train()
    ema, step = None, 0
    while step < steps:
        step += 1
        lr = peak * (step / warm if step <= warm else
                     0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, steps - warm)))))
        for g in opt.param_groups:
            g["lr"] = lr
        loss = train_step(model, opt, next(stream), pad)
        ema = loss if ema is None else 0.98 * ema + 0.02 * loss
        if budget and step == 100:
            steps = min(steps, int(budget * 100 / (time.time() - t0)))
            print("budget %.0fs -> training for %d steps" % (budget, steps), flush=True)
        if step % 100 == 0:
            el = time.time() - t0
            print("step %d loss %.4f lr %.2e %.2f steps/s elapsed %.0fs" % (step, ema, lr, step / el, el), flush=True)
        if step % 400 == 0 or step == steps:
            sub = held if step == steps else held[::3]
            print("step %d heldout exact (%s) %s" % (step, "full" if step == steps else "third",
                                                     heldout_exact(model, tk, sub, pad, eos)), flush=True)
            torch.save({"cfg": cfg, "state": model.state_dict(), "step": start + step}, out_ckpt)
    print("train seconds %.0f" % (time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
