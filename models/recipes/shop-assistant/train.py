"""Train the shop-assistant tokenizer and Llama model on shopdata "train" conversations.

Env: STEPS (default 2000), BATCH (default 24), GRAMMAR_SHARE (default 0.6), BENCH=1 (time 10 steps and exit),
ORDER_SHARE (default 0: share of conversations drawn from those whose last user turn carries an order number).
Continuation phase (keeps the tokenizer in MODEL_DIR): INIT=path of a state dict to start from, LR (peak, default 2e-3), DATA_SEED (default 1),
WARMUP (default 60), SUMMARY (file name of the summary, default train_summary.json), STOP (end after this many
steps while the lr schedule still spans STEPS).
Writes models/shop-assistant/{tokenizer.json, tokenizer_config.json, special_tokens_map.json, config.json,
generation_config.json} and .tmp/shop-assistant/model.pt + train_log.txt.
"""
import json
import math
import os
import random
import time

import numpy as np
import torch

from common import ARCH, CHAT_TEMPLATE, MAX_NEW_TOKENS, MODEL_DIR, TMP, load_config, render
import bpe
import shopdata
from modeling import LlamaForCausalLM

SEED = 1234
VOCAB_TARGET = 4096
# share of training user turns phrased by shopdata.grammar (the rest by the fixed training templates)
GRAMMAR_SHARE = float(os.environ.get("GRAMMAR_SHARE", "0.6"))


def set_seeds():
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)


def strip(conv):
    return [{"role": m["role"], "content": m["content"]} for m in conv]


