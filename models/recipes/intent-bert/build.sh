#!/usr/bin/env bash
# Rebuild models/intent-bert end to end (data -> WordPiece + training -> ONNX + int8 + golden -> checks -> metrics).
# TRAIN_SECONDS (default 1320 = 22 min) caps the training wall time.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
export OMP_NUM_THREADS=1
mkdir -p "$ROOT/.tmp/intent-bert"
cd "$ROOT"
/usr/bin/python3 "$HERE/data.py"            # writes heldout.jsonl (+ .tmp/intent-bert/tok_texts.jsonl)
/usr/bin/python3 "$HERE/train.py"           # stage 1: WordPiece vocab, tokenizer/config files, training (23 min)
/usr/bin/python3 "$HERE/finetune.py"        # stage 2: [CLS] alignment + masking (11 min)
/usr/bin/python3 "$HERE/export.py"          # ONNX fp32 + int8, golden.json
/usr/bin/python3 "$HERE/tok_cases.py" "$ROOT/models/intent-bert" "$ROOT/.tmp/intent-bert/tok_texts.jsonl" "$ROOT/.tmp/intent-bert/tok_cases.jsonl"
node "$HERE/../common/check_tokenizer.mjs" "$ROOT/models/intent-bert" "$ROOT/.tmp/intent-bert/tok_cases.jsonl"
node "$HERE/check_onnx.mjs"
node "$HERE/eval_onnx.mjs"                  # metrics.json through onnxruntime-web
