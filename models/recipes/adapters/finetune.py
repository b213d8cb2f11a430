"""QLoRA-style fine-tuning of one adapter with peft over the frozen int8 shop-assistant base.

    python finetune.py ADAPTER_ID      (shop-assistant-lumen or shop-assistant-formal)

The base comes from the committed onnx/model.onnx; every base Linear and the embedding table are replaced by the
per-row int8 fake-quant of ../common/rowq.py (exactly what onnx/model_quantized.onnx computes) and frozen, with a
straight-through gradient (lib.TrainRowQuant). peft's LoRA layers (float32) are trained on top, so the weights saved
are the ones the int8 model served at the edge was trained with. Loss on the assistant tokens only (the base
recipe's encode_conv). Data: data.py (shopdata "train" conversations, 60% of user turns from its training grammar,
a share ending in an order number, every assistant reply in the adapter's wording).

Env: STEPS (default 240), BATCH (16), LR (peak, 3e-3), WARMUP (30), R (8), ALPHA (16), ORDER_SHARE (0.35),
DATA_SEED (11), TARGETS (q_proj,v_proj,o_proj,gate_proj,up_proj,down_proj), BENCH=1 (time 5 steps, save nothing),
INIT (an adapter folder to continue training from; SUMMARY names its summary file, default train_summary.json).
Writes models/adapters/ADAPTER_ID/{adapter_config.json, adapter_model.safetensors} (peft save_pretrained) and
.tmp/adapters/ADAPTER_ID/train_summary.json + train_log.txt.
"""
import json
import math
import os
import random
import sys
import time

import torch

import data
import lib
import shopdata
from train import encode_conv  # the base recipe's: ids and the assistant-token loss mask

SEED = 1234
GRAMMAR_SHARE = 0.6


def conversations(adapter, n, data_seed, order_share):
    n_order = int(n * order_share)
    convs = shopdata.generate("train", n - n_order, seed=data_seed, grammar_share=GRAMMAR_SHARE)
    extra, k = [], 0
    while len(extra) < n_order:
        extra += [c for c in shopdata.generate("train", 4 * n_order, seed=1000 * data_seed + k,
                                               grammar_share=GRAMMAR_SHARE) if c[-2]["order"]]
        k += 1
    return [data.rewrite(adapter, c) for c in convs + extra[:n_order]]


