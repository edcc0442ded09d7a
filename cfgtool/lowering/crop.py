"""[crop]: the centred ``crop_height x crop_width`` window (inference: no random offset, no
flip), times 2 minus 1 unless ``noadjust=1``."""

from __future__ import annotations

import numpy as np

from . import chw


def lower(g, p, w, xs, shape):
    x = g.reshape(xs[0], chw(shape))
    _, h, wd = g.shape(x)
    oh, ow = p["crop_height"], p["crop_width"]
    dh, dw = (h - oh) // 2, (wd - ow) // 2
    y = g.slice(g.slice(x, 1, dh, dh + oh), 2, dw, dw + ow)
    if p.get("noadjust", 0):
        return y
    return g.op("Add", [g.op("Mul", [y, g.const(np.float32(2))], g.shape(y)), g.const(np.float32(-1))], g.shape(y))
