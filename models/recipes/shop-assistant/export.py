"""Export models/shop-assistant/onnx/model.onnx (Optimum with-past decoder interface), the int8 copy
model_quantized.onnx (`npm run models:quantize`: per-row int8 activations, int8 weights per output channel), and
golden.json (from PyTorch fp32 and the matching fake-quant int8 of common/rowq.py).
GOLDEN_ONLY=1: keep the ONNX files as they are and only rewrite golden.json (after checking that the int8 weights
of model_quantized.onnx are exactly the fake-quant's)."""
import json
import os
import subprocess
import time

import numpy as np
import onnx
import torch

from common import HERE, MAX_NEW_TOKENS, MODEL_DIR, load_config, load_model, render
import bpe
import rowq

GOLDEN_CHATS = [
    ("en_order_single", [{"role": "user", "content": "Where is my order A7312458?"}]),
    ("zh_order_single", [{"role": "user", "content": "我的订单#5520981到哪里了？"}]),
    ("en_multi_shipping", [{"role": "user", "content": "Hello!"},
                           {"role": "assistant", "content": "Hello! How can I help you today?"},
                           {"role": "user", "content": "How much does delivery to Lyon cost?"}]),
    ("zh_multi_order_number", [{"role": "user", "content": "我的订单到哪了？"},
                               {"role": "assistant", "content": "好的，我来帮您查。请问您的订单号是多少？"},
                               {"role": "user", "content": "订单号是SO-482913。"}]),
    ("en_password", [{"role": "user", "content": "I can't remember my password, what should I do?"}]),
    ("zh_handoff", [{"role": "user", "content": "帮我订一张去上海的机票。"}]),
]


