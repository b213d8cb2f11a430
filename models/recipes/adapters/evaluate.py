"""Held-out metrics of one adapter (int8 and fp32 base), and of the base with the adapter switched off.

    python evaluate.py ADAPTER_ID      -> models/recipes/adapters/heldout/ADAPTER_ID.jsonl, models/adapters/ADAPTER_ID/metrics.json

Held-out split (data.heldout): 100 English + 100 Chinese shopdata "test" conversations (user phrasing templates,
order numbers, names, cities and products never seen in training) with the assistant turns in the adapter's wording,
cut before the last reply. Decoding: greedy, the peft model in PyTorch (int8 = ../common/rowq.py base, the arithmetic
of onnx/model_quantized.onnx), left-padded batches of 25 with the KV cache (per-row int8 quantization makes every row
independent of its batch), max_new_tokens 48 (generation_config.json).

Metrics per dtype and language:
- reply_exact: the reply ended (EOS) and is exactly one of the adapter's reply templates for the expected intent and
  language, with the expected order number in its slot (the base recipe's intent-correct, against the adapter's
  templates).
- order_copy: over conversations whose last user turn carries an order number, the reply holds exactly that number.
- chrf: chrF (sacrebleu, character 6-grams, beta 2) of the replies against the references, corpus level.
- lumen: facts (the reply holds every Lumen fact of the expected intent: data.LUMEN_FACTS) and base_facts (the
  reply still holds one of the base shop's facts, data.BASE_FACTS: lower is better).
- formal: formal_markers (the reply holds one of data.FORMAL_MARKERS and none of data.INFORMAL_MARKERS) and
  base_reply (the reply is word for word a base-shop reply: lower is better).
The same measures for the base with the adapter disabled (peft's disable_adapter) on the same split show what the
adapter changes.
"""
import json
import os
import sys

import sacrebleu
import torch

import data
import lib
import shopdata
from export import greedy_batch  # the base recipe's left-padded batched greedy (KV cache)

BATCH = 25


def predict(model, tok, rows, pad, eos):
    """Greedy replies for `rows` (batched by prompt length): list of (reply text, ended with EOS)."""
    prompts = [tok.encode(lib.render(r["messages"])) for r in rows]
    order = sorted(range(len(rows)), key=lambda i: len(prompts[i]))
    out = [None] * len(rows)
    for b in range(0, len(order), BATCH):
        idx = order[b:b + BATCH]
        for i, ids in zip(idx, greedy_batch(model, [prompts[i] for i in idx], pad, eos)):
            out[i] = (tok.decode(ids, skip_special_tokens=True), ids[-1] in eos)
    return out


def score(adapter, rows, preds):
    per = {}
    chrf = sacrebleu.metrics.CHRF()
    for lang in ("en", "zh"):
        sel = [(r, p) for r, p in zip(rows, preds) if r["lang"] == lang]
        orders = [(r, p) for r, p in sel if r["order"]]
        m = {
            "conversations": len(sel),
            "reply_exact": sum(p[1] and data.match(adapter, p[0], lang) == (r["intent"], r["order"]) for r, p in sel),
            "order_conversations": len(orders),
            "order_copy": sum(shopdata.find_order_numbers(p[0]) == [r["order"]] for r, p in orders),
            "chrf": round(chrf.corpus_score([p[0] for _, p in sel], [[r["reference"] for r, _ in sel]]).score, 2),
        }
        if adapter == "shop-assistant-lumen":
            m["facts"] = sum(all(f in p[0] for f in data.LUMEN_FACTS[r["intent"]][lang]) for r, p in sel)
            m["base_facts"] = sum(any(f in p[0] for f in data.BASE_FACTS[lang]) for _, p in sel)
        else:
            m["formal_markers"] = sum(any(f in p[0] for f in data.FORMAL_MARKERS[lang])
                                      and not any(f in p[0] for f in data.INFORMAL_MARKERS[lang]) for _, p in sel)
            m["base_reply"] = sum(shopdata.match_reply(p[0], lang) is not None for _, p in sel)
        for k in list(m):
            if k not in ("conversations", "order_conversations", "chrf"):
                m[k] = round(m[k] / max(1, m["order_conversations"] if k == "order_copy" else len(sel)), 4)
        per[lang] = m
    return per


def main():
    adapter = sys.argv[1]
    torch.set_num_threads(1)
    tok, eos = lib.tokenizer(), lib.eos_ids()
    pad = lib.load_config()["pad_token_id"]
    rows = data.heldout(adapter)
    os.makedirs(os.path.join(lib.HERE, "heldout"), exist_ok=True)
    with open(os.path.join(lib.HERE, "heldout", adapter + ".jsonl"), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    adapter_dir = os.path.join(lib.ADAPTERS_DIR, adapter)
    pm, inner = lib.attach(lib.load_base(), adapter_dir)
    metrics = {"adapter": adapter, "base": lib.BASE_ID,
               "source": __doc__.split("\n\n")[2].replace("\n", " "),
               "definitions": __doc__.split("Metrics per dtype and language:\n")[1].split("\nThe same")[0]
               .replace("\n  ", " ").split("\n- ")}
    metrics["definitions"][0] = metrics["definitions"][0].lstrip("- ")
    samples = {}
    for dtype in ("fp32", "int8"):
        if dtype == "int8":
            lib.quantize_base_(inner)
        preds = predict(inner, tok, rows, pad, eos)
        metrics[dtype] = score(adapter, rows, preds)
        with pm.disable_adapter():
            metrics["base_" + dtype] = score(adapter, rows, predict(inner, tok, rows, pad, eos))
        samples[dtype] = [{"id": r["id"], "reply": p[0], "ended": p[1]} for r, p in zip(rows, preds)]
        print(dtype, json.dumps(metrics[dtype]), "\n  base:", json.dumps(metrics["base_" + dtype]), flush=True)
    with open(os.path.join(adapter_dir, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=2, ensure_ascii=False)
    tmp = os.path.join(lib.TMP, adapter)
    os.makedirs(tmp, exist_ok=True)
    with open(os.path.join(tmp, "predictions.json"), "w", encoding="utf-8") as f:
        json.dump(samples, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
