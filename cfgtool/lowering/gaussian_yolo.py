"""[Gaussian_yolo]: the [yolo] transform with the logistic on every entry but the w and h
means (4 and 6) and the x/y scaling on the x and y means (0 and 2)."""

from __future__ import annotations

from ..executor.ops.gaussian_yolo import SCALED, _mask
from . import chw
from .yolo import head


def lower(g, p, w, xs, shape):
    x = g.reshape(xs[0], chw(shape))
    n = p.get("n", 1)
    return head(g, x, n, _mask(g.shape(x)[0] // n), SCALED, p.get("scale_x_y", 1.0))
