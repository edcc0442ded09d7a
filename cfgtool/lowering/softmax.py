"""[softmax]: Softmax over each of ``groups`` slices of the flat buffer, of ``x / temperature``;
``spatial=1``: over the channels at each pixel."""

from __future__ import annotations

import numpy as np


def unsupported(p, shape):
    return f"tree={p.tree} (a hierarchical softmax) has no ONNX lowering" if p.tree else None


def lower(g, p, w, xs, shape):
    x = xs[0]
    if p.get("spatial", 0):
        return g.op("Softmax", [x], g.shape(x), axis=1)
    groups, temp = p.get("groups", 1), p.get("temperature", 1.0)
    v = g.reshape(x, (groups, int(np.prod(g.shape(x))) // groups))
    if temp != 1:
        v = g.op("Div", [v, g.const(np.float32(temp))], g.shape(v))
    return g.reshape(g.op("Softmax", [v], g.shape(v), axis=2), g.shape(x))
