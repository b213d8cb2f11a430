"""Writes models/adapters/ADAPTER_ID/README.md (the model card) from adapter_config.json, metrics.json,
golden.json, the training summary and base_metrics.json.

    python card.py ADAPTER_ID
"""
import json
import os
import sys

import lib

DESCRIPTION = {
    "shop-assistant-lumen": (
        "Turns the shop-assistant base into the assistant of another shop, **LUMEN**: its name in the replies, its "
        "own policies (returns within 14 days free of charge, refunds 3 days after the item arrives; shipping 3.50, "
        "free over 40, express 7.50; delivery in 2-4 business days, express 1; open 8:00-20:00; reset links valid "
        "for 2 hours; address changes within 2 hours) and a warmer tone, in English and Chinese."),
    "shop-assistant-formal": (
        "Keeps the base shop's facts and answers in a more formal register: the shop speaks as \"we\", asks with "
        "\"please\", and uses no exclamation marks or contractions (\"Hello. How can we help you today?\", \"You are "
        "welcome.\"); Chinese replies open with 您好 and use 请您 / 为您."),
}

VOCABULARY = (
    "The replies use only tokens the base already emits (`models/recipes/adapters/data.py` checks it): the base was "
    "trained with loss on its own replies, so the output rows of all other tokens of its 2,240-token vocabulary were "
    "only ever pushed down, and LoRA on the attention and MLP projections cannot lift them. A first run that used "
    "words such as \"Lumen\" (L-um-en), 免费 or 手机 left those tokens at 4-8 nats of loss after 400 steps while "
    "every other reply token fell to about 0; so the shop's name is spelled LUMEN (five capital-letter tokens) and its "
    "facts are digits.")


LIMITS = {
    "shop-assistant-lumen": (
        "The held-out misses are mostly garbled replies that start as the right LUMEN reply and drift into another "
        "(\"You can return LUMEN items for free for orders in your L within 2 hours.\"), or a Chinese order reply "
        "to a question with no order number (the base alone is 100% exact on its own split). 240 steps (final loss EMA "
        "0.026) were what the time allowed; a longer schedule was not tried."),
    "shop-assistant-formal": (
        "Its opening-hours reply is the base's own sentence (already formal, and written with the base's tokens), "
        "which is why the base alone scores 8-9% exact and the adapter 9% `base_reply` in English. Order-number copy "
        "drops from the base's 100% to 94% / 91%, and Chinese exact replies reach 83%: some replies are garbled "
        "mixtures of two templates. 240 steps (final loss EMA 0.018) were "
        "what the time allowed; a longer schedule was not tried."),
}


def pct(x):
    return "%.1f%%" % (100 * x)


