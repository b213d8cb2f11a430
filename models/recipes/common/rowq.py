"""PyTorch fake-quant of the per-row int8 layout that `npm run models:quantize` writes (cli/lib/quantize/).

What one quantized MatMul / Gemm / Linear computes there, for an activation x (float32, rows = last axis):

- s = max(float32(max|x| over the last axis) * float32(1/127), FLT_MIN)          (Abs, ReduceMax, Mul, Max)
- q = clip(round_half_to_even(float32(x / s)) + 128, 0, 255) as uint8            (Div, QuantizeLinear(1, 128))
- W: int8 per output channel, w_scale[c] = max|W[:, c]| / 127 (common/int8.py quantize_array, the same
  arithmetic as cli/lib/quantize/weights.ts), the bias stays float32
- acc[r, c] = sum_k (q[r, k] - 128) * W_int8[k, c], exact integers                (MatMulIntegerToFloat)
- y = float32(float32(float32(acc) * w_scale[c]) * s[r]) (+ bias)                (its b_scale, then Mul by s)

Embedding tables read by Gather are int8 with one scale per row: a gathered row is float32(q * scale).
Weights with fewer than 1024 elements stay float32 (the quantizer's MIN_ELEMENTS).

Here the integer product runs in float64 (every partial sum is an integer far below 2^53, so it is exact),
then is rounded to float32 as onnxruntime converts its int32 accumulator, and scaled in float32 in the same
order. Every other op (norms, attention, activations) stays the model's float32 torch code.
"""
import numpy as np
import torch
from torch import nn

import int8

MIN_ELEMENTS = 1024
FLT_MIN = float(np.finfo(np.float32).tiny)
INV_127 = float(np.float32(1.0) / np.float32(127.0))  # the quantizer stores 1/127 as a float32 constant
ZERO_POINT = 128


def quantize_rows(x):
    """Per-row activation quantization: returns (q - 128 as float64, row scale s float32 [..., 1])."""
    x = x.float()
    peak = x.abs().amax(dim=-1, keepdim=True)
    scale = torch.clamp_min(peak * torch.tensor(INV_127, dtype=torch.float32), FLT_MIN)
    scaled = x / scale
    q = torch.clamp(torch.round(scaled) + ZERO_POINT, 0, 255)  # torch.round is half to even
    return (q - ZERO_POINT).double(), scale


class RowQuantLinear(nn.Module):
    """nn.Linear replaced by the layout's arithmetic (weight [out, in] with one scale per output row)."""

    def __init__(self, linear=None, weight=None, bias=None):
        super().__init__()
        if linear is not None:
            weight, bias = linear.weight, linear.bias
        q, scale = int8.quantize_array(weight.detach().cpu().numpy(), axis=0)
        self.register_buffer("q_t", torch.from_numpy(q.astype(np.float64).T.copy()))  # [in, out]
        self.register_buffer("w_scale", torch.from_numpy(scale))
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)
        self.out_features, self.in_features = weight.shape

    def forward(self, x):
        q, s = quantize_rows(x)
        acc = torch.matmul(q, self.q_t).float()  # exact integers, rounded to float32 like int32 -> float
        y = (acc * self.w_scale) * s
        if self.bias is not None:
            y = y + self.bias
        return y.to(x.dtype)


def dequantized_rows(weight):
    """An embedding table as the Gather path reads it: float32(int8 row * row scale)."""
    q, scale = int8.quantize_array(weight.detach().cpu().numpy(), axis=0)
    return torch.from_numpy(int8.dequantize_array(q, scale, axis=0))


def fake_quantize_rows_(module, min_elements=MIN_ELEMENTS, skip=()):
    """Replaces, in place, every nn.Linear with at least `min_elements` weights by a RowQuantLinear and every
    nn.Embedding table's weights by their int8 round trip. `skip`: qualified module names to leave float
    (weights the quantizer keeps float because an op it does not rewrite reads them). Returns the names done."""
    done = []
    for name, sub in list(module.named_modules()):
        if name in skip:
            continue
        if isinstance(sub, nn.Embedding) and sub.weight.numel() >= min_elements:
            with torch.no_grad():
                sub.weight.copy_(dequantized_rows(sub.weight))
            done.append(name)
    for name, sub in list(module.named_modules()):
        if name in skip or not isinstance(sub, nn.Linear) or sub.weight.numel() < min_elements:
            continue
        parent_name, _, attr = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        setattr(parent, attr, RowQuantLinear(sub))
        done.append(name)
    return done


