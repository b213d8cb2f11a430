"""Exports the trained VisionEncoderDecoderModel in Optimum's layout for a GPT-2 decoder (as in the vit-gpt2
captioners transformers.js runs): onnx/encoder_model.onnx (pixel_values -> last_hidden_state) and
onnx/decoder_model_merged.onnx, an If on use_cache_branch over the first-step decoder and the with-past
decoder. The cache is GPT-2's own, past_key_values.{i}.key|value for self-attention; cross-attention keys
and values are computed from encoder_hidden_states at every step, which is what transformers.js expects
of a GPT-2 decoder (it names no encoder-side cache for it).
Writes config.json, generation_config.json and preprocessor_config.json beside them.
Usage: export.py HF_DIR MODEL_DIR"""
import json
import os
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from transformers import VisionEncoderDecoderModel
from transformers.cache_utils import DynamicCache, EncoderDecoderCache

OPSET = 14
MAX_NEW_TOKENS = 40


class Encoder(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, pixel_values):
        return self.m.encoder(pixel_values=pixel_values).last_hidden_state


def flatten(cache):
    """Self-attention keys and values of every layer."""
    out = []
    for layer in cache.self_attention_cache.layers:
        out += [layer.keys, layer.values]
    return out


class Decoder(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, encoder_hidden_states):
        out = self.m.decoder(input_ids=input_ids, encoder_hidden_states=encoder_hidden_states, use_cache=True)
        return (out.logits, *flatten(out.past_key_values))


