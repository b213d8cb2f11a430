"""Writes the other int8 files of a ladder rung from its fp32 ONNX file, each with onnxruntime's own Python
quantization tools, so the ladder compares our int8 layout with the layouts people get from those tools.

- nbits8: 8-bit MatMulNBits, onnxruntime's MatMulNBitsQuantizer with bits=8 (block 128, symmetric, like
  the int8.py this project used before its own quantizer). Only MatMul weights: the tool quantizes Gather
  tables to 4 bits only, so the embedding stays float.
- tjs-q8: what transformers.js's conversion script (scripts/quantize.py, mode q8) writes as
  model_quantized.onnx for a model without Conv or attention-fusion operators: dynamic quantization of every
  operator onnxruntime's integer-ops registry knows, int8 weights, per tensor (its per_channel and
  reduce_range default to off), uint8 activations, subgraphs included, MatMuls with constant B only.

Usage: make_variants.py <nbits8|tjs-q8> <model.onnx> <out.onnx>"""
import sys

import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
from onnxruntime.quantization.registry import IntegerOpsRegistry


def main():
    kind, source, out = sys.argv[1], sys.argv[2], sys.argv[3]
    if kind == "nbits8":
        quantizer = MatMulNBitsQuantizer(onnx.load(source), bits=8, block_size=128, is_symmetric=True)
        quantizer.process()
        onnx.save(quantizer.model.model, out)
    elif kind == "tjs-q8":
        quantize_dynamic(
            source,
            out,
            op_types_to_quantize=list(IntegerOpsRegistry.keys()),
            per_channel=False,
            reduce_range=False,
            weight_type=QuantType.QInt8,
            extra_options={"EnableSubgraph": True, "MatMulConstBOnly": True},
        )
    else:
        sys.exit(f"unknown variant {kind}")


if __name__ == "__main__":
    main()
