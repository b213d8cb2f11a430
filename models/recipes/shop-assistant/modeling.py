"""A Llama decoder written for this project, computing what Hugging Face LlamaForCausalLM computes:
RMSNorm (float32 variance), rotary embeddings (rotate_half convention, rope_theta), grouped-query attention,
SwiGLU MLP, untied lm_head. Parameter names follow the HF checkpoint layout (model.layers.N.self_attn.q_proj ...).

forward(input_ids, attention_mask, position_ids, past) -> logits, presents
  attention_mask: [B, past+T] (1 = real token, 0 = padding); attention is causal and honours the mask.
  past: list of (key, value) with shape [B, num_kv_heads, past_len, head_dim] (may have past_len 0).
"""
import math

import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        x32 = x.float()
        var = x32.pow(2).mean(-1, keepdim=True)
        return self.weight * (x32 * torch.rsqrt(var + self.eps)).to(x.dtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.h = cfg["num_attention_heads"]
        self.kv = cfg["num_key_value_heads"]
        self.d = cfg["head_dim"]
        hs = cfg["hidden_size"]
        self.q_proj = nn.Linear(hs, self.h * self.d, bias=False)
        self.k_proj = nn.Linear(hs, self.kv * self.d, bias=False)
        self.v_proj = nn.Linear(hs, self.kv * self.d, bias=False)
        self.o_proj = nn.Linear(self.h * self.d, hs, bias=False)

    def forward(self, x, cos, sin, bias, past_k, past_v):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.h, self.d).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv, self.d).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv, self.d).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if past_k is not None:
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
        present = (k, v)
        rep = self.h // self.kv
        kr = k[:, :, None].expand(b, self.kv, rep, k.shape[2], self.d).reshape(b, self.h, k.shape[2], self.d)
        vr = v[:, :, None].expand(b, self.kv, rep, v.shape[2], self.d).reshape(b, self.h, v.shape[2], self.d)
        scores = torch.matmul(q, kr.transpose(2, 3)) / math.sqrt(self.d) + bias
        probs = torch.softmax(scores.float(), dim=-1).to(q.dtype)
        out = torch.matmul(probs, vr).transpose(1, 2).reshape(b, t, self.h * self.d)
        return self.o_proj(out), present


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        hs, im = cfg["hidden_size"], cfg["intermediate_size"]
        self.gate_proj = nn.Linear(hs, im, bias=False)
        self.up_proj = nn.Linear(hs, im, bias=False)
        self.down_proj = nn.Linear(im, hs, bias=False)

    def forward(self, x):
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.self_attn = Attention(cfg)
        self.mlp = MLP(cfg)
        self.input_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])

    def forward(self, x, cos, sin, bias, pk, pv):
        a, present = self.self_attn(self.input_layernorm(x), cos, sin, bias, pk, pv)
        x = x + a
        x = x + self.mlp(self.post_attention_layernorm(x))
        return x, present


class Body(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList([Layer(cfg) for _ in range(cfg["num_hidden_layers"])])
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


class LlamaForCausalLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.model = Body(cfg)
        self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        d = cfg["head_dim"]
        inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
        self.register_buffer("inv_freq", inv, persistent=False)
        std = 0.02
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, mean=0.0, std=std)

    def forward(self, input_ids, attention_mask, position_ids, past=None):
        b, t = input_ids.shape
        x = self.model.embed_tokens(input_ids)
        freqs = position_ids[:, :, None].float() * self.inv_freq[None, None, :]
        emb = torch.cat([freqs, freqs], dim=-1)
        cos = emb.cos()[:, None].to(x.dtype)
        sin = emb.sin()[:, None].to(x.dtype)
        kv_len = attention_mask.shape[1]
        q_pos = torch.arange(t, device=input_ids.device) + (kv_len - t)
        k_pos = torch.arange(kv_len, device=input_ids.device)
        causal = k_pos[None, :] <= q_pos[:, None]
        allowed = causal[None, None] & (attention_mask[:, None, None, :] > 0)
        bias = torch.where(allowed, torch.zeros((), dtype=x.dtype), torch.full((), -1e9, dtype=x.dtype))
        presents = []
        for i, layer in enumerate(self.model.layers):
            pk, pv = (past[i] if past is not None else (None, None))
            x, present = layer(x, cos, sin, bias, pk, pv)
            presents.append(present)
        x = self.model.norm(x)
        return self.lm_head(x), presents
