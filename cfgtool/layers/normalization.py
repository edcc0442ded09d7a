"""[lrn] / [normalization]: local response normalization across channels
(make_normalization_layer); shape unchanged, outputs = w*h*c."""

from __future__ import annotations

from dataclasses import dataclass

from .base import FLOAT, INT, LayerShape, LayerSpec, Opt, Params


@dataclass(frozen=True, kw_only=True)
class NormalizationParams(Params):
    alpha: float = 0.0001
    beta: float = 0.75
    kappa: float = 1.0
    size: int = 5


class Normalization(LayerSpec):
    type = "normalization"
    sections = ("[lrn]", "[normalization]")
    Params = NormalizationParams
    options = (
        Opt("alpha", FLOAT, 0.0001),
        Opt("beta", FLOAT, 0.75),
        Opt("kappa", FLOAT, 1.0),
        Opt("size", INT, 5),
    )

    def infer(self, r, ctx):
        p = {k: r.get(k) for k in ("alpha", "beta", "kappa", "size")}
        w, h, c = ctx.prev
        return LayerShape((w, h, c), (w, h, c), w * h * c, 0, 0.0, p)
