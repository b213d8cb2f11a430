"""The base model's own held-out metrics with both adapters loaded and none applied.

    python base_check.py     -> models/recipes/adapters/base_metrics.json

One peft model holds both adapters (load_adapter); with disable_adapter() it must be the base: the base recipe's
400 held-out conversations (shop-assistant/heldout.jsonl) are decoded greedily (int8 = ../common/rowq.py base and
fp32, batches as evaluate.py), scored by the base recipe's own score.py, and the replies are compared one by one
with the plain base's (no peft at all). The committed shop-assistant/metrics.json was measured through the ONNX files
in onnxruntime-web; the numbers here are PyTorch's, written side by side.
"""
import json
import os
import subprocess
import sys

import torch

import data
import lib
from evaluate import predict


def main():
    torch.set_num_threads(1)
    tok, eos = lib.tokenizer(), lib.eos_ids()
    pad = lib.load_config()["pad_token_id"]
    with open(os.path.join(lib.BASE_RECIPE, "heldout.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    pm, inner = lib.attach(lib.load_base(), os.path.join(lib.ADAPTERS_DIR, data.ADAPTERS[0]))
    for name in data.ADAPTERS[1:]:
        pm.load_adapter(os.path.join(lib.ADAPTERS_DIR, name), adapter_name=name)
    plain = lib.load_base()
    tmp = os.path.join(lib.TMP, "base")
    os.makedirs(tmp, exist_ok=True)
    pred_path = os.path.join(tmp, "predictions.jsonl")
    same = {}
    with open(pred_path, "w", encoding="utf-8") as f:
        for dtype in ("fp32", "int8"):
            if dtype == "int8":
                lib.quantize_base_(inner)
                lib.quantize_base_(plain)
            with pm.disable_adapter():
                preds = predict(inner, tok, rows, pad, eos)
            ref = predict(plain, tok, rows, pad, eos)
            same[dtype] = sum(a == b for a, b in zip(preds, ref))
            for r, (reply, ended) in zip(rows, preds):
                f.write(json.dumps({"id": r["id"], "dtype": dtype, "reply": reply, "ended": ended},
                                   ensure_ascii=False) + "\n")
    out = os.path.join(tmp, "score.json")
    subprocess.run([sys.executable, os.path.join(lib.BASE_RECIPE, "score.py"), pred_path], check=True,
                   env=dict(os.environ, METRICS_OUT=out), stdout=subprocess.DEVNULL)
    with open(out, encoding="utf-8") as f:
        torch_metrics = json.load(f)
    with open(os.path.join(lib.BASE_RECIPE, "metrics.json"), encoding="utf-8") as f:
        committed = json.load(f)
    result = {
        "note": __doc__.split("\n\n")[1].replace("\n", " "),
        "adapters_loaded": data.ADAPTERS,
        "replies_equal_to_plain_base": {dt: "%d/%d" % (n, len(rows)) for dt, n in same.items()},
        "pytorch_adapters_disabled": {dt: torch_metrics[dt] for dt in ("fp32", "int8")},
        "committed_onnxruntime_web": {dt: committed[dt] for dt in ("fp32", "int8")},
    }
    with open(os.path.join(lib.HERE, "base_metrics.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2, ensure_ascii=False)
    print(json.dumps(result, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
