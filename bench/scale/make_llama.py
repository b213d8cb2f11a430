"""Writes a Llama-shaped decoder with random weights as an Optimum-style with-past ONNX file, for the
scale ladder (bench/scale.ts). The architecture is shop-assistant's (models/recipes/shop-assistant/modeling.py:
RMSNorm, RoPE, grouped-query attention, SwiGLU, untied head) at the sizes the config asks for, exported by that
recipe's own exporter, so the graph is what the engine already serves.

Usage: make_llama.py <config.json> <out.onnx> <seed>
Needs torch and onnx. The weights are normal(0, 0.02), as Hugging Face initialises Llama: speed and memory do not
depend on what they say."""
import functools
import inspect
import json
import os
import sys

import torch

RECIPE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "recipes", "shop-assistant")
sys.path.insert(0, RECIPE)

from export import export  # noqa: E402  (the recipe's exporter: names, dynamic axes, opset 14)
from modeling import LlamaForCausalLM  # noqa: E402


def main():
    config_path, out_path, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(config_path) as f:
        cfg = json.load(f)
    # The recipe's exporter is the classic TorchScript one (Optimum's names and dynamic axes); torch >= 2.9
    # would pick the dynamo exporter by default, and Debian's torch 1.13 has no such switch.
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        torch.onnx.export = functools.partial(torch.onnx.export, dynamo=False)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        export(model, cfg, out_path)


if __name__ == "__main__":
    main()
