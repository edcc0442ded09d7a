"""[upsample]: nearest-neighbour Resize by ``stride`` then times ``scale``; a negative stride
(``reverse``) sums each ``stride x stride`` block instead (ReduceSum over a blocked view)."""

from __future__ import annotations

import numpy as np

from ..executor.ops.upsample import _mode
from . import chw


def unsupported(p, shape):
    s, reverse, _ = _mode(p)
    _, h, w = chw(shape)
    if reverse and (h % s or w % s):
        return (f"a downsampling [upsample] (stride={p.get('stride')}) of a {w}x{h} map: stride {s} must divide "
                "the width and height (Darknet then reads its buffer out of layout)")
    return None


def lower(g, p, w, xs, shape):
    s, reverse, scale = _mode(p)
    x = g.reshape(xs[0], chw(shape))
    c, h, wd = g.shape(x)
    if not reverse:
        scales = g.const([1.0, 1.0, float(s), float(s)], "scales")
        y = g.op("Resize", [x, "", scales], (c, h * s, wd * s), mode="nearest",
                 coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    else:
        y = g.reduce("ReduceSum", g.reshape(x, (c, h // s, s, wd // s, s)), [2, 4], keepdims=False)
    if scale != 1:
        y = g.op("Mul", [y, g.const(np.float32(scale))], g.shape(y))
    return y
