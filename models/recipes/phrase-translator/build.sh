#!/usr/bin/env bash
# Rebuild phrase-translator end to end: data -> tokenizer -> train -> ONNX export -> int8 -> goldens -> checks -> metrics.
# Run from anywhere; uses /usr/bin/python3 (Debian torch/onnx/sentencepiece) and node (onnxruntime-web).
# Training has five phases: 1 from scratch and 2 continued, both on train.jsonl; 3 continued on train_aug.jsonl
# (the original training templates plus the training-only frames of gen_data.py); 4 continued on train_p4.jsonl
# (phase-3 data plus the sibling frames and the article format); 5 continued on train_p4.jsonl after
# isolate_cjk.py has made Chinese tokenize character by character (same vocabulary and ids).
# WARM_FROM=<git revision>: skip the tokenizer and phases 1-2 and start phase 3 from the fp32 ONNX weights and the
# tokenizer.json of models/phrase-translator at that revision (onnx_to_ckpt.py). The committed model was built as
# `WARM_FROM=3c598d7 STEPS3=0`: phases 4 and 5 from the phase-3 model of revision 3c598d7 (which itself was built
# from the phase-2 model of c76233f by phase 3 alone).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
MODEL="$ROOT/models/phrase-translator"
WORK="${WORK:-$ROOT/.tmp/phrase-translator}"
STEPS="${STEPS:-3151}"      # phase 1 (from scratch)
STEPS2="${STEPS2:-1289}"    # phase 2 (continued from phase 1, re-warmed lr; 0 = skip)
STEPS3="${STEPS3:-5600}"    # phase 3 (continued from phase 2 on train_aug.jsonl, re-warmed lr; 0 = skip)
STEPS4="${STEPS4:-3000}"    # phase 4 (continued from phase 3 on train_p4.jsonl, re-warmed lr; 0 = skip)
STEPS5="${STEPS5:-3600}"    # phase 5 (continued from phase 4, Chinese character by character; 0 = skip)
WARM_FROM="${WARM_FROM:-}"
PY=/usr/bin/python3
export OMP_NUM_THREADS=1
mkdir -p "$WORK" "$MODEL/onnx"
cd "$ROOT"
t() { local s=$(date +%s); "$@"; echo "[build] $(basename "$2" 2>/dev/null || echo "$1") took $(( $(date +%s) - s ))s" >&2; }

t $PY "$HERE/gen_data.py" "$WORK" 300000 300000
cp "$WORK/heldout.jsonl" "$WORK/novel.jsonl" "$HERE/"
if [ -n "$WARM_FROM" ]; then
  # the earlier model's tokenizer and fp32 ONNX weights -> a checkpoint (checked against that revision's golden.json)
  mkdir -p "$WORK/warm/onnx"
  for f in tokenizer.json tokenizer_config.json special_tokens_map.json onnx/encoder_model.onnx onnx/decoder_model.onnx; do
    git show "$WARM_FROM:models/phrase-translator/$f" > "$WORK/warm/$f"
  done
  git show "$WARM_FROM:models/recipes/phrase-translator/golden.json" > "$WORK/warm/golden.json"
  cp "$WORK/warm/"tokenizer*.json "$WORK/warm/special_tokens_map.json" "$MODEL/"
  t $PY "$HERE/onnx_to_ckpt.py" "$WORK/warm" "$WORK/model_phase2.pt" "$WORK/warm/golden.json"
else
  t $PY "$HERE/train_tokenizer.py" "$WORK" "$MODEL" 3000
  t $PY "$HERE/tok_cases.py" "$WORK" "$MODEL" "$WORK/tok_cases.json"
  t node "$HERE/check_tokenizer.mjs" "$WORK/tok_cases.json"
  t $PY "$HERE/train.py" "$WORK" "$MODEL" "$WORK/model_phase1.pt" "$STEPS"
  if [ "$STEPS2" -gt 0 ]; then
    t $PY "$HERE/train_continue.py" "$WORK" "$MODEL" "$WORK/model_phase1.pt" "$WORK/model_phase2.pt" "$STEPS2"
  else
    cp "$WORK/model_phase1.pt" "$WORK/model_phase2.pt"
  fi
fi
if [ "$STEPS3" -gt 0 ]; then
  PT_TRAIN=train_aug.jsonl PT_SEED=3 \
    t $PY "$HERE/train_continue.py" "$WORK" "$MODEL" "$WORK/model_phase2.pt" "$WORK/model_phase3.pt" "$STEPS3"
else
  cp "$WORK/model_phase2.pt" "$WORK/model_phase3.pt"
fi
if [ "$STEPS4" -gt 0 ]; then
  PT_TRAIN=train_p4.jsonl PT_SEED=4 \
    t $PY "$HERE/train_continue.py" "$WORK" "$MODEL" "$WORK/model_phase3.pt" "$WORK/model_phase4.pt" "$STEPS4"
else
  cp "$WORK/model_phase3.pt" "$WORK/model_phase4.pt"
fi
if [ "$STEPS5" -gt 0 ]; then
  t $PY "$HERE/isolate_cjk.py" "$MODEL"
  t $PY "$HERE/tok_cases.py" "$WORK" "$MODEL" "$WORK/tok_cases.json"
  t node "$HERE/check_tokenizer.mjs" "$WORK/tok_cases.json"
  PT_TRAIN=train_p4.jsonl PT_SEED=5 \
    t $PY "$HERE/train_continue.py" "$WORK" "$MODEL" "$WORK/model_phase4.pt" "$WORK/model.pt" "$STEPS5"
else
  cp "$WORK/model_phase4.pt" "$WORK/model.pt"
fi
t $PY "$HERE/export.py" "$WORK/model.pt" "$MODEL"
t $PY "$HERE/quantize.py" "$MODEL"
t $PY "$HERE/golden.py" "$WORK/model.pt" "$MODEL" "$HERE/golden.json"
t node "$HERE/check_onnx.mjs"
t node "$HERE/eval_onnx.mjs"
ls -l "$MODEL/onnx"
