#!/usr/bin/env bash
# Rebuild models/shop-assistant end to end: tokenizer + training -> held-out split -> ONNX fp32 + int8 + golden
# -> tokenizer and ONNX checks in JS -> held-out metrics through onnxruntime-web.
# Training: phase 1 (train.py defaults: 2000 steps x 24) then phase 2 (1000 steps, lower lr, fresh data), both on
# the legacy tokenization (CJK_SPLIT=0: BPE merges may join Chinese characters), then phase 3 (900 steps, fresh
# data) on the final tokenization, which isolates every CJK character before BPE (tokenizer.json Split + ByteLevel).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
export OMP_NUM_THREADS=1
TMP="$ROOT/.tmp/shop-assistant"
mkdir -p "$TMP"
(cd "$ROOT/models/recipes" && /usr/bin/python3 -m shopdata > /dev/null)   # generator self-check
cd "$HERE"
CJK_SPLIT=0 /usr/bin/python3 train.py          # BPE tokenizer, config files, phase 1: 2000 steps, cosine from 2e-3
cp "$TMP/model.pt" "$TMP/phase1.pt"
# phase 2: 1000 more steps on fresh conversations, cosine from 6e-4 (same tokenizer: training is deterministic)
CJK_SPLIT=0 INIT="$TMP/phase1.pt" STEPS=1000 LR=6e-4 WARMUP=20 DATA_SEED=2 SUMMARY=phase2_summary.json /usr/bin/python3 train.py
cp "$TMP/model.pt" "$TMP/phase2.pt"
# phase 3: 900 steps on fresh conversations with CJK characters isolated (the tokenization tokenizer.json uses)
CJK_SPLIT=1 INIT="$TMP/phase2.pt" STEPS=900 LR=1e-3 WARMUP=40 DATA_SEED=5 SUMMARY=phase3_summary.json /usr/bin/python3 train.py
/usr/bin/python3 make_heldout.py                # heldout.jsonl
/usr/bin/python3 export.py                      # onnx/model.onnx, onnx/model_quantized.onnx, golden.json
/usr/bin/python3 tok_cases.py "$TMP/tok_cases.jsonl"
node check_tokenizer.mjs "$TMP/tok_cases.jsonl"
node check_onnx.mjs
node eval_onnx.mjs "$TMP/predictions.jsonl"   # batch 1, KV cache (as the product serves)
/usr/bin/python3 score.py "$TMP/predictions.jsonl"   # metrics.json
/usr/bin/python3 card.py                        # models/shop-assistant/README.md
