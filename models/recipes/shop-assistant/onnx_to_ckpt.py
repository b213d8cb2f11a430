"""Rebuild the PyTorch checkpoint (the state dict train.py writes, as modeling.LlamaForCausalLM names it) from the
committed fp32 ONNX (onnx/model.onnx), for when the training checkpoint is not at hand.

Named initializers (embedding, norms) map 1:1 to the state dict (exported under the wrapper's `m.` prefix).
The Linear weights were exported as anonymous transposed MatMul initializers (`onnx::MatMul_NNN`, [in, out]);
each is identified by its MatMul node's name (`/m/layers.N/self_attn/q_proj/MatMul` -> model.layers.N.self_attn.
q_proj.weight, `/m/lm_head/MatMul` -> lm_head.weight) and stored transposed. Every state-dict entry must be filled
exactly once. The rebuilt model is then checked against golden.json's fp32 cases: greedy ids with and without
the cache equal, first-step logits within 1e-4.

Usage: python3 onnx_to_ckpt.py OUT_CKPT     (model folder from SA_MODEL_DIR, default models/shop-assistant)"""
import json
import os
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from common import HERE, MODEL_DIR, load_config


def weights_from(path):
    g = onnx.load(path).graph
    init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    out = {n[2:]: a for n, a in init.items() if n.startswith("m.")}
    for node in g.node:
        if node.op_type != "MatMul" or node.input[1] not in init:
            continue
        parts = node.name.strip("/").split("/")
        assert parts[0] == "m" and parts[-1] == "MatMul", node.name
        module = ".".join(parts[1:-1])
        if module.startswith("layers."):
            module = "model." + module
        name = module + ".weight"
        assert name not in out, name
        out[name] = init[node.input[1]].T.copy()
    return out


def build(path=None):
    from modeling import LlamaForCausalLM
    cfg = load_config()
    model = LlamaForCausalLM(cfg)
    state = model.state_dict()
    found = weights_from(path or os.path.join(MODEL_DIR, "onnx", "model.onnx"))
    missing, extra = sorted(set(state) - set(found)), sorted(set(found) - set(state))
    assert not missing and not extra, (missing, extra)
    for k in state:
        assert tuple(state[k].shape) == found[k].shape, (k, state[k].shape, found[k].shape)
        state[k] = torch.from_numpy(np.array(found[k], dtype=np.float32))
    model.load_state_dict(state)
    model.eval()
    return model, state


def check(model, golden_path):
    from export import greedy
    with open(golden_path, encoding="utf-8") as f:
        gd = json.load(f)
    eos = gd["eos_token_id"]
    worst = 0.0
    for c in gd["cases"]:
        ids, first = greedy(model, c["input_ids"], eos, True)
        ids_nc, _ = greedy(model, c["input_ids"], eos, False)
        assert ids == c["fp32"]["greedy_ids"], (c["name"], ids, c["fp32"]["greedy_ids"])
        assert ids_nc == c["fp32"]["greedy_ids_no_cache"], (c["name"], "no cache")
        worst = max(worst, float(np.abs(first - np.array(c["fp32"]["first_step_logits"])).max()))
    print("golden.json fp32: %d cases, greedy ids equal (cache and no cache), first-step logits max |diff| %.2e"
          % (len(gd["cases"]), worst))
    assert worst < 1e-4, worst
    return worst


def main():
    torch.set_num_threads(1)
    out_ckpt = sys.argv[1]
    model, state = build()
    print("loaded %d tensors (%d parameters) from ONNX" % (len(state), sum(p.numel() for p in model.parameters())))
    check(model, os.path.join(HERE, "golden.json"))
    os.makedirs(os.path.dirname(os.path.abspath(out_ckpt)), exist_ok=True)
    torch.save(model.state_dict(), out_ckpt)
    print("wrote", out_ckpt)


if __name__ == "__main__":
    main()
