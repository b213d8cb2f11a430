#!/usr/bin/env bash
# Rebuild models/adapters/{shop-assistant-lumen,shop-assistant-formal}: data check -> QLoRA fine-tuning with peft over
# the int8 fake-quant base -> held-out metrics -> the base's own metrics with no adapter applied -> goldens -> cards.
# Needs a Python with torch and peft (README.md): PYTHON=/path/to/venv/bin/python (default: python3 on PATH).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PY="${PYTHON:-python3}"
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
cd "$HERE"
nice -n 10 "$PY" data.py > /dev/null          # every reply maps and fits max_new_tokens
for id in shop-assistant-lumen shop-assistant-formal; do
  nice -n 10 "$PY" finetune.py "$id"             # models/adapters/$id/adapter_config.json, adapter_model.safetensors
  nice -n 10 "$PY" evaluate.py "$id"             # heldout/$id.jsonl, models/adapters/$id/metrics.json
  nice -n 10 "$PY" golden.py "../../adapters/$id" --out "../../adapters/$id/golden.json"
done
nice -n 10 "$PY" base_check.py                   # base_metrics.json
for id in shop-assistant-lumen shop-assistant-formal; do
  "$PY" card.py "$id"                            # models/adapters/$id/README.md
done
