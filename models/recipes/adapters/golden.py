"""Greedy ids of the `peft` model for any LoRA adapter folder over the shop-assistant base, int8 and fp32.

    python golden.py ADAPTER_DIR [--out golden.json] [--cases CASES.json] [--message TEXT ...] [--max-new-tokens N]

ADAPTER_DIR is a PEFT folder (adapter_config.json + adapter_model.safetensors) for models/shop-assistant. Cases:
`--cases` names a JSON file, either a list or {"cases": [...]}, of {"name"?, "messages": [...], "max_new_tokens"?};
each `--message` adds a one-turn user chat; with neither, the recipe's fixed golden chats (GOLDEN_CHATS below,
English and Chinese; for this recipe's own adapters the earlier assistant turns are in the adapter's wording). Without `--out` the JSON goes to stdout.

Per case: `prompt` (the chat template with the generation prompt), `input_ids`, `max_new_tokens`, `int8_ids` (peft
model over the int8 base: ../common/rowq.py, what onnx/model_quantized.onnx computes, LoRA branches in float32),
`fp32_ids` (over the fp32 base), the same ids recomputed without the KV cache (`*_ids_no_cache`, which must agree),
the decoded texts, and `base_int8_ids` / `base_fp32_ids` (no adapter) to show what the adapter changes.
Greedy stops at an EOS id of generation_config.json or after max_new_tokens; ids are the generated tokens only,
the EOS included when one came.

Needs torch and peft (see README.md: a venv with torch==2.13.0+cpu and peft==0.21.0). One run over the 8 default
chats takes about a minute on one core; synthetic.py writes random adapters to feed it.
"""
import argparse
import json
import os
import sys

import torch

import data
import lib

GOLDEN_CHATS = [
    ("en_returns", [{"role": "user", "content": "Can I return an item?"}]),
    ("zh_returns", [{"role": "user", "content": "你们的退货政策是什么？"}]),
    ("en_order_single", [{"role": "user", "content": "Where is my order A7312458?"}]),
    ("zh_multi_order_number", [{"role": "user", "content": "我的订单到哪了？"},
                               {"role": "assistant", "content": "好的，我来帮您查。请问您的订单号是多少？"},
                               {"role": "user", "content": "订单号是SO-482913。"}]),
    ("en_multi_shipping", [{"role": "user", "content": "Hello!"},
                           {"role": "assistant", "content": "Hello! How can I help you today?"},
                           {"role": "user", "content": "How much does delivery to Lyon cost?"}]),
    ("zh_shipping_time", [{"role": "user", "content": "寄到长沙要多久？"}]),
    ("en_hours", [{"role": "user", "content": "When are you open?"}]),
    ("zh_greeting", [{"role": "user", "content": "您好。"}]),
]


def load_cases(args):
    if args.cases:
        with open(args.cases, encoding="utf-8") as f:
            raw = json.load(f)
        raw = raw["cases"] if isinstance(raw, dict) else raw
        return [{"name": c.get("name", "case_%d" % i), "messages": c["messages"],
                 "max_new_tokens": c.get("max_new_tokens", args.max_new_tokens)} for i, c in enumerate(raw)]
    if args.message:
        return [{"name": "message_%d" % i, "messages": [{"role": "user", "content": t}],
                 "max_new_tokens": args.max_new_tokens} for i, t in enumerate(args.message)]
    adapter = os.path.basename(os.path.normpath(args.adapter_dir))
    cases = []
    for name, messages in GOLDEN_CHATS:
        if adapter in data.ADAPTERS:  # this recipe's adapters see their own wording in earlier assistant turns
            lang = "zh" if any("\u4e00" <= ch <= "\u9fff" for m in messages for ch in m["content"]) else "en"
            messages = [dict(m, content=data.adapter_reply(adapter, m["content"], lang)) if m["role"] == "assistant"
                        else m for m in messages]
        cases.append({"name": name, "messages": messages, "max_new_tokens": args.max_new_tokens})
    return cases


def compute(adapter_dir, cases):
    """Fills each case with its prompt, input ids and greedy ids (adapter and base, int8 and fp32)."""
    tok = lib.tokenizer()
    eos = lib.eos_ids()
    for c in cases:
        c["prompt"] = lib.render(c["messages"])
        c["input_ids"] = tok.encode(c["prompt"])
    # fp32 first, then the same modules quantized in place: both passes read the adapter exactly as saved
    _, model = lib.attach(lib.load_base(), adapter_dir)
    base = lib.load_base()
    for dtype in ("fp32", "int8"):
        if dtype == "int8":
            lib.quantize_base_(model)
            lib.quantize_base_(base)
        for c in cases:
            ids = lib.greedy(model, c["input_ids"], eos, c["max_new_tokens"])
            c[dtype + "_ids"] = ids
            c[dtype + "_ids_no_cache"] = lib.greedy(model, c["input_ids"], eos, c["max_new_tokens"], use_cache=False)
            c[dtype + "_text"] = tok.decode(ids, skip_special_tokens=True)
            c["base_" + dtype + "_ids"] = lib.greedy(base, c["input_ids"], eos, c["max_new_tokens"])
            if c[dtype + "_ids_no_cache"] != ids:
                print("WARNING: %s %s: greedy ids with and without the cache differ" % (c["name"], dtype), file=sys.stderr)
    return cases


def golden(adapter_dir, cases):
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        acfg = json.load(f)
    import peft
    return {
        "adapter": os.path.basename(os.path.normpath(adapter_dir)),
        "base": lib.BASE_ID,
        "note": ("peft %s (torch %s) greedy decoding. int8_ids: LoRA over the int8 base as onnx/model_quantized.onnx "
                 "computes it (models/recipes/common/rowq.py: activations quantized per row, int8 weights per output "
                 "channel), each LoRA branch in float32 on the layer's float input: rowq(W) x + (lora_alpha / r) * B (A x). "
                 "fp32_ids: over the fp32 base. Prompt fed whole, then one token per step with the KV cache; *_no_cache: "
                 "full recomputation each step. Generated ids only, ending with the EOS id if one came. base_*_ids: the "
                 "base without the adapter.") % (peft.__version__, torch.__version__),
        "r": acfg["r"], "lora_alpha": acfg["lora_alpha"], "target_modules": sorted(acfg["target_modules"]),
        "eos_token_id": lib.eos_ids(),
        "cases": compute(adapter_dir, cases),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("adapter_dir")
    ap.add_argument("--out")
    ap.add_argument("--cases")
    ap.add_argument("--message", action="append")
    ap.add_argument("--max-new-tokens", type=int, default=lib.MAX_NEW_TOKENS)
    args = ap.parse_args()
    torch.set_num_threads(1)
    text = json.dumps(golden(args.adapter_dir, load_cases(args)), ensure_ascii=False)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
