"""Project-wide int8 weight quantization (weight-only, symmetric, per output channel).

The same numpy function quantizes the ONNX initializers and the PyTorch weights, so a
"fake-quant" torch model computes what the int8 ONNX computes, up to float rounding:
int8 goldens come from that torch model.

- scale[c] = max(|w| over channel c) / 127 (1.0 where that max is 0), float32
- q = clip(round_half_to_even(w / scale), -127, 127) as int8
- ONNX: a MatMul weight [K, N] becomes a MatMulNBits node (com.microsoft, bits=8): the weights stored
  transposed as uint8 q + 128 (its default zero point for 8 bits) in blocks of up to 256 along K, the
  channel's scale repeated for every block. Same values as q * scale, and the kernel reads the int8
  blocks directly: in onnxruntime-web (WASM) it decodes about 1.6x faster than a DequantizeLinear
  feeding a MatMul and its session needs less memory (the DequantizeLinear path materialises float
  weights on every run). A Gemm weight keeps int8 + scale + zero point expanded by a DequantizeLinear
  node in the top-level graph (If subgraphs see outer-scope names).
  An embedding table read by Gather is gathered as int8 and only the gathered rows are scaled.

Usage: python3 int8.py SRC.onnx DST.onnx     (or import quantize_onnx / fake_quantize_)
"""
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

MIN_ELEMENTS = 1024


def quantize_array(w, axis):
    """Returns (q int8, scale float32 of shape [w.shape[axis]])."""
    w = np.asarray(w, dtype=np.float32)
    other = tuple(i for i in range(w.ndim) if i != axis)
    peak = np.max(np.abs(w), axis=other).astype(np.float32)
    scale = np.where(peak > 0, peak / np.float32(127), np.float32(1)).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale


def dequantize_array(q, scale, axis):
    shape = [1] * q.ndim
    shape[axis] = -1
    return (q.astype(np.float32) * scale.reshape(shape)).astype(np.float32)


def fake_quantize_(module, min_elements=MIN_ELEMENTS):
    """Replaces nn.Linear and nn.Embedding weights of a torch module by their int8 round trip.

    Skips weights smaller than `min_elements`, as quantize_onnx does, so both stay equal."""
    import torch

    for sub in module.modules():
        if isinstance(sub, (torch.nn.Linear, torch.nn.Embedding)):
            if sub.weight.numel() < min_elements:
                continue
            w = sub.weight.detach().cpu().numpy()
            q, scale = quantize_array(w, axis=0)
            with torch.no_grad():
                sub.weight.copy_(torch.from_numpy(dequantize_array(q, scale, axis=0)))
    return module


def _graphs(graph):
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _graphs(g)


def _axis_for(node, input_index, ndim):
    if node.op_type == "MatMul" and input_index == 1 and ndim == 2:
        return 1
    if node.op_type == "Gemm" and input_index == 1 and ndim == 2:
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        return 0 if trans_b else 1
    if node.op_type == "Gather" and input_index == 0 and ndim == 2:
        return 0
    return None


