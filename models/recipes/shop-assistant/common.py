"""Shared paths, config and chat rendering for the shop-assistant recipe."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
MODEL_DIR = os.environ.get("SA_MODEL_DIR", os.path.join(ROOT, "models", "shop-assistant"))
TMP = os.environ.get("SA_TMP", os.path.join(ROOT, ".tmp", "shop-assistant"))
sys.path.insert(0, os.path.join(ROOT, "models", "recipes"))
sys.path.insert(0, os.path.join(ROOT, "models", "recipes", "common"))

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

ARCH = dict(hidden_size=256, intermediate_size=704, num_attention_heads=8, num_key_value_heads=2,
            num_hidden_layers=4, head_dim=32, max_position_embeddings=512, rms_norm_eps=1e-5, rope_theta=10000.0)
MAX_NEW_TOKENS = 48


def render(messages, add_generation_prompt=True):
    s = "".join("<|im_start|>%s\n%s<|im_end|>\n" % (m["role"], m["content"]) for m in messages)
    if add_generation_prompt:
        s += "<|im_start|>assistant\n"
    return s


def load_config():
    with open(os.path.join(MODEL_DIR, "config.json")) as f:
        return json.load(f)


def load_model(dtype="fp32"):
    import torch
    from modeling import LlamaForCausalLM
    import rowq
    cfg = load_config()
    m = LlamaForCausalLM(cfg)
    m.load_state_dict(torch.load(os.environ.get("CKPT", os.path.join(TMP, "model.pt"))))
    m.eval()
    if dtype == "int8":  # what `npm run models:quantize` writes: per-row int8 activations, int8 weights
        rowq.fake_quantize_rows_(m)
    return m
