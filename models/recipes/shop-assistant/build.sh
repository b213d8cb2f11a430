#!/usr/bin/env bash
# Rebuild models/shop-assistant end to end: tokenizer + training -> held-out split -> ONNX fp32 + int8 + golden
# -> tokenizer and ONNX checks in JS -> held-out metrics through onnxruntime-web.
# Training: phase 1 (train.py defaults: 2000 steps x 24) then phase 2 (1000 steps, lower lr, fresh data).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
export OMP_NUM_THREADS=1
TMP="$ROOT/.tmp/shop-assistant"
mkdir -p "$TMP"
(cd "$ROOT/models/recipes" && /usr/bin/python3 -m shopdata > /dev/null)   # generator self-check
cd "$HERE"
/usr/bin/python3 train.py                       # BPE tokenizer, config files, phase 1: 2000 steps, cosine from 2e-3
cp "$TMP/model.pt" "$TMP/phase1.pt"
# phase 2: 1000 more steps on fresh conversations, cosine from 6e-4 (same tokenizer: training is deterministic)
INIT="$TMP/phase1.pt" STEPS=1000 LR=6e-4 WARMUP=20 DATA_SEED=2 SUMMARY=phase2_summary.json /usr/bin/python3 train.py
/usr/bin/python3 make_heldout.py                # heldout.jsonl
/usr/bin/python3 export.py                      # onnx/model.onnx, onnx/model_quantized.onnx, golden.json
/usr/bin/python3 tok_cases.py "$TMP/tok_cases.jsonl"
node check_tokenizer.mjs "$TMP/tok_cases.jsonl"
node check_onnx.mjs
node eval_onnx.mjs "$TMP/predictions.jsonl"
/usr/bin/python3 score.py "$TMP/predictions.jsonl"   # metrics.json
/usr/bin/python3 card.py                        # models/shop-assistant/README.md
