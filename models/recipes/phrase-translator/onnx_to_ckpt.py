"""Warm start: rebuild a PyTorch checkpoint (the format train.py writes) from the committed fp32 ONNX files
(encoder_model.onnx + decoder_model.onnx), so training can continue without the original checkpoint.

Named initializers (biases, layer norms, shared embedding, final_logits_bias) map 1:1 to the state dict.
The Linear weights were exported as anonymous transposed MatMul initializers (`onnx::MatMul_NNN`, [in, out]);
each is identified by the bias its MatMul output is added to (`Add(MatMul(x, W), <name>.bias)`), and stored
as `<name>.weight` = W^T; the one unbiased MatMul (the tied output projection) must equal shared.weight^T. Every state-dict entry must be filled exactly once; the result is then checked
against golden.json (first-step logits of the committed model) when that file is given.

Usage: onnx_to_ckpt.py MODEL_DIR OUT_CKPT [GOLDEN_JSON]"""
import json
import os
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from marian import Marian  # noqa: E402
from tok import Tokenizer  # noqa: E402
from train import ARCH  # noqa: E402


def weights_from(path):
    g = onnx.load(path).graph
    init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    out = {n[2:]: a for n, a in init.items() if n.startswith("m.")}  # exported as the wrapper's `m.` submodule
    consumers, tied = {}, []
    for node in g.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)
    for node in g.node:
        if node.op_type != "MatMul" or node.input[1] not in init or node.input[1].startswith("m."):
            continue
        adds = [c for c in consumers.get(node.output[0], []) if c.op_type == "Add"]
        bias = [i for a in adds for i in a.input if i.startswith("m.") and i.endswith(".bias")]
        if not bias:  # the tied output projection: a folded copy of shared.weight^T, checked in main()
            tied.append(init[node.input[1]])
            continue
        assert len(bias) == 1, (node.name, bias)
        name = bias[0][2:-len(".bias")] + ".weight"
        assert name not in out, name
        out[name] = init[node.input[1]].T.copy()
    for w in tied:
        assert np.array_equal(w.T, out["shared.weight"]), "unbiased MatMul weight is not shared.weight^T"
    return out


def main():
    model_dir, out_ckpt = sys.argv[1], sys.argv[2]
    golden = sys.argv[3] if len(sys.argv) > 3 else None
    torch.set_num_threads(1)
    tk = Tokenizer(os.path.join(model_dir, "tokenizer.json"))
    cfg = dict(ARCH, vocab_size=len(tk.vocab), pad_token_id=tk.vocab["<pad>"])
    model = Marian(cfg)
    state = model.state_dict()
    found = {}
    for f in ("encoder_model.onnx", "decoder_model.onnx"):
        for k, v in weights_from(os.path.join(model_dir, "onnx", f)).items():
            if k in found:
                assert np.array_equal(found[k], v), "%s differs between the ONNX files" % k
            found[k] = v
    missing = sorted(set(state) - set(found))
    extra = sorted(set(found) - set(state))
    assert not missing and not extra, (missing, extra)
    for k in state:
        assert tuple(state[k].shape) == found[k].shape, (k, state[k].shape, found[k].shape)
        state[k] = torch.from_numpy(np.array(found[k], dtype=np.float32))
    model.load_state_dict(state)
    model.eval()
    print("loaded %d tensors (%d parameters) from ONNX" % (len(state), sum(p.numel() for p in model.parameters())))
    if golden:
        from generate import first_step_logits, greedy
        with open(golden, encoding="utf-8") as f:
            gd = json.load(f)
        worst = 0.0
        for c in gd["cases"]:
            x = torch.tensor([c["input_ids"]])
            m = torch.ones_like(x)
            lg = first_step_logits(model, x, m, cfg["pad_token_id"])[0]
            worst = max(worst, float((lg - torch.tensor(c["fp32"]["first_step_logits"])).abs().max()))
            g = greedy(model, x, m, cfg["pad_token_id"], tk.vocab["</s>"], 64)[0]
            assert g == c["fp32"]["greedy_ids"], (c["source"], g, c["fp32"]["greedy_ids"])
        print("golden.json: %d cases, greedy ids equal, first-step logits max |diff| %.2e" % (len(gd["cases"]), worst))
        assert worst < 1e-3
    torch.save({"cfg": cfg, "state": model.state_dict(), "step": 0, "source": "onnx"}, out_ckpt)
    print("wrote", out_ckpt)


if __name__ == "__main__":
    main()
