"""Export the trained Marian model in Optimum's layout: encoder_model.onnx, decoder_model.onnx,
decoder_with_past_model.onnx and decoder_model_merged.onnx (an If on use_cache_branch over the two decoders,
weights shared as top-level initializers), plus config.json and generation_config.json.
Usage: export.py CKPT MODEL_DIR"""
import hashlib
import json
import os
import sys

import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from marian import Marian  # noqa: E402

OPSET = 14
MAX_LENGTH = 64


def load_model(ckpt):
    c = torch.load(ckpt, map_location="cpu")
    m = Marian(c["cfg"])
    m.load_state_dict(c["state"])
    m.eval()
    return m, c["cfg"]


class EncoderWrap(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask):
        return self.m.encode(input_ids, attention_mask)


class DecoderWrap(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, encoder_attention_mask, input_ids, encoder_hidden_states):
        logits, presents = self.m.decode(input_ids, encoder_hidden_states, encoder_attention_mask)
        return (logits,) + tuple(t for p in presents for t in p)


class DecoderPastWrap(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, encoder_attention_mask, input_ids, *flat):
        past = [tuple(flat[4 * i:4 * i + 4]) for i in range(len(flat) // 4)]
        logits, presents = self.m.decode(input_ids, None, encoder_attention_mask, past)
        return (logits,) + tuple(t for p in presents for t in p[:2])


def past_names(n_layers, prefix):
    out = []
    for i in range(n_layers):
        out += ["%s.%d.decoder.key" % (prefix, i), "%s.%d.decoder.value" % (prefix, i),
                "%s.%d.encoder.key" % (prefix, i), "%s.%d.encoder.value" % (prefix, i)]
    return out


def export_all(m, cfg, onnx_dir):
    os.makedirs(onnx_dir, exist_ok=True)
    L, H = cfg["decoder_layers"], cfg["decoder_attention_heads"]
    hd = cfg["d_model"] // H
    b, s, t, p = 2, 7, 3, 4
    ids = torch.randint(5, 100, (b, s))
    mask = torch.ones(b, s, dtype=torch.long)
    mask[1, 5:] = 0
    with torch.no_grad():
        enc = m.encode(ids, mask)
    torch.onnx.export(EncoderWrap(m), (ids, mask), os.path.join(onnx_dir, "encoder_model.onnx"),
                      input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                      dynamic_axes={"input_ids": {0: "batch_size", 1: "encoder_sequence_length"},
                                    "attention_mask": {0: "batch_size", 1: "encoder_sequence_length"},
                                    "last_hidden_state": {0: "batch_size", 1: "encoder_sequence_length"}},
                      opset_version=OPSET, do_constant_folding=True)
    enc_path = os.path.join(onnx_dir, "encoder_model.onnx")
    em = onnx.load(enc_path)
    em.graph.output[0].type.tensor_type.shape.dim[2].dim_value = cfg["d_model"]  # fixed hidden size, not a symbol
    onnx.save(em, enc_path)
    dec_ids = torch.randint(5, 100, (b, t))
    pres = past_names(L, "present")
    dyn = {"encoder_attention_mask": {0: "batch_size", 1: "encoder_sequence_length"},
           "input_ids": {0: "batch_size", 1: "decoder_sequence_length"},
           "encoder_hidden_states": {0: "batch_size", 1: "encoder_sequence_length"},
           "logits": {0: "batch_size", 1: "decoder_sequence_length"}}
    for n in pres:
        dyn[n] = {0: "batch_size", 2: "decoder_sequence_length" if ".decoder." in n else "encoder_sequence_length"}
    torch.onnx.export(DecoderWrap(m), (mask, dec_ids, enc), os.path.join(onnx_dir, "decoder_model.onnx"),
                      input_names=["encoder_attention_mask", "input_ids", "encoder_hidden_states"],
                      output_names=["logits"] + pres, dynamic_axes=dyn, opset_version=OPSET,
                      do_constant_folding=True)
    with torch.no_grad():
        _, presents = m.decode(torch.randint(5, 100, (b, p)), enc, mask)
    flat = tuple(x for pr in presents for x in pr)
    pk = past_names(L, "past_key_values")
    pres_dec = [n for n in pres if ".decoder." in n]
    dyn = {"encoder_attention_mask": {0: "batch_size", 1: "encoder_sequence_length"},
           "input_ids": {0: "batch_size", 1: "decoder_sequence_length"},
           "logits": {0: "batch_size", 1: "decoder_sequence_length"}}
    for n in pk:
        dyn[n] = {0: "batch_size", 2: "past_decoder_sequence_length" if ".decoder." in n
                  else "encoder_sequence_length_out"}
    for n in pres_dec:
        dyn[n] = {0: "batch_size", 2: "past_decoder_sequence_length + decoder_sequence_length"}
    torch.onnx.export(DecoderPastWrap(m), (mask, dec_ids) + flat,
                      os.path.join(onnx_dir, "decoder_with_past_model.onnx"),
                      input_names=["encoder_attention_mask", "input_ids"] + pk, output_names=["logits"] + pres_dec,
                      dynamic_axes=dyn, opset_version=OPSET, do_constant_folding=True)
    return L, H, hd


# ------------------------------------------------------------------ merging
def content_key(t):
    arr = numpy_helper.to_array(t)
    return hashlib.sha1(arr.tobytes()).hexdigest() + "|" + str(arr.dtype) + "|" + str(arr.shape)


def rename_graph(g, prefix, keep, init_map):
    """Prefix every value name produced inside g (except names in keep) and map initializer references."""
    produced = set()
    for n in g.node:
        produced.update(o for o in n.output if o)
    ren = {}
    for name in produced:
        if name not in keep:
            ren[name] = prefix + name
    ren.update(init_map)

    def fix(nodes):
        for n in nodes:
            for i, x in enumerate(n.input):
                if x in ren:
                    n.input[i] = ren[x]
            for i, x in enumerate(n.output):
                if x in ren:
                    n.output[i] = ren[x]
            n.name = prefix + n.name if n.name else n.name
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    fix(a.g.node)
    fix(g.node)
    for o in g.output:
        if o.name in ren:
            o.name = ren[o.name]
    for v in g.value_info:
        if v.name in ren:
            v.name = ren[v.name]
    return ren


def merge(no_past_path, past_path, out_path, L):
    a = onnx.load(no_past_path)
    bm = onnx.load(past_path)
    shared, by_key = [], {}
    names_used = set()

    def intern(graph, tag):
        mapping = {}
        for t in graph.initializer:
            k = content_key(t)
            if k in by_key:
                mapping[t.name] = by_key[k]
                continue
            name = t.name if t.name not in names_used else "%s_%s" % (t.name, tag)
            nt = onnx.TensorProto()
            nt.CopyFrom(t)
            nt.name = name
            shared.append(nt)
            names_used.add(name)
            by_key[k] = name
            mapping[t.name] = name
        return mapping

    map_a = intern(a.graph, "nopast")
    map_b = intern(bm.graph, "past")
    outer_inputs = {i.name for i in a.graph.input} | {i.name for i in bm.graph.input}
    # with-past branch: pass the cached cross-attention K/V through as present.*.encoder.*
    for i in range(L):
        for kv in ("key", "value"):
            bm.graph.node.append(helper.make_node("Identity", ["past_key_values.%d.encoder.%s" % (i, kv)],
                                                  ["present.%d.encoder.%s" % (i, kv)],
                                                  name="passthrough_encoder_%d_%s" % (i, kv)))
    out_names = ["logits"] + past_names(L, "present")

    def subgraph(g, mapping, prefix, name):
        rename_graph(g, prefix, outer_inputs, mapping)
        outs = []
        for o in out_names:
            outs.append(helper.make_tensor_value_info(prefix + o, TensorProto.FLOAT, None))
        return helper.make_graph(list(g.node), name, [], outs)

    then_g = subgraph(bm.graph, map_b, "with_past/", "decoder_with_past")
    else_g = subgraph(a.graph, map_a, "without_past/", "decoder_without_past")
    if_node = helper.make_node("If", ["use_cache_branch"], out_names, name="optimum::if",
                               then_branch=then_g, else_branch=else_g)
    inputs = []
    seen = set()
    for g in (a.graph, bm.graph):
        for i in g.input:
            if i.name not in seen:
                seen.add(i.name)
                inputs.append(i)
    # order as Optimum: encoder_attention_mask, input_ids, encoder_hidden_states, past..., use_cache_branch
    order = ["encoder_attention_mask", "input_ids", "encoder_hidden_states"] + past_names(L, "past_key_values")
    inputs.sort(key=lambda i: order.index(i.name))
    inputs.append(helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1]))
    H, hd = None, None
    for i in bm.graph.input:
        if i.name.startswith("past_key_values"):
            H, hd = i.type.tensor_type.shape.dim[1].dim_value, i.type.tensor_type.shape.dim[3].dim_value
    outputs = []
    for o in out_names:
        if o == "logits":
            vocab = a.graph.output[0].type.tensor_type.shape.dim[2].dim_value
            outputs.append(helper.make_tensor_value_info(o, TensorProto.FLOAT,
                                                         ["batch_size", "decoder_sequence_length", vocab]))
        elif ".decoder." in o:
            outputs.append(helper.make_tensor_value_info(
                o, TensorProto.FLOAT, ["batch_size", H, "past_decoder_sequence_length + decoder_sequence_length", hd]))
        else:
            outputs.append(helper.make_tensor_value_info(o, TensorProto.FLOAT,
                                                         ["batch_size", H, "encoder_sequence_length_out", hd]))
    graph = helper.make_graph([if_node], "decoder_model_merged", inputs, outputs, initializer=shared)
    model = helper.make_model(graph, opset_imports=list(a.opset_import), producer_name="phrase-translator-recipe")
    model.ir_version = a.ir_version
    onnx.checker.check_model(model)
    onnx.save(model, out_path)


