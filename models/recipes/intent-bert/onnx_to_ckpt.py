"""Rebuild the PyTorch checkpoint (the format train.py / finetune.py write: state_dict, config, vocab) from the
committed model folder, for when the training checkpoint is not at hand: weights from onnx/model.onnx, config from
config.json, vocabulary from tokenizer.json.

Named initializers (embeddings, layer norms, biases, pooler and classifier Gemm weights) map 1:1 to the state dict
(exported under the wrapper's `model.` prefix). The encoder's Linear weights were exported as anonymous transposed
MatMul initializers (`onnx::MatMul_NNN`, [in, out]); each is identified by its node's name
(`/model/bert/encoder/layer.N/attention/self/query/MatMul` -> bert.encoder.layer.N.attention.self.query.weight) and
stored transposed. Every state-dict entry must be filled exactly once. The rebuilt model is then checked against
golden.json's fp32 outputs (predicted labels equal, logits and embeddings within 1e-4).

Usage: python3 onnx_to_ckpt.py OUT_CKPT"""
import json
import os
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
MODEL_DIR = os.path.join(ROOT, "models", "intent-bert")
sys.path.insert(0, HERE)
from modeling import BertForSequenceClassification  # noqa: E402


def weights_from(path):
    g = onnx.load(path).graph
    init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    out = {n[len("model."):]: a for n, a in init.items() if n.startswith("model.")}
    for node in g.node:
        if node.op_type != "MatMul" or node.input[1] not in init or node.input[1].startswith("model."):
            continue
        parts = node.name.strip("/").split("/")
        assert parts[0] == "model" and parts[-1] == "MatMul", node.name
        name = ".".join(parts[1:-1]) + ".weight"
        assert name not in out, name
        out[name] = init[node.input[1]].T.copy()
    return out


def build():
    cfg = json.load(open(os.path.join(MODEL_DIR, "config.json")))
    vocab_map = json.load(open(os.path.join(MODEL_DIR, "tokenizer.json"), encoding="utf-8"))["model"]["vocab"]
    vocab = [None] * len(vocab_map)
    for token, i in vocab_map.items():
        vocab[i] = token
    assert None not in vocab and len(vocab) == cfg["vocab_size"]
    model = BertForSequenceClassification(cfg)
    state = model.state_dict()
    found = weights_from(os.path.join(MODEL_DIR, "onnx", "model.onnx"))
    missing, extra = sorted(set(state) - set(found)), sorted(set(found) - set(state))
    assert not missing and not extra, (missing, extra)
    for k in state:
        assert tuple(state[k].shape) == found[k].shape, (k, state[k].shape, found[k].shape)
        state[k] = torch.from_numpy(np.array(found[k], dtype=np.float32))
    model.load_state_dict(state)
    model.eval()
    return model, cfg, vocab


def check(model, vocab):
    from bert_tok import BertTokenizer
    from export import run
    gd = json.load(open(os.path.join(HERE, "golden.json"), encoding="utf-8"))
    tok = BertTokenizer(vocab)
    res = run(model, tok, [i["text"] for i in gd["inputs"]])
    worst_logit = worst_emb = 0.0
    for k, (ids, logits, emb) in enumerate(res):
        assert ids == gd["inputs"][k]["input_ids"], k
        worst_logit = max(worst_logit, float(np.abs(logits - np.array(gd["fp32"]["logits"][k])).max()))
        worst_emb = max(worst_emb, float(np.abs(emb - np.array(gd["fp32"]["embedding"][k])).max()))
        label = gd["fp32"]["predicted_label"][k]
        assert model.config["id2label"][str(int(np.argmax(logits)))] == label, k
    print("golden.json fp32: %d inputs, labels equal, max |diff| logits %.2e, embeddings %.2e"
          % (len(res), worst_logit, worst_emb))
    assert worst_logit < 1e-4 and worst_emb < 1e-4


def main():
    torch.set_num_threads(1)
    model, cfg, vocab = build()
    print("loaded %d parameters from ONNX" % sum(p.numel() for p in model.parameters()))
    check(model, vocab)
    out = sys.argv[1]
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "config": cfg, "vocab": vocab, "source": "onnx"}, out)
    print("wrote", out)


if __name__ == "__main__":
    main()
