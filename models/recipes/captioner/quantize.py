"""int8 variants (<name>_quantized.onnx) of the encoder and the merged decoder with the project's shared
scheme (common/int8.py: weight-only, symmetric, per output channel).
Usage: quantize.py MODEL_DIR"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
import int8  # noqa: E402

onnx_dir = os.path.join(sys.argv[1], "onnx")
for name in ("encoder_model", "decoder_model_merged"):
    src = os.path.join(onnx_dir, name + ".onnx")
    dst = os.path.join(onnx_dir, name + "_quantized.onnx")
    q = int8.quantize_onnx(src, dst)
    print("%s: %d weights int8, %.2f MB -> %.2f MB" % (name, len(q), os.path.getsize(src) / 1e6,
                                                       os.path.getsize(dst) / 1e6))
