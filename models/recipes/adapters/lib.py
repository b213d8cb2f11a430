"""Shared code of the adapter recipe: the shop-assistant base rebuilt from its committed ONNX, LoRA attached with
`peft`, the int8 base as the per-row fake-quant of ../common/rowq.py, and greedy decoding as the base goldens do it.

The int8 base is what onnx/model_quantized.onnx computes: every base Linear (and the embedding table) goes through
rowq, while each LoRA branch reads the layer's float32 input, so a wrapped layer computes
rowq(W) x + (lora_alpha / r) * B (A x). That is peft's own lora.Linear forward with its `base_layer` swapped.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
BASE_RECIPE = os.path.join(ROOT, "models", "recipes", "shop-assistant")
sys.path.insert(0, BASE_RECIPE)  # its common.py also puts models/recipes and models/recipes/common on the path

# nothing is fetched at run time: peft would otherwise look the base id up on the model hub when saving
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from common import MAX_NEW_TOKENS, MODEL_DIR, load_config, render  # noqa: E402,F401  (re-exported for the recipe's scripts)
import bpe  # noqa: E402
import rowq  # noqa: E402

BASE_ID = "shop-assistant"
TMP = os.path.join(ROOT, ".tmp", "adapters")
ADAPTERS_DIR = os.path.join(ROOT, "models", "adapters")


def tokenizer():
    return bpe.Tokenizer.load(os.path.join(MODEL_DIR, "tokenizer.json"))


def eos_ids():
    with open(os.path.join(MODEL_DIR, "generation_config.json")) as f:
        return json.load(f)["eos_token_id"]


def load_base():
    """The fp32 base from onnx/model.onnx (the same weights model_quantized.onnx was quantized from), in eval mode.
    The rebuilt state dict is cached under .tmp/adapters: reading the ONNX file costs seconds on every call."""
    from modeling import LlamaForCausalLM
    from common import load_config
    cache = os.path.join(TMP, "base.pt")
    model = LlamaForCausalLM(load_config())
    if os.path.exists(cache) and os.path.getmtime(cache) >= os.path.getmtime(os.path.join(MODEL_DIR, "onnx", "model.onnx")):
        model.load_state_dict(torch.load(cache))
    else:
        from onnx_to_ckpt import build
        model, state = build()
        os.makedirs(TMP, exist_ok=True)
        torch.save(state, cache)
    model.eval()
    return model


def lora_module_names(model):
    """Qualified names of peft's own submodules (lora_A / lora_B / dropout containers): rowq must leave them float."""
    return {n for n, _ in model.named_modules() if ".lora_" in n}


def quantize_base_(model):
    """Replaces, in place, the base weights of `model` (a module holding peft LoRA layers, or a plain base) by the
    int8 layout's arithmetic: base Linears (including peft's `base_layer`s) become rowq.RowQuantLinear, the embedding
    table its int8 round trip. LoRA weights stay float32 and trainable. Returns the names quantized."""
    return rowq.fake_quantize_rows_(model, skip=lora_module_names(model))


def attach(base, adapter_dir):
    """peft's PeftModel over `base` with the adapter folder loaded (inference mode). Returns (peft_model, inner),
    where `inner` is the base module with peft's LoRA layers injected, called like the base."""
    from peft import PeftModel
    pm = PeftModel.from_pretrained(base, adapter_dir, is_trainable=False)
    pm.eval()
    return pm, pm.base_model.model


def greedy(model, prompt_ids, eos, max_new_tokens, use_cache=True):
    """Greedy ids (generated tokens only, ending with the EOS id if one came) as the base goldens compute them:
    with the cache the prompt is fed whole, then one token per step; without it, full recomputation each step."""
    ids = list(prompt_ids)
    out = []
    past = None
    with torch.no_grad():
        for _ in range(max_new_tokens):
            if use_cache:
                x = torch.tensor([ids]) if past is None else torch.tensor([[ids[-1]]])
                pos = torch.arange(len(ids))[None] if past is None else torch.tensor([[len(ids) - 1]])
                logits, past = model(x, torch.ones(1, len(ids), dtype=torch.long), pos, past)
            else:
                x = torch.tensor([ids])
                logits, _ = model(x, torch.ones_like(x), torch.arange(len(ids))[None])
            nxt = int(torch.argmax(logits[0, -1]))
            out.append(nxt)
            ids.append(nxt)
            if nxt in eos:
                break
    return out


class _StraightThrough(torch.autograd.Function):
    """The int8 layer's exact output forward; backward through its dequantized weight (QLoRA's gradient: the
    rounding of activations and weights is treated as identity, so LoRA layers below still get a signal)."""

    @staticmethod
    def forward(ctx, x, layer, dequantized):
        ctx.save_for_backward(dequantized)
        with torch.no_grad():
            return layer.exact(x)

    @staticmethod
    def backward(ctx, grad):
        (dequantized,) = ctx.saved_tensors
        return grad @ dequantized, None, None


class TrainRowQuant(torch.nn.Module):
    """A rowq.RowQuantLinear made trainable-through: same forward values, straight-through gradient."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer
        self.register_buffer("dequantized", (layer.q_t.T * layer.w_scale[:, None].double()).float().contiguous())
        # float32 holds the integer products exactly too: every partial sum is at most 128 * 127 * in_features
        # (11.4 M for the widest input, 704) < 2^24, so this matmul gives rowq's float64 result bit for bit, faster
        assert 128 * 127 * layer.in_features < 2 ** 24
        self.register_buffer("q_t32", layer.q_t.float())

    def forward(self, x):
        return _StraightThrough.apply(x, self, self.dequantized)

    def exact(self, x):
        q, s = rowq.quantize_rows(x)
        return ((torch.matmul(q.float(), self.q_t32) * self.layer.w_scale) * s).to(x.dtype)


def straight_through_(model):
    """Wraps, in place, every rowq.RowQuantLinear of `model` (after quantize_base_) in TrainRowQuant."""
    for name, sub in list(model.named_modules()):
        if isinstance(sub, rowq.RowQuantLinear):
            parent_name, _, attr = name.rpartition(".")
            wrapped = TrainRowQuant(sub)
            x = torch.randn(64, sub.in_features, generator=torch.Generator().manual_seed(0)) * 3
            assert sub.bias is None and torch.equal(wrapped.exact(x), sub(x)), name
            setattr(model.get_submodule(parent_name) if parent_name else model, attr, wrapped)
