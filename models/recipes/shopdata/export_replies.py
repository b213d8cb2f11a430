"""Writes reply_templates.json: the assistant reply templates and the order-number pattern, so the
TypeScript tests score chat replies exactly as score.py does (shopdata.match_reply).
Usage: /usr/bin/python3 models/recipes/shopdata/export_replies.py"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import shopdata  # noqa: E402

doc = {
    "order_pattern": shopdata.ORDER_RE.pattern,
    "templates": [{"intent": i, "lang": l, "template": t} for i, l, t in shopdata.reply_templates()],
}
with open(os.path.join(HERE, "reply_templates.json"), "w", encoding="utf-8") as f:
    json.dump(doc, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(len(doc["templates"]), "templates")
