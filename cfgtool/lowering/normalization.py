"""[lrn] / [normalization]: ``x * (kappa + alpha * S)^-beta`` with Darknet's window sums ``S``
(the kernel's :func:`window_matrix`, including the channel Darknet's running sum never adds),
as a 1x1 Conv of ``x*x`` whose weights are ``alpha * M`` and bias ``kappa``. ONNX's LRN divides
alpha by the size and centres the window, which is not Darknet's."""

from __future__ import annotations

import numpy as np

from ..executor.ops.normalization import window_matrix
from . import chw


def unsupported(p, shape):
    c = chw(shape)[0]
    if p.get("size", 5) // 2 > c:
        return f"size={p.get('size', 5)} reaches past the {c} channels (Darknet reads outside its buffer)"
    return None


def lower(g, p, w, xs, shape):
    x = g.reshape(xs[0], chw(shape))
    c = g.shape(x)[0]
    alpha, beta, kappa = p.get("alpha", 0.0001), p.get("beta", 0.75), p.get("kappa", 1.0)
    mat = (alpha * window_matrix(c, p.get("size", 5))).astype(np.float32).reshape(c, c, 1, 1)
    sq = g.op("Mul", [x, x], g.shape(x))
    norms = g.op("Conv", [sq, g.const(mat, "window"), g.const(np.full(c, kappa, np.float32), "kappa")], g.shape(x),
                 kernel_shape=[1, 1])
    scale = g.op("Pow", [norms, g.const(np.float32(-beta))], g.shape(x))
    return g.op("Mul", [x, scale], g.shape(x))