def quantize_onnx(src, dst, min_elements=MIN_ELEMENTS):
    """Quantizes eligible weights of an ONNX file; returns the names of the quantized initializers.

    MatMul weights feed MatMulNBits nodes (8 bits, per-channel scales repeated per block); Gemm
    weights are expanded by one DequantizeLinear in the top-level graph. Embedding tables read by
    Gather are gathered as int8 first and only the gathered rows are scaled (Gather -> Cast -> Mul
    by the gathered row scales): dequantizing a whole vocabulary table on every call would cost
    more than the model's matmuls.
    """
    model = onnx.load(src)
    top = model.graph
    initializers = {init.name: init for init in top.initializer}
    axes = {}
    consumers = {}
    for graph in _graphs(top):
        for node in graph.node:
            for index, name in enumerate(node.input):
                init = initializers.get(name)
                if init is None or init.data_type != onnx.TensorProto.FLOAT:
                    continue
                dims = list(init.dims)
                if len(dims) < 2 or int(np.prod(dims)) < min_elements:
                    continue
                consumers.setdefault(name, []).append((graph, node, index))
                axis = _axis_for(node, index, len(dims))
                if node.op_type == "Gather" and any(a.name == "axis" and a.i != 0 for a in node.attribute):
                    axis = None
                if axis is None or axes.get(name, axis) != axis:
                    axes[name] = "skip"
                elif axes.get(name) != "skip":
                    axes[name] = axis
    top_nodes = []
    quantized = []
    axes_minus_one = "int8_unsqueeze_axes"
    needs_axes = False
    for name, axis in axes.items():
        if axis == "skip":
            continue
        init = initializers[name]
        q, scale = quantize_array(numpy_helper.to_array(init), axis)
        top.initializer.remove(init)
        qname, sname, zname = f"{name}_quantized", f"{name}_scale", f"{name}_zero_point"
        if any(node.op_type != "MatMul" for _, node, _ in consumers[name]):
            top.initializer.extend([numpy_helper.from_array(q, qname), numpy_helper.from_array(scale, sname)])
        if any(node.op_type == "MatMul" for _, node, _ in consumers[name]):
            nbits = _nbits_weight(top, q, scale, name)
        dequantized_needed = False
        for graph, node, index in consumers[name]:
            if node.op_type == "MatMul":
                _replace(graph, node, [_matmul_nbits(node, nbits)])
                continue
            if node.op_type != "Gather":
                dequantized_needed = True
                continue
            needs_axes = True
            ids = node.input[1]
            out = node.output[0]
            prefix = f"{node.name or out}_int8"
            replacement = [
                helper.make_node("Gather", [qname, ids], [f"{prefix}_rows"], name=f"{prefix}_gather_rows", axis=0),
                helper.make_node("Gather", [sname, ids], [f"{prefix}_scales"], name=f"{prefix}_gather_scales", axis=0),
                helper.make_node("Cast", [f"{prefix}_rows"], [f"{prefix}_float"], name=f"{prefix}_cast",
                                 to=onnx.TensorProto.FLOAT),
                helper.make_node("Unsqueeze", [f"{prefix}_scales", axes_minus_one], [f"{prefix}_scales_1"],
                                 name=f"{prefix}_unsqueeze"),
                helper.make_node("Mul", [f"{prefix}_float", f"{prefix}_scales_1"], [out], name=f"{prefix}_mul"),
            ]
            _replace(graph, node, replacement)
        if dequantized_needed:
            top.initializer.append(numpy_helper.from_array(np.zeros_like(scale, dtype=np.int8), zname))
            top_nodes.append(
                helper.make_node("DequantizeLinear", [qname, sname, zname], [name], name=f"{name}_DequantizeLinear",
                                 axis=axis)
            )
        quantized.append(name)
    if needs_axes:
        top.initializer.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), axes_minus_one))
    uses_nbits = any(node.op_type == "MatMulNBits" for graph in _graphs(top) for node in graph.node)
    if uses_nbits and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    nodes = list(top.node)
    del top.node[:]
    top.node.extend(top_nodes + nodes)
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version < 13:
            raise ValueError("per-axis DequantizeLinear and Unsqueeze with an axes input need opset >= 13")
    onnx.checker.check_model(model)
    onnx.save(model, dst)
    return quantized


NBITS_MAX_BLOCK = 256  # onnxruntime-web 1.30 aborted on blocks of 512 and 1024; 256 was the fastest that ran


def _nbits_weight(top, q, scale, name):
    """Adds W = q * scale ([K, N], scale per column) in MatMulNBits(bits=8) form: B is [N, blocks, block] uint8
    (q + 128, the default zero point of 8 bits; K padded with the zero point), scales are [N * blocks], each
    column's scale repeated for its blocks. Returns the initializer names and the node attributes."""
    k, n = q.shape
    block = max(16, min(NBITS_MAX_BLOCK, 1 << (k - 1).bit_length()))
    blocks = -(-k // block)
    bname, sname = f"{name}_nbits", f"{name}_nbits_scales"
    shifted = np.full((n, blocks * block), 128, dtype=np.uint8)
    shifted[:, :k] = (q.T.astype(np.int16) + 128).astype(np.uint8)
    top.initializer.extend([
        numpy_helper.from_array(shifted.reshape(n, blocks, block), bname),
        numpy_helper.from_array(np.repeat(scale, blocks).astype(np.float32), sname),
    ])
    return [bname, sname], dict(K=k, N=n, bits=8, block_size=block, accuracy_level=0)


def _matmul_nbits(node, nbits):
    """MatMul(A, W) as MatMulNBits(A, W in the form _nbits_weight wrote)."""
    inputs, attributes = nbits
    return helper.make_node("MatMulNBits", [node.input[0], *inputs], list(node.output),
                            name=f"{node.name or node.output[0]}_nbits", domain="com.microsoft", **attributes)


def _replace(graph, node, replacement):
    position = list(graph.node).index(node)
    graph.node.remove(node)
    for offset, new_node in enumerate(replacement):
        graph.node.insert(position + offset, new_node)


def _self_test():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(64, 32)).astype(np.float32)
    q, scale = quantize_array(w, axis=1)
    back = dequantize_array(q, scale, axis=1)
    assert q.dtype == np.int8 and scale.shape == (32,)
    assert np.max(np.abs(back - w)) <= np.max(scale) / 2 + 1e-6
    qt, st = quantize_array(w.T, axis=0)
    assert np.array_equal(qt, q.T) and np.array_equal(st, scale)
    zero = quantize_array(np.zeros((4, 4), np.float32), axis=0)[1]
    assert np.all(zero == 1.0)
    print("int8 self-test ok")


if __name__ == "__main__":
    if len(sys.argv) == 3:
        print("quantized:", quantize_onnx(sys.argv[1], sys.argv[2]))
    else:
        _self_test()
