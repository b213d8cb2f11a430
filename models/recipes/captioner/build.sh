#!/usr/bin/env bash
# Rebuild the captioner end to end: scenes -> tokenizer -> train -> ONNX export -> int8 (npm run models:quantize)
# -> goldens -> metrics.
# Needs a Python with torch, transformers 5, pillow, onnx and tokenizers (PY=...; the committed model was built
# with torch 2.13 CPU, transformers 5.17, Pillow 12.3, onnx 1.23) and node (npm ci) for the metrics.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
MODEL="$ROOT/models/captioner"
WORK="${WORK:-$ROOT/.tmp/captioner}"
MINUTES="${MINUTES:-60}"   # training wall time (the learning rate follows it)
PY="${PY:-python3}"
# One thread: on a 2-core machine shared with other jobs, two OpenMP threads spent most of their time
# waiting for each other (a training step took 5-7x the wall time it takes with one).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
mkdir -p "$WORK" "$MODEL/onnx"
cd "$HERE"
t() { local s=$(date +%s); "$@"; echo "[build] $* took $(( $(date +%s) - s ))s" >&2; }

t "$PY" data.py "$WORK" 20000 300
cp "$WORK/heldout.jsonl" "$HERE/"
t "$PY" tokenizer.py "$WORK" "$MODEL" 512
t "$PY" train.py "$WORK" "$MODEL" "$WORK/hf" "$MINUTES"
t "$PY" export.py "$WORK/hf" "$MODEL"
cd "$ROOT"
# the project's quantizer: int8 weights per output channel, activations quantized per row at run time
t npm run --silent models:quantize -- models/captioner
cd "$HERE"
t "$PY" golden.py "$WORK/hf" "$MODEL" "$HERE"
cd "$ROOT"
t node --import tsx models/recipes/captioner/eval_onnx.ts
ls -l "$MODEL/onnx"