def write_configs(cfg, model_dir):
    pad = cfg["pad_token_id"]
    config = {
        "_name_or_path": "phrase-translator",
        "activation_dropout": 0.0,
        "activation_function": "swish",
        "architectures": ["MarianMTModel"],
        "attention_dropout": 0.0,
        "bad_words_ids": [[pad]],
        "bos_token_id": 0,
        "classifier_dropout": 0.0,
        "d_model": cfg["d_model"],
        "decoder_attention_heads": cfg["decoder_attention_heads"],
        "decoder_ffn_dim": cfg["decoder_ffn_dim"],
        "decoder_layerdrop": 0.0,
        "decoder_layers": cfg["decoder_layers"],
        "decoder_start_token_id": pad,
        "decoder_vocab_size": cfg["vocab_size"],
        "dropout": cfg["dropout"],
        "encoder_attention_heads": cfg["encoder_attention_heads"],
        "encoder_ffn_dim": cfg["encoder_ffn_dim"],
        "encoder_layerdrop": 0.0,
        "encoder_layers": cfg["encoder_layers"],
        "eos_token_id": 0,
        "forced_eos_token_id": 0,
        "init_std": 0.02,
        "is_encoder_decoder": True,
        "max_length": MAX_LENGTH,
        "max_position_embeddings": cfg["max_position_embeddings"],
        "model_type": "marian",
        "normalize_before": False,
        "normalize_embedding": False,
        "num_beams": 1,
        "num_hidden_layers": cfg["encoder_layers"],
        "pad_token_id": pad,
        "scale_embedding": cfg["scale_embedding"],
        "share_encoder_decoder_embeddings": True,
        "static_position_embeddings": True,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "use_cache": True,
        "vocab_size": cfg["vocab_size"],
    }
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    gen = {
        "bad_words_ids": [[pad]],
        "bos_token_id": 0,
        "decoder_start_token_id": pad,
        "early_stopping": True,
        "eos_token_id": 0,
        "forced_eos_token_id": 0,
        "length_penalty": 1.0,
        "max_length": MAX_LENGTH,
        "num_beams": 1,
        "pad_token_id": pad,
    }
    with open(os.path.join(model_dir, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)


def main():
    ckpt, model_dir = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    m, cfg = load_model(ckpt)
    onnx_dir = os.path.join(model_dir, "onnx")
    L, H, hd = export_all(m, cfg, onnx_dir)
    merge(os.path.join(onnx_dir, "decoder_model.onnx"), os.path.join(onnx_dir, "decoder_with_past_model.onnx"),
          os.path.join(onnx_dir, "decoder_model_merged.onnx"), L)
    for n in ("encoder_model", "decoder_model", "decoder_with_past_model", "decoder_model_merged"):
        onnx.checker.check_model(onnx.load(os.path.join(onnx_dir, n + ".onnx")))
    write_configs(cfg, model_dir)
    print("exported", L, H, hd)


if __name__ == "__main__":
    main()
