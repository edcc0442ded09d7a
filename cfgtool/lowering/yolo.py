"""[yolo]: the logistic on x, y, objectness and classes (not w, h; nothing with
``new_coords=1``), then ``x, y <- x*scale_x_y - 0.5*(scale_x_y - 1)``: Sigmoid, a Where with
the constant channel mask, and one Mul/Add pair with per-channel constants when
``scale_x_y != 1``. The kernel's :func:`logistic_entries` says which entries."""

from __future__ import annotations

import numpy as np

from ..executor.ops.yolo import logistic_entries
from . import chw


def head(g, x, n: int, logistic: np.ndarray, scaled: list[int], scale_x_y: float) -> str:
    """The transform shared with [Gaussian_yolo]: ``logistic``/``scaled`` index an anchor's
    entries; the channels are ``n`` anchors of ``len(logistic)`` entries."""
    c = g.shape(x)[0]
    mask = np.tile(logistic, n)
    y = x
    if mask.any():
        s = g.op("Sigmoid", [x], g.shape(x))
        y = s if mask.all() else g.op("Where", [g.const(mask.reshape(c, 1, 1), "mask", bool), s, x], g.shape(x))
    if scale_x_y != 1:
        k = np.float32(scale_x_y)
        which = np.zeros(c // n, bool)
        which[scaled] = True
        which = np.tile(which, n).reshape(c, 1, 1)
        y = g.op("Mul", [y, g.const(np.where(which, k, np.float32(1)), "scale_x_y")], g.shape(x))
        y = g.op("Add", [y, g.const(np.where(which, -np.float32(0.5 * (scale_x_y - 1)), np.float32(0)), "shift")],
                 g.shape(x))
    return y


def lower(g, p, w, xs, shape):
    x = g.reshape(xs[0], chw(shape))
    n = p.get("n", 1)
    return head(g, x, n, logistic_entries(p, g.shape(x)[0] // n), [0, 1], p.get("scale_x_y", 1.0))
