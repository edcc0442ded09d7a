"""[lrn] / [normalization]: local response normalization across channels
(make_normalization_layer); shape unchanged, outputs = w*h*c."""

from __future__ import annotations

from .base import FLOAT, INT, LayerShape, LayerSpec, Opt
from .common import COMMON


class Normalization(LayerSpec):
    type = "normalization"
    sections = ("[lrn]", "[normalization]")
    options = (
        Opt("alpha", FLOAT, 0.0001),
        Opt("beta", FLOAT, 0.75),
        Opt("kappa", FLOAT, 1.0),
        Opt("size", INT, 5),
    ) + COMMON

    def infer(self, r, ctx):
        p = {k: r.get(k) for k in ("alpha", "beta", "kappa", "size")}
        w, h, c = ctx.prev
        return LayerShape((w, h, c), (w, h, c), w * h * c, 0, 0.0, p)
