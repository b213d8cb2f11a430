#!/usr/bin/env bash
# Rebuild phrase-translator end to end: data -> tokenizer -> train -> ONNX export -> int8 -> goldens -> checks -> metrics.
# Run from anywhere; uses /usr/bin/python3 (Debian torch/onnx/sentencepiece) and node (onnxruntime-web).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
MODEL="$ROOT/models/phrase-translator"
WORK="${WORK:-$ROOT/.tmp/phrase-translator}"
STEPS="${STEPS:-3151}"      # phase 1 (from scratch)
STEPS2="${STEPS2:-1289}"    # phase 2 (continued from phase 1, re-warmed lr; 0 = skip)
PY=/usr/bin/python3
export OMP_NUM_THREADS=1
mkdir -p "$WORK" "$MODEL/onnx"
cd "$ROOT"
t() { local s=$(date +%s); "$@"; echo "[build] $(basename "$2" 2>/dev/null || echo "$1") took $(( $(date +%s) - s ))s" >&2; }

t $PY "$HERE/gen_data.py" "$WORK" 300000
cp "$WORK/heldout.jsonl" "$HERE/heldout.jsonl"
t $PY "$HERE/train_tokenizer.py" "$WORK" "$MODEL" 3000
t $PY "$HERE/tok_cases.py" "$WORK" "$MODEL" "$WORK/tok_cases.json"
t node "$HERE/check_tokenizer.mjs" "$WORK/tok_cases.json"
t $PY "$HERE/train.py" "$WORK" "$MODEL" "$WORK/model_phase1.pt" "$STEPS"
if [ "$STEPS2" -gt 0 ]; then
  t $PY "$HERE/train_continue.py" "$WORK" "$MODEL" "$WORK/model_phase1.pt" "$WORK/model.pt" "$STEPS2"
else
  cp "$WORK/model_phase1.pt" "$WORK/model.pt"
fi
t $PY "$HERE/export.py" "$WORK/model.pt" "$MODEL"
t $PY "$HERE/quantize.py" "$MODEL"
t $PY "$HERE/golden.py" "$WORK/model.pt" "$MODEL" "$HERE/golden.json"
t node "$HERE/check_onnx.mjs"
t node "$HERE/eval_onnx.mjs"
ls -l "$MODEL/onnx"
