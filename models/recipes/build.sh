#!/usr/bin/env bash
# `npm run models:build`: re-runs every recipe (see README.md here for what each needs and how long it takes).
# Python comes from Debian: apt-get install python3-torch python3-onnx python3-numpy libopenblas0-pthread
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
/usr/bin/python3 order-risk/build.py
for recipe in glove-static phrase-translator shop-assistant intent-bert; do
  echo "== $recipe"
  bash "$recipe/build.sh"
done