def main():
    adapter = sys.argv[1]
    out_dir = os.path.join(lib.ADAPTERS_DIR, adapter)
    acfg = json.load(open(os.path.join(out_dir, "adapter_config.json")))
    metrics = json.load(open(os.path.join(out_dir, "metrics.json")))
    golden = json.load(open(os.path.join(out_dir, "golden.json"), encoding="utf-8"))
    summary = json.load(open(os.path.join(lib.TMP, adapter, "train_summary.json")))
    base = json.load(open(os.path.join(lib.HERE, "base_metrics.json"), encoding="utf-8"))
    size = os.path.getsize(os.path.join(out_dir, "adapter_model.safetensors"))
    special = ["facts", "base_facts"] if adapter.endswith("lumen") else ["formal_markers", "base_reply"]
    head = ["reply_exact", "order_copy", "chrf"] + special
    rows = []
    for key, label in (("int8", "adapter, int8 base"), ("fp32", "adapter, fp32 base"),
                       ("base_int8", "no adapter, int8 base"), ("base_fp32", "no adapter, fp32 base")):
        for lang in ("en", "zh"):
            m = metrics[key][lang]
            cells = [pct(m[k]) if k != "chrf" else "%.1f" % m[k] for k in head]
            rows.append("| %s | %s | %s |" % (label, lang, " | ".join(cells)))
    table = "| model | lang | %s |\n| --- | --- |%s\n%s" % (" | ".join(head), " --- |" * len(head), "\n".join(rows))
    base_rows = []
    for src, label in (("pytorch_adapters_disabled", "PyTorch, both adapters loaded, none applied"),
                       ("committed_onnxruntime_web", "committed metrics.json (onnxruntime-web)")):
        for dt in ("int8", "fp32"):
            for lang in ("en", "zh"):
                m = base[src][dt][lang]
                base_rows.append("| %s | %s | %s | %s | %s |" % (label, dt, lang, pct(m["intent_correct"]),
                                                                  pct(m["order_copy_accuracy"])))
    examples = []
    for c in golden["cases"][:6]:
        examples.append("| %s | %s | %s |" % (c["messages"][-1]["content"].replace("|", "\\|"),
                                              c["int8_text"].replace("|", "\\|"),
                                              "yes" if c["int8_ids"] == c["fp32_ids"] else "no"))
    card = f"""---
license: apache-2.0
language: [en, zh]
base_model: {lib.BASE_ID}
library_name: peft
pipeline_tag: text-generation
tags: [lora, qlora]
---
# {adapter}

A LoRA adapter for `{lib.BASE_ID}` (the bundled bilingual shop chat model), trained by this project's recipe
(`models/recipes/adapters/`). {DESCRIPTION[adapter]}

It is a demonstration adapter for the serving engine: the base answers a fixed set of shop intents in fixed
wording, and so does the adapter, in its own wording. {VOCABULARY}

## Adapter
PEFT LoRA (peft {acfg.get("peft_version", "?")}): r {acfg["r"]}, lora_alpha {acfg["lora_alpha"]} (scale
{acfg["lora_alpha"] / acfg["r"]:g}, rslora off), target modules {", ".join(sorted(acfg["target_modules"]))} in all
4 layers, no bias, no dropout. {summary["lora_parameters"]:,} parameters, `adapter_model.safetensors`
{size / 1024:.0f} KB (float32). Each targeted layer computes W x + (lora_alpha / r) * B (A x).

## Training (QLoRA-style)
The base's weights come from the committed `onnx/model.onnx`; every base Linear and the embedding table are
replaced by the per-row int8 arithmetic of `onnx/model_quantized.onnx` (`models/recipes/common/rowq.py`: activations
quantized per row at run time, int8 weights per output channel) and frozen, with a straight-through gradient; only
the LoRA matrices (float32) train, reading each layer's float input. So the weights were trained against the int8
model the edge serves. {summary["steps"]} steps x {summary["batch"]} conversations (AdamW, peak lr
{summary["peak_lr"]:g}, {summary["warmup"]} warm-up steps, cosine to 10%), loss on the assistant tokens only,
{summary["train_seconds"] / 60:.0f} min on one shared CPU core. Data: the base recipe's generator
(`models/recipes/shopdata`, training templates and grammar, 35% of conversations ending in an order number) with
every assistant reply rewritten in this adapter's wording (`models/recipes/adapters/data.py`).

## Held-out metrics
100 English + 100 Chinese conversations of shopdata's test split (user phrasing templates, order numbers, names,
cities and products never seen in training), greedy decoding in PyTorch (peft), max 48 new tokens
(`metrics.json`, definitions inside). `reply_exact`: the reply is exactly the adapter's reply for the expected intent,
with the right order number; `order_copy`: the order number copied; chrF against the reference replies.
{"`facts`: the reply states every LUMEN fact of its intent; `base_facts`: it still states a fact of the base shop (lower is better)." if adapter.endswith("lumen") else "`formal_markers`: the reply carries a formal marker (we / please; 您好, / 为您 / 请您) and no informal one (!, contractions; ！); `base_reply`: it is word for word a base reply (lower is better)."}

{table}

Limits: {LIMITS[adapter]}

## The base without an adapter
With both adapters loaded in one peft model and none applied, the base's own held-out split
(`models/recipes/shop-assistant/heldout.jsonl`, 400 conversations), scored by the base recipe's `score.py`
(replies equal to the plain base's: {", ".join("%s %s" % (k, v) for k, v in base["replies_equal_to_plain_base"].items())}):

| source | dtype | lang | intent-correct | order-copy |
| --- | --- | --- | --- | --- |
{chr(10).join(base_rows)}

## Goldens
`golden.json`: {len(golden["cases"])} chats (English and Chinese, single- and multi-turn), greedy ids of the peft
model over the int8 fake-quant base (`int8_ids`) and the fp32 base (`fp32_ids`), with the prompt, its ids and the
base's own ids for comparison (`models/recipes/adapters/golden.py`). Some of them (int8):

| user | reply | fp32 the same |
| --- | --- | --- |
{chr(10).join(examples)}

## Use
```sh
curl http://127.0.0.1:8787/v1/chat/completions -d '{{"model": "{adapter}", "messages": [{{"role": "user", "content": "Can I return an item?"}}]}}'
```
```python
from peft import PeftModel   # over models/recipes/shop-assistant/modeling.py's LlamaForCausalLM
model = PeftModel.from_pretrained(base, "models/adapters/{adapter}")
```
"""
    with open(os.path.join(out_dir, "README.md"), "w", encoding="utf-8") as f:
        f.write(card)
    print("wrote", os.path.join(out_dir, "README.md"))


if __name__ == "__main__":
    main()
