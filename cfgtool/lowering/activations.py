"""Darknet's activations as ONNX nodes, mirroring cfgtool/executor/activations.py.

``activate(g, name, x)`` returns the activated value (``x`` itself for linear). Every
function is written with Darknet's constants (selu's 1.0507/1.6732, gelu's tanh form with
0.797885/0.035677, leaky 0.1, ...), so it computes what the executor computes. mish is
``x * tanh(softplus(x))``: Darknet's softplus threshold (``x`` above 20, ``exp(x)`` below -20)
changes nothing a float32 can hold there (tanh(20) rounds to 1, log1p(e) to e), and the
Softplus -> Tanh -> Mul chain is the pattern runtimes fuse into one Mish.
"""

from __future__ import annotations

from ..executor import activations as ref


def _scalar(g, v):
    return g.const(v)


def _mul(g, x, k):
    return g.op("Mul", [x, _scalar(g, k)], g.shape(x))


def _add(g, x, k):
    return g.op("Add", [x, _scalar(g, k)], g.shape(x))


def _clip(g, x, lo, hi):
    return g.op("Clip", [x, _scalar(g, lo), _scalar(g, hi)], g.shape(x))


def _both(g, op, a, b):
    return g.op(op, [a, b], g.shape(a))


def _gelu(g, x):
    x2 = _both(g, "Mul", x, x)
    inner = _both(g, "Mul", _add(g, _mul(g, x2, ref._GELU_B), ref._GELU_A), x)
    t = g.op("Tanh", [inner], g.shape(x))
    return _mul(g, _both(g, "Mul", _add(g, t, 1.0), x), 0.5)


def _stair(g, x):
    # floor(x/2) + (x - floor(x)) where floor(x) is odd
    n = g.op("Floor", [x], g.shape(x))
    half = g.op("Floor", [_mul(g, x, 0.5)], g.shape(x))
    odd = _both(g, "Sub", n, _mul(g, half, 2.0))
    return _both(g, "Add", half, _both(g, "Mul", _both(g, "Sub", x, n), odd))


def _bent(g, x, lo, hi, slope, mid_scale=1.0, mid_shift=0.0):
    """``mid(clip(x, lo, hi)) + slope * (x - clip(x, lo, hi))``: lhtan and plse."""
    c = _clip(g, x, lo, hi)
    mid = c if (mid_scale, mid_shift) == (1.0, 0.0) else _add(g, _mul(g, c, mid_scale), mid_shift)
    return _both(g, "Add", mid, _mul(g, _both(g, "Sub", x, c), slope))


def _channel_norm(g, x, name):
    """normalize_channels(_softmax(_maxval)) over the channel axis."""
    if name == "normalize_channels":
        e = g.op("Relu", [x], g.shape(x))
    else:
        shifted = _both(g, "Sub", x, g.reduce("ReduceMax", x, [0])) if name.endswith("maxval") else x
        e = g.op("Exp", [shifted], g.shape(x))
    total = _add(g, g.reduce("ReduceSum", e, [0]), ref._NORM_EPS)
    return _both(g, "Div", e, total)


def activate(g, name: str | None, x: str) -> str:
    name = ref.canonical(name)
    s = g.shape(x)
    if name == "linear":
        return x
    if name == "logistic":
        return g.op("Sigmoid", [x], s)
    if name == "relu":
        return g.op("Relu", [x], s)
    if name in ("leaky", "revleaky"):
        return g.op("LeakyRelu", [x], s, alpha=0.1)
    if name == "relie":
        return g.op("LeakyRelu", [x], s, alpha=0.01)
    if name == "relu6":
        return _clip(g, x, 0.0, 6.0)
    if name == "hardtan":
        return _clip(g, x, -1.0, 1.0)
    if name == "ramp":
        return _both(g, "Add", g.op("Relu", [x], s), _mul(g, x, 0.1))
    if name == "elu":
        return g.op("Elu", [x], s, alpha=1.0)
    if name == "selu":
        return g.op("Selu", [x], s, alpha=ref._SELU_A, gamma=ref._SELU_L)
    if name == "tanh":
        return g.op("Tanh", [x], s)
    if name == "loggy":
        return _add(g, _mul(g, g.op("Sigmoid", [x], s), 2.0), -1.0)
    if name == "swish":
        return _both(g, "Mul", x, g.op("Sigmoid", [x], s))
    if name == "mish":
        return _both(g, "Mul", x, g.op("Tanh", [g.op("Softplus", [x], s)], s))
    if name == "hard_mish":
        return _both(g, "Mul", x, g.op("HardSigmoid", [x], s, alpha=0.5, beta=1.0))
    if name == "gelu":
        return _gelu(g, x)
    if name == "stair":
        return _stair(g, x)
    if name == "lhtan":
        return _bent(g, x, 0.0, 1.0, 0.001)
    if name == "plse":
        return _bent(g, x, -4.0, 4.0, 0.01, 0.125, 0.5)
    if name.startswith("normalize_channels"):
        return _channel_norm(g, x, name)
    raise ValueError(f"no ONNX form for activation {name!r}")  # every name in executor.activations.NAMES has one
