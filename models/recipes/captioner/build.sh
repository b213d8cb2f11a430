#!/usr/bin/env bash
# Rebuild the captioner end to end: scenes -> tokenizer -> train -> ONNX export -> int8 -> goldens -> metrics.
# Needs a Python with torch, transformers 5, pillow, onnx and tokenizers (PY=...; the committed model was built
# with torch 2.13 CPU, transformers 5.17, Pillow 12.3, onnx 1.23) and node (npm ci) for the metrics.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
MODEL="$ROOT/models/captioner"
WORK="${WORK:-$ROOT/.tmp/captioner}"
MINUTES="${MINUTES:-36}"   # phase 1 training wall time (the learning rate follows it)
MINUTES2="${MINUTES2:-18}" # phase 2 (continued, more unprompted English)
PY="${PY:-python3}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
mkdir -p "$WORK" "$MODEL/onnx"
cd "$HERE"
t() { local s=$(date +%s); "$@"; echo "[build] $2 took $(( $(date +%s) - s ))s" >&2; }

t "$PY" data.py "$WORK" 20000 300
cp "$WORK/heldout.jsonl" "$HERE/"
t "$PY" tokenizer.py "$WORK" "$MODEL" 512
t "$PY" train.py "$WORK" "$MODEL" "$WORK/hf1" "$MINUTES"
t "$PY" train.py "$WORK" "$MODEL" "$WORK/hf2" "$MINUTES2" "$WORK/hf1"
t "$PY" export.py "$WORK/hf2" "$MODEL"
t "$PY" quantize.py "$MODEL"
t "$PY" golden.py "$WORK/hf2" "$MODEL" "$HERE"
cd "$ROOT"
t node --import tsx models/recipes/captioner/eval_onnx.ts
ls -l "$MODEL/onnx"
