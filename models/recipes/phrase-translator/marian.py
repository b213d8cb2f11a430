"""Marian encoder-decoder written to compute exactly what Hugging Face MarianMTModel computes
(post-norm layers, static sinusoidal positions, scaled embeddings, swish, shared embeddings, final_logits_bias)."""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def sinusoidal_table(n_pos, dim):
    enc = np.array([[pos / np.power(10000, 2 * (j // 2) / dim) for j in range(dim)] for pos in range(n_pos)])
    out = np.zeros((n_pos, dim), dtype=np.float32)
    sentinel = dim // 2 if dim % 2 == 0 else dim // 2 + 1
    out[:, :sentinel] = np.sin(enc[:, 0::2])
    out[:, sentinel:] = np.cos(enc[:, 1::2])
    return torch.from_numpy(out)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h, self.hd = heads, d // heads
        self.scaling = self.hd ** -0.5
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

    def shape(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.h, self.hd).transpose(1, 2)

    def forward(self, x, kv=None, mask=None, past=None, cross_kv=None):
        """x [B,T,D]; kv: source of keys/values for cross attention (None = self attention);
        past: (k,v) of previous self-attention steps; cross_kv: precomputed cross (k,v).
        Returns output and the (k,v) to cache."""
        b, t, _ = x.shape
        q = self.shape(self.q_proj(x) * self.scaling)
        if cross_kv is not None:
            k, v = cross_kv
        elif kv is not None:
            k, v = self.shape(self.k_proj(kv)), self.shape(self.v_proj(kv))
        else:
            k, v = self.shape(self.k_proj(x)), self.shape(self.v_proj(x))
            if past is not None:
                k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        w = torch.matmul(q, k.transpose(2, 3))
        if mask is not None:
            w = w + mask
        w = F.softmax(w, dim=-1)
        w = F.dropout(w, p=self.attn_dropout, training=self.training)
        o = torch.matmul(w, v).transpose(1, 2).reshape(b, t, self.h * self.hd)
        return self.out_proj(o), (k, v)

    attn_dropout = 0.0


class EncoderLayer(nn.Module):
    def __init__(self, d, heads, ffn, dropout):
        super().__init__()
        self.self_attn = Attention(d, heads)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, ffn), nn.Linear(ffn, d)
        self.final_layer_norm = nn.LayerNorm(d)
        self.dropout = dropout

    def forward(self, x, mask):
        h, _ = self.self_attn(x, mask=mask)
        x = self.self_attn_layer_norm(x + F.dropout(h, self.dropout, self.training))
        h = self.fc2(F.silu(self.fc1(x)))
        return self.final_layer_norm(x + F.dropout(h, self.dropout, self.training))


class DecoderLayer(nn.Module):
    def __init__(self, d, heads, ffn, dropout):
        super().__init__()
        self.self_attn = Attention(d, heads)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = Attention(d, heads)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, ffn), nn.Linear(ffn, d)
        self.final_layer_norm = nn.LayerNorm(d)
        self.dropout = dropout

    def forward(self, x, self_mask, enc, enc_mask, past=None, cross_kv=None):
        h, self_kv = self.self_attn(x, mask=self_mask, past=past)
        x = self.self_attn_layer_norm(x + F.dropout(h, self.dropout, self.training))
        h, cross = self.encoder_attn(x, kv=enc, mask=enc_mask, cross_kv=cross_kv)
        x = self.encoder_attn_layer_norm(x + F.dropout(h, self.dropout, self.training))
        h = self.fc2(F.silu(self.fc1(x)))
        return self.final_layer_norm(x + F.dropout(h, self.dropout, self.training)), self_kv, cross


NEG = torch.finfo(torch.float32).min


def expand_mask(mask, tgt_len):
    """[B,S] 1/0 -> additive [B,1,T,S]."""
    m = mask[:, None, None, :].to(torch.float32).expand(mask.shape[0], 1, tgt_len, mask.shape[1])
    return (1.0 - m) * NEG


def causal_mask(tgt_len, past_len, batch):
    i = torch.arange(tgt_len)[:, None] + past_len
    j = torch.arange(tgt_len + past_len)[None, :]
    m = torch.where(j > i, torch.tensor(NEG), torch.tensor(0.0))
    return m[None, None].expand(batch, 1, tgt_len, tgt_len + past_len)


class Marian(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d = cfg["d_model"]
        self.shared = nn.Embedding(cfg["vocab_size"], d, padding_idx=cfg["pad_token_id"])
        self.embed_scale = math.sqrt(d) if cfg["scale_embedding"] else 1.0
        self.register_buffer("positions", sinusoidal_table(cfg["max_position_embeddings"], d), persistent=False)
        dr = cfg["dropout"]
        self.encoder_layers = nn.ModuleList(
            EncoderLayer(d, cfg["encoder_attention_heads"], cfg["encoder_ffn_dim"], dr)
            for _ in range(cfg["encoder_layers"]))
        self.decoder_layers = nn.ModuleList(
            DecoderLayer(d, cfg["decoder_attention_heads"], cfg["decoder_ffn_dim"], dr)
            for _ in range(cfg["decoder_layers"]))
        self.register_buffer("final_logits_bias", torch.zeros(1, cfg["vocab_size"]))
        self.dropout = dr

    def encode(self, input_ids, attention_mask):
        t = input_ids.shape[1]
        x = self.shared(input_ids) * self.embed_scale + self.positions[:t]
        x = F.dropout(x, self.dropout, self.training)
        mask = expand_mask(attention_mask, t)
        for layer in self.encoder_layers:
            x = layer(x, mask)
        return x

    def decode(self, input_ids, enc, enc_attention_mask, past=None):
        """past: list per layer of (self_k, self_v, cross_k, cross_v) or None.
        Returns logits and new past (same structure)."""
        b, t = input_ids.shape
        past_len = 0 if past is None else past[0][0].shape[2]
        x = self.shared(input_ids) * self.embed_scale + self.positions[past_len:past_len + t]
        x = F.dropout(x, self.dropout, self.training)
        self_mask = causal_mask(t, past_len, b)
        enc_mask = expand_mask(enc_attention_mask, t)
        presents = []
        for i, layer in enumerate(self.decoder_layers):
            p = None if past is None else past[i]
            x, skv, ckv = layer(x, self_mask, enc, enc_mask, past=None if p is None else (p[0], p[1]),
                                cross_kv=None if p is None else (p[2], p[3]))
            presents.append((skv[0], skv[1], ckv[0], ckv[1]))
        # the tied output projection; a submodule `tied_output` replaces it (common/rowq.py's int8 arithmetic)
        tied = getattr(self, "tied_output", None)
        logits = (F.linear(x, self.shared.weight) if tied is None else tied(x)) + self.final_logits_bias
        return logits, presents
