"""[reorg3d]: parse_reorg and make_reorg_layer (Darknet type REORG, printed "reorg"):
space-to-depth, w/stride x h/stride x c*stride^2 (reverse=1: the inverse)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import INT, STRIDE_WHY, LayerShape, LayerSpec, Opt, Params, stride_text
from .common import cdiv, dims, error, image

REORG_OPTIONS = (
    Opt("stride", INT, 1, minimum=1, why=STRIDE_WHY),
    Opt("reverse", INT, 0),
)


def reorg_shape(r, ctx, what: str) -> LayerShape:
    stride = r.get("stride")
    reverse = r.get("reverse")
    w, h, c = image(ctx, what)
    if stride == 0:
        raise error("zero-divisor", f"{what} stride=0: Darknet divides by the stride", "stride")
    if reverse:
        out = (w * stride, h * stride, cdiv(c, stride * stride))
    else:
        out = (cdiv(w, stride), cdiv(h, stride), c * stride * stride)
    if min(out) <= 0:
        raise error("empty-output", f"{what} stride={stride} on input {dims((w, h, c))} gives output {dims(out)}",
                    "stride")
    ow, oh, oc = out
    return LayerShape((w, h, c), out, ow * oh * oc, 0, 0.0, dict(stride=stride, reverse=reverse))


@dataclass(frozen=True, kw_only=True)
class ReorgParams(Params):
    stride: int = 1
    reverse: int = 0


class Reorg(LayerSpec):
    type = "reorg"
    sections = ("[reorg3d]",)
    Params = ReorgParams
    options = REORG_OPTIONS

    def size_text(self, p):
        return stride_text(p)

    def infer(self, r, ctx):
        return reorg_shape(r, ctx, "[reorg3d]")
