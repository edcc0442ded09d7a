"""[yolo]: the logistic on x, y, objectness and classes (not w, h; nothing with
``new_coords=1``), then ``x, y <- x*scale_x_y - 0.5*(scale_x_y - 1)``, with per-channel constants (see
:func:`head`). The kernel's :func:`logistic_entries` says which entries."""

from __future__ import annotations

import numpy as np

from ..executor.ops.yolo import logistic_entries
from . import chw


def head(g, x, n: int, logistic: np.ndarray, scaled: list[int], scale_x_y: float) -> str:
    """The transform shared with [Gaussian_yolo]: ``logistic``/``scaled`` index an anchor's
    entries; the channels are ``n`` anchors of ``len(logistic)`` entries. With a mix of
    activated and raw channels: ``sigmoid(x) * K + x * R + B`` with per-channel constants (K the
    x/y scale or 1 on activated channels, 0 elsewhere; R 1 on raw channels; B the x/y shift),
    exact because the other term is 0 (OpenCV cannot load the boolean mask a Where needs)."""
    c = g.shape(x)[0]
    mask = np.tile(logistic, n).reshape(c, 1, 1)
    which = np.zeros(c // n, bool)
    which[scaled] = True
    which = np.tile(which, n).reshape(c, 1, 1)
    k = np.where(which, np.float32(scale_x_y), np.float32(1))
    shift = np.where(which, -np.float32(0.5 * (scale_x_y - 1)), np.float32(0))
    if mask.all():
        y = g.op("Sigmoid", [x], g.shape(x))
        terms = [(y, k)]
    elif mask.any():
        terms = [(g.op("Sigmoid", [x], g.shape(x)), np.where(mask, k, 0)), (x, np.where(mask, 0, k))]
    else:
        terms = [(x, k)]
    y = None
    for v, factor in terms:
        if len(terms) > 1 or scale_x_y != 1:
            v = g.op("Mul", [v, g.const(factor.astype(np.float32), "scale")], g.shape(x))
        y = v if y is None else g.op("Add", [y, v], g.shape(x))
    if scale_x_y != 1:
        y = g.op("Add", [y, g.const(shift.astype(np.float32), "shift")], g.shape(x))
    return y


def lower(g, p, w, xs, shape):
    x = g.reshape(xs[0], chw(shape))
    n = p.get("n", 1)
    return head(g, x, n, logistic_entries(p, g.shape(x)[0] // n), [0, 1], p.get("scale_x_y", 1.0))