def main():
    adapter = sys.argv[1]
    assert adapter in data.ADAPTERS, adapter
    torch.set_num_threads(1)
    random.seed(SEED)
    torch.manual_seed(SEED)
    steps, batch = int(os.environ.get("STEPS", "240")), int(os.environ.get("BATCH", "16"))
    peak, warm = float(os.environ.get("LR", "3e-3")), int(os.environ.get("WARMUP", "30"))
    r, alpha = int(os.environ.get("R", "8")), float(os.environ.get("ALPHA", "16"))
    targets = os.environ.get("TARGETS", "q_proj,v_proj,o_proj,gate_proj,up_proj,down_proj").split(",")
    bench = os.environ.get("BENCH") == "1"
    tmp = os.path.join(lib.TMP, adapter)
    os.makedirs(tmp, exist_ok=True)
    t0 = time.time()

    tok = lib.tokenizer()
    convs = conversations(adapter, steps * batch, int(os.environ.get("DATA_SEED", "11")),
                          float(os.environ.get("ORDER_SHARE", "0.35")))
    max_len = lib.load_config()["max_position_embeddings"]
    examples = [tuple(x[:max_len] for x in encode_conv(tok, c)) for c in convs]
    for c in convs[:100]:  # the per-segment encoding is the encoding of the rendered chat
        assert encode_conv(tok, c)[0] == tok.encode(lib.render(
            [{"role": m["role"], "content": m["content"]} for m in c], add_generation_prompt=False))

    from peft import LoraConfig, get_peft_model
    config = LoraConfig(r=r, lora_alpha=alpha, target_modules=targets, lora_dropout=0.0, bias="none",
                        fan_in_fan_out=False, use_rslora=False)
    if os.environ.get("INIT"):  # continue from a saved adapter (its own r, alpha and targets)
        from peft import PeftModel
        model = PeftModel.from_pretrained(lib.load_base(), os.environ["INIT"], is_trainable=True)
        config = model.peft_config["default"]
        r, alpha, targets = config.r, config.lora_alpha, sorted(config.target_modules)
    else:
        model = get_peft_model(lib.load_base(), config)
    inner = model.base_model.model
    quantized = lib.quantize_base_(inner)
    lib.straight_through_(inner)
    trainable = [p for p in model.parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for p in trainable)
    print("%s: %d conversations, %d int8 base modules, %d LoRA parameters (r %d, alpha %g, %s) (%.0fs)" % (
        adapter, len(examples), len(quantized), n_trainable, r, alpha, ",".join(targets), time.time() - t0), flush=True)
    opt = torch.optim.AdamW(trainable, lr=peak, betas=(0.9, 0.99), weight_decay=0.0)

    # length-bucketed batches, as the base recipe: sort chunks of 64 batches by length, shuffle the batch order
    rng = random.Random(SEED)
    order = list(range(len(examples)))
    rng.shuffle(order)
    batches = []
    for c0 in range(0, len(order), 64 * batch):
        part = sorted(order[c0:c0 + 64 * batch], key=lambda i: len(examples[i][0]))
        batches += [part[j:j + batch] for j in range(0, len(part), batch) if len(part[j:j + batch]) == batch]
    rng.shuffle(batches)
    pad = tok.special_ids["<|endoftext|>"]
    total = 5 if bench else steps
    log = open(os.path.join(tmp, os.environ.get("SUMMARY", "train_summary.json").replace("summary.json", "log.txt")), "w")
    model.train()
    t1 = time.time()
    ema = None
    for step in range(total):
        lr = peak * min(1.0, (step + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / total)))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = batches[step % len(batches)]
        T = max(len(examples[i][0]) for i in idx)
        x = torch.full((batch, T), pad, dtype=torch.long)
        y = torch.full((batch, T), -100, dtype=torch.long)
        am = torch.zeros((batch, T), dtype=torch.long)
        for row, i in enumerate(idx):
            ids, mask = examples[i]
            n = len(ids)
            x[row, :n] = torch.tensor(ids)
            am[row, :n] = 1
            tgt, mk = torch.tensor(ids[1:] + [pad]), torch.tensor(mask[1:] + [0])
            y[row, :n] = torch.where(mk > 0, tgt, torch.full_like(tgt, -100))
        logits, _ = inner(x, am, torch.arange(T)[None].expand(batch, T))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % 20 == 0 or step == total - 1:
            msg = "step %d/%d loss %.4f ema %.4f lr %.2e T %d %.2fs/step" % (
                step, total, loss.item(), ema, lr, T, (time.time() - t1) / (step + 1))
            print(msg, flush=True)
            log.write(msg + "\n")
    if bench:
        return
    model.peft_config["default"].base_model_name_or_path = lib.BASE_ID
    model.peft_config["default"].inference_mode = True
    out = os.path.join(lib.ADAPTERS_DIR, adapter)
    model.save_pretrained(out, save_embedding_layers=False)
    os.remove(os.path.join(out, "README.md"))  # peft's template card; card.py writes the real one
    with open(os.path.join(tmp, os.environ.get("SUMMARY", "train_summary.json")), "w") as f:
        json.dump({"adapter": adapter, "init": os.environ.get("INIT"), "data_seed": int(os.environ.get("DATA_SEED", "11")), "steps": total, "batch": batch, "peak_lr": peak, "warmup": warm, "r": r,
                   "lora_alpha": alpha, "target_modules": targets, "lora_parameters": n_trainable,
                   "conversations": len(examples), "final_loss_ema": ema,
                   "train_seconds": round(time.time() - t1, 1)}, f, indent=2)
    print("saved %s in %.0fs" % (out, time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