class DecoderWithPast(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, encoder_hidden_states, *past):
        # an empty cross-attention cache: GPT-2 then projects encoder_hidden_states afresh
        cache = EncoderDecoderCache(DynamicCache([tuple(past[2 * i:2 * i + 2]) for i in range(len(past) // 2)]),
                                    DynamicCache())
        out = self.m.decoder(input_ids=input_ids, encoder_hidden_states=encoder_hidden_states,
                             past_key_values=cache, use_cache=True)
        return (out.logits, *flatten(out.past_key_values))


def names(layers, prefix):
    out = []
    for i in range(layers):
        out += ["%s.%d.key" % (prefix, i), "%s.%d.value" % (prefix, i)]
    return out


def export(m, onnx_dir, tmp_dir):
    cfg = m.config.decoder
    L, H, hd = cfg.n_layer, cfg.n_head, cfg.n_embd // cfg.n_head
    size = m.config.encoder.image_size
    pv = torch.randn(2, 3, size, size)
    torch.onnx.export(Encoder(m), (pv,), os.path.join(onnx_dir, "encoder_model.onnx"), dynamo=False,
                      input_names=["pixel_values"], output_names=["last_hidden_state"],
                      dynamic_axes={"pixel_values": {0: "batch_size"}, "last_hidden_state": {0: "batch_size"}},
                      opset_version=OPSET, do_constant_folding=True)
    with torch.no_grad():
        enc = m.encoder(pixel_values=pv).last_hidden_state
    ids = torch.randint(4, 100, (2, 3))
    present = names(L, "present")
    dyn = {"input_ids": {0: "batch_size", 1: "decoder_sequence_length"},
           "encoder_hidden_states": {0: "batch_size", 1: "encoder_sequence_length"},
           "logits": {0: "batch_size", 1: "decoder_sequence_length"}}
    for n in present:
        dyn[n] = {0: "batch_size", 2: "decoder_sequence_length"}
    first = os.path.join(tmp_dir, "decoder_model.onnx")
    torch.onnx.export(Decoder(m), (ids, enc), first, dynamo=False,
                      input_names=["input_ids", "encoder_hidden_states"], output_names=["logits"] + present,
                      dynamic_axes=dyn, opset_version=OPSET, do_constant_folding=True)
    with torch.no_grad():
        past = Decoder(m)(torch.randint(4, 100, (2, 4)), enc)[1:]
    past_in = names(L, "past_key_values")
    present_dec = names(L, "present")
    dyn = {"input_ids": {0: "batch_size", 1: "decoder_sequence_length"},
           "encoder_hidden_states": {0: "batch_size", 1: "encoder_sequence_length"},
           "logits": {0: "batch_size", 1: "decoder_sequence_length"}}
    for n in past_in:
        dyn[n] = {0: "batch_size", 2: "past_sequence_length"}
    for n in present_dec:
        dyn[n] = {0: "batch_size", 2: "past_sequence_length + 1"}
    with_past = os.path.join(tmp_dir, "decoder_with_past_model.onnx")
    torch.onnx.export(DecoderWithPast(m), (ids[:, :1], enc, *past), with_past, dynamo=False,
                      input_names=["input_ids", "encoder_hidden_states"] + past_in, output_names=["logits"] + present_dec,
                      dynamic_axes=dyn, opset_version=OPSET, do_constant_folding=True)
    merge(first, with_past, os.path.join(onnx_dir, "decoder_model_merged.onnx"), L, H, hd, cfg.vocab_size)


def merge(first_path, past_path, out_path, L, H, hd, vocab):
    """One graph, one copy of every weight: both decoders read the same top-level initializers by name
    (the exports name weights after their parameters, so equal names hold equal tensors)."""
    a, b = onnx.load(first_path), onnx.load(past_path)
    inits = {t.name: t for t in a.graph.initializer}
    for t in b.graph.initializer:
        if t.name in inits:
            if not np.array_equal(numpy_helper.to_array(t), numpy_helper.to_array(inits[t.name])):
                t.name = t.name + "_with_past"
                inits[t.name] = t
        else:
            inits[t.name] = t
    # with-past initializers renamed above must be renamed where they are read
    renamed = {t.name[: -len("_with_past")]: t.name for t in b.graph.initializer if t.name.endswith("_with_past")}
    outer = {i.name for i in a.graph.input} | {i.name for i in b.graph.input} | set(inits)

    def branch(g, prefix, renames):
        produced = {o for n in g.node for o in n.output if o}
        ren = {n: prefix + n for n in produced if n not in outer}
        ren.update(renames)
        nodes = list(g.node)
        for n in nodes:
            n.input[:] = [ren.get(x, x) for x in n.input]
            n.output[:] = [ren.get(x, x) for x in n.output]
            n.name = prefix + n.name
        outs = [helper.make_tensor_value_info(ren.get(o, o), TensorProto.FLOAT, None)
                for o in ["logits"] + names(L, "present")]
        return helper.make_graph(nodes, prefix.strip("/"), [], outs)

    then_g = branch(b.graph, "with_past/", renamed)
    else_g = branch(a.graph, "without_past/", {})
    out_names = ["logits"] + names(L, "present")
    # branch outputs are listed in the same order as the If's outputs
    then_g.output.sort(key=lambda o: out_names.index(o.name[len("with_past/"):] if o.name.startswith("with_past/")
                                                     else o.name))
    else_g.output.sort(key=lambda o: out_names.index(o.name[len("without_past/"):] if o.name.startswith(
        "without_past/") else o.name))
    if_node = helper.make_node("If", ["use_cache_branch"], out_names, name="optimum::if",
                               then_branch=then_g, else_branch=else_g)
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "decoder_sequence_length"]),
              helper.make_tensor_value_info("encoder_hidden_states", TensorProto.FLOAT,
                                            ["batch_size", "encoder_sequence_length", H * hd])]
    for n in names(L, "past_key_values"):
        inputs.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch_size", H, "past_sequence_length", hd]))
    inputs.append(helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1]))
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                             ["batch_size", "decoder_sequence_length", vocab])]
    for n in names(L, "present"):
        outputs.append(helper.make_tensor_value_info(n, TensorProto.FLOAT,
                                                     ["batch_size", H, "past_sequence_length + sequence_length", hd]))
    graph = helper.make_graph([if_node], "decoder_model_merged", inputs, outputs, initializer=list(inits.values()))
    model = helper.make_model(graph, opset_imports=list(a.opset_import), producer_name="captioner-recipe")
    model.ir_version = a.ir_version
    onnx.checker.check_model(model)
    onnx.save(model, out_path)


def write_configs(m, model_dir):
    m.config.save_pretrained(model_dir)
    cfg = m.config
    gen = {"bos_token_id": cfg.bos_token_id, "decoder_start_token_id": cfg.decoder_start_token_id,
           "eos_token_id": cfg.eos_token_id, "pad_token_id": cfg.pad_token_id, "max_new_tokens": MAX_NEW_TOKENS,
           "num_beams": 1, "do_sample": False}
    with open(os.path.join(model_dir, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)
    size = cfg.encoder.image_size
    pre = {"image_processor_type": "ViTImageProcessor", "do_resize": True, "size": {"height": size, "width": size},
           "resample": 2, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
           "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "do_convert_rgb": True}
    with open(os.path.join(model_dir, "preprocessor_config.json"), "w") as f:
        json.dump(pre, f, indent=2)


def main():
    hf_dir, model_dir = sys.argv[1], sys.argv[2]
    m = VisionEncoderDecoderModel.from_pretrained(hf_dir, attn_implementation="eager")
    m.eval()
    onnx_dir = os.path.join(model_dir, "onnx")
    os.makedirs(onnx_dir, exist_ok=True)
    export(m, onnx_dir, hf_dir)
    write_configs(m, model_dir)


if __name__ == "__main__":
    main()
