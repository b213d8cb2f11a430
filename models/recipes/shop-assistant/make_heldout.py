"""Writes heldout.jsonl: shopdata "test" conversations (templates, order numbers, names, cities, products never
seen in training), cut before the last assistant reply. 200 English + 200 Chinese."""
import json
import os

from common import HERE
import shopdata

N_PER_LANG = 200
rows = []
for lang in ("en", "zh"):
    for k, conv in enumerate(shopdata.generate("test", N_PER_LANG, seed=2024, lang=lang)):
        last_user = conv[-2]
        assert last_user["role"] == "user" and conv[-1]["role"] == "assistant"
        rows.append({"id": "%s-%03d" % (lang, k), "lang": lang,
                     "messages": [{"role": m["role"], "content": m["content"]} for m in conv[:-1]],
                     "intent": last_user["intent"], "order": last_user["order"],
                     "user_turns": sum(1 for m in conv if m["role"] == "user"),
                     "reference": conv[-1]["content"]})
with open(os.path.join(HERE, "heldout.jsonl"), "w", encoding="utf-8") as f:
    for r in rows:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(len(rows), "held-out conversations;",
      sum(1 for r in rows if r["order"]), "with an order number;",
      sum(1 for r in rows if r["user_turns"] > 1), "multi-turn")
