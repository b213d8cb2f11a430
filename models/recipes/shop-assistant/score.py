"""Scores eval_onnx.mjs predictions against heldout.jsonl and writes metrics.json.

intent-correct: the greedy reply (decoded, special tokens skipped, generation ended with EOS within
max_new_tokens) is exactly one of the assistant reply templates of shopdata for the expected intent and the
conversation's language, with its slot filled correctly: when the last user turn carries an order number the
reply must be an order_status template containing exactly that number; otherwise a slot-free template.
order-copy: over conversations whose last user turn carries an order number, the reply contains that exact
order number (shopdata.find_order_numbers(reply) == [number]).
Usage: python3 score.py [PREDICTIONS.jsonl]  (env METRICS_OUT: write elsewhere than metrics.json)"""
import json
import os
import sys

from common import HERE, TMP
import shopdata

pred_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(TMP, "predictions.jsonl")
rows = {}
with open(os.path.join(HERE, "heldout.jsonl"), encoding="utf-8") as f:
    for line in f:
        r = json.loads(line)
        rows[r["id"]] = r
preds = [json.loads(l) for l in open(pred_path, encoding="utf-8")]
stats = {}
fails = []
for p in preds:
    r = rows[p["id"]]
    key = (p["dtype"], r["lang"])
    s = stats.setdefault(key, {"n": 0, "intent_correct": 0, "n_order": 0, "order_copied": 0, "exact_reference": 0})
    s["n"] += 1
    m = shopdata.match_reply(p["reply"], r["lang"]) if p["ended"] else None
    ok = m is not None and m[0] == r["intent"] and m[1] == r["order"]
    s["intent_correct"] += ok
    s["exact_reference"] += p["reply"] == r["reference"]
    if r["order"]:
        s["n_order"] += 1
        s["order_copied"] += shopdata.find_order_numbers(p["reply"]) == [r["order"]]
    if not ok and len(fails) < 40:
        fails.append((p["dtype"], r["id"], r["intent"], r["order"], r["messages"][-1]["content"], p["reply"]))
metrics = {"source": "onnxruntime-web (Node) greedy decoding of onnx/model.onnx (fp32) and onnx/model_quantized.onnx "
                     "(int8) on heldout.jsonl, each conversation decoded alone (batch 1, no padding; prompt fed whole, then one "
                     "token per step with the KV cache), max_new_tokens from generation_config.json",
           "definitions": {"intent_correct": __doc__.split("intent-correct: ")[1].split("order-copy:")[0].strip().replace("\n", " "),
                           "order_copy": __doc__.split("order-copy: ")[1].split("Usage")[0].strip().replace("\n", " ")}}
for (dt, lang), s in sorted(stats.items()):
    metrics.setdefault(dt, {})[lang] = {
        "conversations": s["n"],
        "intent_correct": round(s["intent_correct"] / s["n"], 4),
        "order_conversations": s["n_order"],
        "order_copy_accuracy": round(s["order_copied"] / max(1, s["n_order"]), 4),
        "exact_reference_reply": round(s["exact_reference"] / s["n"], 4)}
with open(os.environ.get("METRICS_OUT", os.path.join(HERE, "metrics.json")), "w") as f:
    json.dump(metrics, f, indent=2, ensure_ascii=False)
for dt in ("fp32", "int8"):
    print(dt, json.dumps(metrics.get(dt)))
for x in fails[:25]:
    print("FAIL", x)
