"""[scale_channels]: the ``from`` output times the previous output, one value per channel
(``1x1xC``) or, with ``scale_wh``, one per pixel (``WxHx1``), then the activation."""

from __future__ import annotations

from . import out_chw
from .activations import activate


def lower(g, p, w, xs, shape):
    s, x = xs
    out = out_chw(shape)
    c, h, wd = out
    x = g.reshape(x, out)
    s = g.reshape(s, (1, h, wd) if p.get("scale_wh", 0) else (c, 1, 1))
    return activate(g, p.get("activation", "linear"), g.op("Mul", [x, s], out))
