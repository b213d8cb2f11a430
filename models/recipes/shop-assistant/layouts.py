"""Re-packages shop-assistant's int8 with-past ONNX in the two other decoder-only layouts users bring,
as test fixtures for the engine (same weights, so the same greedy ids as golden.json):

- test/fixtures/shop-assistant-nopast: `onnx/model_quantized.onnx` without cache inputs or outputs
  (Optimum's export without use_cache): the engine must recompute the whole sequence every step.
- test/fixtures/shop-assistant-merged: `onnx/decoder_model_merged_quantized.onnx`, Optimum's merged
  decoder: an If on `use_cache_branch` whose branches are the with-past graph (the no-cache branch feeds
  it an empty cache).

Usage: /usr/bin/python3 models/recipes/shop-assistant/layouts.py
"""
import os
import shutil

import onnx
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
MODEL = os.path.join(ROOT, "models", "shop-assistant")
FIXTURES = os.path.join(ROOT, "test", "fixtures")
TEXT_FILES = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
              "special_tokens_map.json"]


def past_inputs(graph):
    return [i for i in graph.input if i.name.startswith("past_key_values.")]


def empty_cache_nodes(graph, prefix):
    """Nodes computing a float tensor [batch, kv_heads, 0, head_dim] for every past input."""
    nodes = [
        helper.make_node("Shape", ["input_ids"], [f"{prefix}shape"]),
        helper.make_node("Gather", [f"{prefix}shape", f"{prefix}zero"], [f"{prefix}batch"], axis=0),
    ]
    inits = [helper.make_tensor(f"{prefix}zero", TensorProto.INT64, [1], [0])]
    for inp in past_inputs(graph):
        dims = inp.type.tensor_type.shape.dim
        heads, head_dim = dims[1].dim_value, dims[3].dim_value
        rest = f"{prefix}{inp.name}_rest"
        inits.append(helper.make_tensor(rest, TensorProto.INT64, [3], [heads, 0, head_dim]))
        nodes += [
            helper.make_node("Concat", [f"{prefix}batch", rest], [f"{prefix}{inp.name}_shape"], axis=0),
            helper.make_node("ConstantOfShape", [f"{prefix}{inp.name}_shape"], [inp.name],
                             value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0])),
        ]
    return nodes, inits


def no_past(model):
    graph = model.graph
    nodes, inits = empty_cache_nodes(graph, "nopast_")
    kept_inputs = [i for i in graph.input if not i.name.startswith("past_key_values.")]
    kept_outputs = [o for o in graph.output if not o.name.startswith("present.")]
    del graph.input[:]
    graph.input.extend(kept_inputs)
    del graph.output[:]
    graph.output.extend(kept_outputs)
    old = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + old)
    graph.initializer.extend(inits)
    return model


def merged(model):
    """If(use_cache_branch): then = the with-past graph on the given cache, else = the same graph on an
    empty cache. Weights stay top-level initializers, visible to both branches."""
    graph = model.graph
    outputs = [o.name for o in graph.output]
    # Weight dequantization stays in the top-level graph, as in the project's other merged decoders.
    shared = [n for n in graph.node if n.op_type == "DequantizeLinear"]
    per_branch = [n for n in graph.node if n.op_type != "DequantizeLinear"]

    def branch(name, feed_empty):
        body = list(per_branch)
        extra_inits = []
        if feed_empty:
            renamed = {i.name: f"else_{i.name}" for i in past_inputs(graph)}
            empty_nodes, extra_inits = empty_cache_nodes(graph, "else_")
            for node in empty_nodes:
                node.output[:] = [renamed.get(o, o) for o in node.output]
            copied = []
            for node in body:
                clone = onnx.NodeProto()
                clone.CopyFrom(node)
                clone.input[:] = [renamed.get(i, i) for i in clone.input]
                copied.append(clone)
            body = empty_nodes + copied
        return helper.make_graph(body, name, [], [o for o in graph.output], initializer=extra_inits)

    then_graph = branch("with_past", False)
    else_graph = branch("without_past", True)
    use_cache = helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1])
    flag = helper.make_node("Squeeze", ["use_cache_branch"], ["use_cache_flag"])
    if_node = helper.make_node("If", ["use_cache_flag"], outputs, then_branch=then_graph, else_branch=else_graph)
    new_graph = helper.make_graph(
        shared + [flag, if_node], "decoder_model_merged", list(graph.input) + [use_cache], list(graph.output),
        initializer=list(graph.initializer))
    merged_model = helper.make_model(new_graph, opset_imports=list(model.opset_import))
    merged_model.ir_version = model.ir_version
    return merged_model


def write(folder, name, model):
    os.makedirs(os.path.join(folder, "onnx"), exist_ok=True)
    for file in TEXT_FILES:
        shutil.copy(os.path.join(MODEL, file), os.path.join(folder, file))
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(folder, "onnx", name))


def main():
    source = os.path.join(MODEL, "onnx", "model_quantized.onnx")
    write(os.path.join(FIXTURES, "shop-assistant-nopast"), "model_quantized.onnx", no_past(onnx.load(source)))
    write(os.path.join(FIXTURES, "shop-assistant-merged"), "decoder_model_merged_quantized.onnx",
          merged(onnx.load(source)))
    print("wrote", FIXTURES)


if __name__ == "__main__":
    main()