class Wrapper(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m
        self.n = m.cfg["num_hidden_layers"]

    def forward(self, input_ids, attention_mask, position_ids, *past_flat):
        past = [(past_flat[2 * i], past_flat[2 * i + 1]) for i in range(self.n)]
        logits, presents = self.m(input_ids, attention_mask, position_ids, past)
        out = [logits]
        for k, v in presents:
            out += [k, v]
        return tuple(out)


def export(model, cfg, path):
    n, kv, d = cfg["num_hidden_layers"], cfg["num_key_value_heads"], cfg["head_dim"]
    b, t, p = 2, 3, 4
    ids = torch.randint(3, 200, (b, t))
    mask = torch.ones(b, p + t, dtype=torch.long)
    pos = torch.arange(p, p + t)[None].expand(b, t).contiguous()
    past = []
    in_names = ["input_ids", "attention_mask", "position_ids"]
    out_names = ["logits"]
    axes = {"input_ids": {0: "batch_size", 1: "sequence_length"},
            "attention_mask": {0: "batch_size", 1: "past_sequence_length + sequence_length"},
            "position_ids": {0: "batch_size", 1: "sequence_length"},
            "logits": {0: "batch_size", 1: "sequence_length"}}
    for i in range(n):
        for kind in ("key", "value"):
            past.append(torch.randn(b, kv, p, d))
            name = "past_key_values.%d.%s" % (i, kind)
            in_names.append(name)
            axes[name] = {0: "batch_size", 2: "past_sequence_length"}
            oname = "present.%d.%s" % (i, kind)
            out_names.append(oname)
            axes[oname] = {0: "batch_size", 2: "past_sequence_length + sequence_length"}
    torch.onnx.export(Wrapper(model), (ids, mask, pos, *past), path, input_names=in_names, output_names=out_names,
                      dynamic_axes=axes, opset_version=14, do_constant_folding=True)
    m = onnx.load(path)
    onnx.checker.check_model(m)


def greedy(model, prompt_ids, eos_ids, use_cache):
    ids = list(prompt_ids)
    out = []
    first = None
    past = None
    with torch.no_grad():
        for step in range(MAX_NEW_TOKENS):
            if use_cache:
                if past is None:
                    x = torch.tensor([ids])
                    pos = torch.arange(len(ids))[None]
                else:
                    x = torch.tensor([[ids[-1]]])
                    pos = torch.tensor([[len(ids) - 1]])
                mask = torch.ones(1, len(ids), dtype=torch.long)
                logits, past = model(x, mask, pos, past)
            else:
                x = torch.tensor([ids])
                logits, _ = model(x, torch.ones_like(x), torch.arange(len(ids))[None])
            last = logits[0, -1]
            if first is None:
                first = last.numpy().astype(np.float64)
            nxt = int(torch.argmax(last))
            out.append(nxt)
            ids.append(nxt)
            if nxt in eos_ids:
                break
    return out, first


def greedy_batch(model, prompts, pad_id, eos_ids):
    """Left-padded batch, KV cache, positions = cumsum(mask) - 1 (1 on padding). Returns per-row ids."""
    L = max(len(p) for p in prompts)
    B = len(prompts)
    ids = torch.full((B, L), pad_id, dtype=torch.long)
    mask = torch.zeros(B, L, dtype=torch.long)
    for r, p in enumerate(prompts):
        ids[r, L - len(p):] = torch.tensor(p)
        mask[r, L - len(p):] = 1
    pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    outs = [[] for _ in range(B)]
    done = [False] * B
    past = None
    x = ids
    with torch.no_grad():
        for step in range(MAX_NEW_TOKENS):
            logits, past = model(x, mask, pos, past)
            nxt = torch.argmax(logits[:, -1], dim=-1)
            for r in range(B):
                if not done[r]:
                    outs[r].append(int(nxt[r]))
                    if int(nxt[r]) in eos_ids:
                        done[r] = True
            if all(done):
                break
            x = nxt[:, None]
            mask = torch.cat([mask, torch.ones(B, 1, dtype=torch.long)], dim=1)
            pos = pos[:, -1:] + 1
    return outs


def r6(a):
    return [float("%.6g" % v) for v in a]


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    t0 = time.time()
    cfg = load_config()
    tok = bpe.Tokenizer.load(os.path.join(MODEL_DIR, "tokenizer.json"))
    with open(os.path.join(MODEL_DIR, "generation_config.json")) as f:
        eos_ids = json.load(f)["eos_token_id"]
    onnx_dir = os.path.join(MODEL_DIR, "onnx")
    os.makedirs(onnx_dir, exist_ok=True)
    fp32 = load_model("fp32")
    fp32_path = os.path.join(onnx_dir, "model.onnx")
    q_path = os.path.join(onnx_dir, "model_quantized.onnx")
    if not os.environ.get("GOLDEN_ONLY"):
        export(fp32, cfg, fp32_path)
        subprocess.run(["npm", "run", "--silent", "models:quantize", "--", MODEL_DIR], check=True,
                       cwd=os.path.join(HERE, "..", "..", ".."))
    int8_model = load_model("int8")
    weights = [fp32.get_submodule(n).weight for n, m in int8_model.named_modules()
               if isinstance(m, rowq.RowQuantLinear) or n == "model.embed_tokens"]
    print("int8 weights of %s equal the fake-quant's: %d tensors" % (
        os.path.basename(q_path), rowq.check_against_onnx(weights, q_path)))
    golden = {
        "model": "shop-assistant",
        "note": ("Computed from PyTorch (fp32, and int8 = common/rowq.py: the per-row int8 layout of "
                 "`npm run models:quantize`, activations quantized per row, int8 weights per output channel, "
                 "integer products exact). greedy ids are the "
                 "generated tokens only (prompt excluded), ending with the EOS id if one was produced, at most "
                 "max_new_tokens. greedy_ids: prompt fed whole then one token per step with the KV cache (empty past "
                 "on the first step); greedy_ids_no_cache: full recomputation each step. first_step_logits: logits "
                 "at the last prompt position on the first step (full vocab vector, 6 significant digits). "
                 "position_ids 0..n-1, attention_mask all ones."),
        "chat_template_source": "tokenizer_config.json chat_template with add_generation_prompt=true",
        "eos_token_id": eos_ids,
        "pad_token_id": cfg["pad_token_id"],
        "max_new_tokens": MAX_NEW_TOKENS,
        "vocab_size": cfg["vocab_size"],
        "cases": [],
    }
    models = {"fp32": fp32, "int8": int8_model}
    for name, msgs in GOLDEN_CHATS:
        prompt = render(msgs)
        ids = tok.encode(prompt)
        case = {"name": name, "messages": msgs, "add_generation_prompt": True, "prompt": prompt, "input_ids": ids}
        for dt, m in models.items():
            g_cache, first = greedy(m, ids, eos_ids, True)
            g_nocache, first2 = greedy(m, ids, eos_ids, False)
            case[dt] = {"greedy_ids": g_cache, "greedy_ids_no_cache": g_nocache,
                        "greedy_text": tok.decode(g_cache, skip_special_tokens=True),
                        "first_step_logits": r6(first)}
            if g_cache != g_nocache:
                print("WARNING: cache/no-cache greedy differ", name, dt)
            print(name, dt, repr(case[dt]["greedy_text"]))
        golden["cases"].append(case)
    # left-padded batch of all cases (KV cache): must equal the single-row greedy ids
    batch = {}
    for dt, m in models.items():
        outs = greedy_batch(m, [c["input_ids"] for c in golden["cases"]], cfg["pad_token_id"], eos_ids)
        for c, o in zip(golden["cases"], outs):
            if o != c[dt]["greedy_ids"]:
                print("WARNING: batched greedy differs", c["name"], dt, o, c[dt]["greedy_ids"])
        batch[dt] = outs
    golden["left_padded_batch"] = {
        "description": ("all cases in one batch, left-padded with pad_token_id, attention_mask 0 on padding, "
                        "position_ids = cumsum(attention_mask)-1 with 1 on padding; prompt fed whole, then one token "
                        "per step for every row (finished rows keep being fed their last token); expected = each "
                        "row's generated ids until its EOS"),
        "fp32": batch["fp32"], "int8": batch["int8"]}
    golden_path = os.environ.get("GOLDEN_OUT", os.path.join(HERE, "golden.json"))
    if os.environ.get("GOLDEN_ONLY") and os.path.exists(golden_path):
        # the fp32 model is the committed one: keep the fp32 goldens the training checkpoint wrote (a model rebuilt
        # from model.onnx by onnx_to_ckpt.py reproduces their greedy ids, and their logits to 1e-4)
        with open(golden_path, encoding="utf-8") as f:
            previous = json.load(f)
        for case, before in zip(golden["cases"], previous["cases"]):
            assert case["input_ids"] == before["input_ids"] and case["fp32"]["greedy_ids"] == before["fp32"]["greedy_ids"]
            case["fp32"] = before["fp32"]
        assert golden["left_padded_batch"]["fp32"] == previous["left_padded_batch"]["fp32"]
    with open(golden_path, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False)
    for p in (fp32_path, q_path):
        print(os.path.basename(p), "%.2f MB" % (os.path.getsize(p) / 1e6))
    print("export done in %.0fs" % (time.time() - t0))


if __name__ == "__main__":
    main()