def tied_projection(weight_out_in):
    """F.linear(x, W) for a float weight used outside an nn.Linear (a tied output projection), as the layout
    computes it. Pass the float weight, not an embedding already replaced by its int8 round trip."""
    return RowQuantLinear(weight=weight_out_in)


def check_against_onnx(weights, path, subset=False):
    """Checks that the int8 weights and scales of a quantized ONNX file are exactly those of `weights` (torch
    [out, in] tensors quantized with int8.quantize_array on axis 0), one output channel at a time: each int8
    channel the file reads, with the scale it is read with, is a channel of one of them; and without `subset`,
    every channel of every weight is in the file. Channel by channel because the quantizer joins the weights
    MatMuls read from one activation (q, k and v) into one matrix: its columns are still those weights' columns.
    Returns the number of int8 tensors in the file."""
    import hashlib

    import onnx
    from onnx import numpy_helper

    def channel(q_row, scale):
        return hashlib.sha256(np.ascontiguousarray(q_row, dtype=np.int8).tobytes()
                              + np.float32(scale).tobytes()).hexdigest()

    want = set()
    for w in weights:
        q, scale = int8.quantize_array(w.detach().cpu().numpy(), axis=0)
        want.update(channel(q[c], scale[c]) for c in range(q.shape[0]))

    graphs = []

    def collect(graph):
        graphs.append(graph)
        for node in graph.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    collect(attr.g)

    collect(onnx.load(path).graph)
    tensors = {t.name: t for g in graphs for t in g.initializer}
    transposed = {n.output[0]: n.input[0] for g in graphs for n in g.node if n.op_type == "Transpose"}
    count = sum(1 for t in tensors.values() if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 2)

    def int8_matrix(name):
        if name in transposed:  # a tied head reads the embedding's int8 table through a Transpose
            return numpy_helper.to_array(tensors[transposed[name]]).T
        return numpy_helper.to_array(tensors[name])

    got = set()
    for g in graphs:
        for node in g.node:
            if node.op_type == "MatMulIntegerToFloat":  # B [K, N] int8, its channels are columns
                b, scales = int8_matrix(node.input[1]), numpy_helper.to_array(tensors[node.input[3]]).reshape(-1)
                got.update(channel(b[:, c], scales[c]) for c in range(b.shape[1]))
        # a Gather of an int8 table [V, H] and a Gather of its [V, 1] row scales by the same ids
        gathers = [n for n in g.node if n.op_type == "Gather" and n.input[0] in tensors]
        for table in gathers:
            if tensors[table.input[0]].data_type != onnx.TensorProto.INT8:
                continue
            rows = numpy_helper.to_array(tensors[table.input[0]])
            for other in gathers:
                t = tensors[other.input[0]]
                if (other.input[1] == table.input[1] and t.data_type == onnx.TensorProto.FLOAT
                        and list(t.dims) == [rows.shape[0], 1]):
                    scales = numpy_helper.to_array(t).reshape(-1)
                    got.update(channel(rows[r], scales[r]) for r in range(rows.shape[0]))
    assert got, "no int8 channel read in %s" % path
    ok = got <= want if subset else got == want
    assert ok, "int8 channels differ: %d in the file, %d from torch, %d shared" % (
        len(got), len(want), len(got & want))
    return count


def _self_test():
    torch.manual_seed(0)
    lin = nn.Linear(64, 48)
    rq = RowQuantLinear(lin)
    x = torch.randn(3, 5, 64)
    y = rq(x)
    # rows are independent of batch and of each other
    assert torch.equal(rq(x[1:2, 2:3]), y[1:2, 2:3])
    # against a direct numpy int computation
    xs = x.reshape(-1, 64).numpy()
    peak = np.abs(xs).max(axis=1, keepdims=True).astype(np.float32)
    s = np.maximum(peak * np.float32(INV_127), np.float32(FLT_MIN)).astype(np.float32)
    qx = np.clip(np.round(xs / s) + 128, 0, 255).astype(np.int64) - 128
    qw, ws = int8.quantize_array(lin.weight.detach().numpy(), axis=0)
    acc = qx @ qw.astype(np.int64).T
    ref = (acc.astype(np.float32) * ws).astype(np.float32) * s + lin.bias.detach().numpy()
    assert np.array_equal(ref.astype(np.float32), y.detach().reshape(-1, 48).numpy())
    # close to float
    assert float((y - lin(x)).abs().max()) < 0.05
    print("rowq self-test ok")


if __name__ == "__main__":
    _self_test()
