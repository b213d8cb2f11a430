"""int8 variants (<name>_quantized.onnx) of the four ONNX files: `npm run models:quantize` (per-row int8
activations, int8 weights per output channel; golden.py computes the same in PyTorch with common/rowq.py).
Usage: quantize.py MODEL_DIR"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
subprocess.run(["npm", "run", "--silent", "models:quantize", "--", os.path.abspath(sys.argv[1])], check=True, cwd=ROOT)