def build_tokenizer():
    convs = shopdata.generate("train", 20000, seed=7, grammar_share=GRAMMAR_SHARE)
    texts = [m["content"] for c in convs for m in c] + ["user", "assistant", "system"] * 50
    vocab, merges = bpe.train(texts, VOCAB_TARGET)
    tok = bpe.Tokenizer(vocab, merges)
    os.makedirs(MODEL_DIR, exist_ok=True)
    with open(os.path.join(MODEL_DIR, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok.to_json(), f, ensure_ascii=False)
    return tok


def write_configs(tok):
    ids = tok.special_ids
    vocab_size = int(math.ceil(len(tok.vocab) / 64.0) * 64)
    cfg = dict(architectures=["LlamaForCausalLM"], model_type="llama", vocab_size=vocab_size,
               hidden_act="silu", attention_bias=False, attention_dropout=0.0, mlp_bias=False,
               initializer_range=0.02, pretraining_tp=1, rope_scaling=None, use_cache=True,
               tie_word_embeddings=False, torch_dtype="float32", transformers_version="4.46.0",
               bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
               **ARCH)
    with open(os.path.join(MODEL_DIR, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    added = {str(ids[s]): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                           "single_word": False, "special": True} for s in bpe.SPECIALS}
    tcfg = {"add_bos_token": False, "add_eos_token": False, "added_tokens_decoder": added,
            "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
            "bos_token": "<|endoftext|>", "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "unk_token": None,
            "chat_template": CHAT_TEMPLATE, "clean_up_tokenization_spaces": False,
            "model_max_length": ARCH["max_position_embeddings"], "tokenizer_class": "PreTrainedTokenizerFast",
            "split_special_tokens": False}
    with open(os.path.join(MODEL_DIR, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(tcfg, f, indent=2, ensure_ascii=False)
    with open(os.path.join(MODEL_DIR, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": "<|endoftext|>", "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                   "additional_special_tokens": ["<|im_start|>", "<|im_end|>"]}, f, indent=2)
    gcfg = {"bos_token_id": ids["<|endoftext|>"], "eos_token_id": [ids["<|im_end|>"], ids["<|endoftext|>"]],
            "pad_token_id": ids["<|endoftext|>"], "do_sample": False, "max_new_tokens": MAX_NEW_TOKENS,
            "transformers_version": "4.46.0"}
    with open(os.path.join(MODEL_DIR, "generation_config.json"), "w") as f:
        json.dump(gcfg, f, indent=2)
    return cfg


def encode_conv(tok, conv):
    """ids and loss mask (1 on assistant content tokens and their <|im_end|>)."""
    ids, mask = [], []
    nl = tok.encode("\n")
    for m in conv:
        head = tok.encode("<|im_start|>%s\n" % m["role"])
        body = tok.encode(m["content"]) + [tok.special_ids["<|im_end|>"]]
        ids += head + body + nl
        on = 1 if m["role"] == "assistant" else 0
        mask += [0] * len(head) + [on] * len(body) + [0] * len(nl)
    return ids, mask


def main():
    torch.set_num_threads(1)
    set_seeds()
    os.makedirs(TMP, exist_ok=True)
    t0 = time.time()
    if os.environ.get("INIT"):
        # a continuation phase keeps the tokenizer (and so the embedding rows) of the model it starts from
        tok = bpe.Tokenizer.load(os.path.join(MODEL_DIR, "tokenizer.json"))
        cfg = load_config()
    else:
        tok = build_tokenizer()
        cfg = write_configs(tok)
    t_tok = time.time() - t0
    print("tokenizer: %d tokens (%.1fs); config vocab_size %d" % (len(tok.vocab), t_tok, cfg["vocab_size"]), flush=True)
    steps = int(os.environ.get("STEPS", "2000"))
    batch = int(os.environ.get("BATCH", "24"))
    bench = os.environ.get("BENCH") == "1"
    n_convs = steps * batch if not bench else 2000
    data_seed = int(os.environ.get("DATA_SEED", "1"))
    n_order = int(n_convs * float(os.environ.get("ORDER_SHARE", "0")))
    convs = shopdata.generate("train", n_convs - n_order, seed=data_seed, grammar_share=GRAMMAR_SHARE)
    if n_order:
        # extra conversations whose last user turn carries an order number: copying it digit by digit is the
        # skill the model learns last, so a later phase sees more of it
        extra, k = [], 0
        while len(extra) < n_order:
            extra += [c for c in shopdata.generate("train", 4 * n_order, seed=1000 * data_seed + k,
                                                   grammar_share=GRAMMAR_SHARE) if c[-2]["order"]]
            k += 1
        convs += extra[:n_order]
    data = []
    for c in convs:
        ids, mask = encode_conv(tok, c)
        data.append((ids[:ARCH["max_position_embeddings"]], mask[:ARCH["max_position_embeddings"]]))
    # the per-segment encoding equals the encoding of the rendered text
    for c in convs[:200]:
        assert encode_conv(tok, c)[0] == tok.encode(render(strip(c), add_generation_prompt=False))
    lens = [len(d[0]) for d in data]
    print("data: %d conversations, mean %.1f tokens, max %d (%.1fs)" % (len(data), np.mean(lens), max(lens),
                                                                     time.time() - t0), flush=True)
    model = LlamaForCausalLM(cfg)
    if os.environ.get("INIT"):
        model.load_state_dict(torch.load(os.environ["INIT"]))
        print("initialised from", os.environ["INIT"], flush=True)
    nparams = sum(p.numel() for p in model.parameters())
    print("params: %d" % nparams, flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=2e-3, betas=(0.9, 0.95), eps=1e-8)
    peak, warm = float(os.environ.get("LR", "2e-3")), int(os.environ.get("WARMUP", "60"))
    # length-bucketed batches (less padding): sort chunks of 64 batches by length, shuffle batch order
    rng = random.Random(SEED)
    order = list(range(len(data)))
    rng.shuffle(order)
    batches = []
    chunk = 64 * batch
    for c0 in range(0, len(order), chunk):
        part = sorted(order[c0:c0 + chunk], key=lambda i: len(data[i][0]))
        batches += [part[j:j + batch] for j in range(0, len(part), batch) if len(part[j:j + batch]) == batch]
    rng.shuffle(batches)
    pad = tok.special_ids["<|endoftext|>"]
    log = open(os.path.join(TMP, os.environ.get("SUMMARY", "train_summary.json").replace("summary.json", "log.txt")), "w")
    t1 = time.time()
    ema = None
    total = 10 if bench else steps
    stop = min(total, int(os.environ.get("STOP", total)))  # end early; the lr schedule still spans STEPS
    for step in range(stop):
        lr = peak * min(1.0, (step + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / total))))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = batches[step % len(batches)]
        T = max(len(data[i][0]) for i in idx)
        x = torch.full((batch, T), pad, dtype=torch.long)
        y = torch.full((batch, T), -100, dtype=torch.long)
        am = torch.zeros((batch, T), dtype=torch.long)
        for r, i in enumerate(idx):
            ids, mask = data[i]
            n = len(ids)
            x[r, :n] = torch.tensor(ids)
            am[r, :n] = 1
            tgt = torch.tensor(ids[1:] + [pad])
            mk = torch.tensor(mask[1:] + [0])
            y[r, :n] = torch.where(mk > 0, tgt, torch.full_like(tgt, -100))
        pos = torch.arange(T)[None].expand(batch, T)
        logits, _ = model(x, am, pos)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % 20 == 0 or step == stop - 1:
            msg = "step %d/%d loss %.4f ema %.4f lr %.2e T %d %.2fs/step elapsed %.0fs" % (
                step, total, loss.item(), ema, lr, T, (time.time() - t1) / (step + 1), time.time() - t0)
            print(msg, flush=True)
            log.write(msg + "\n")
            log.flush()
        if step > 0 and step % 300 == 0 and not bench:
            torch.save(model.state_dict(), os.path.join(TMP, "model.pt"))
    if not bench:
        torch.save(model.state_dict(), os.path.join(TMP, "model.pt"))
    with open(os.path.join(TMP, os.environ.get("SUMMARY", "train_summary.json")), "w") as f:
        json.dump({"steps": stop, "schedule_steps": total, "batch": batch, "params": nparams, "tokenizer_seconds": round(t_tok, 1),
                   "train_seconds": round(time.time() - t1, 1), "final_loss_ema": ema,
                   "conversations": len(data)}, f, indent=2)
    print("done in %.0fs" % (time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
