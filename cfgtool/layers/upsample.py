"""[upsample]: parse_upsample and make_upsample_layer. A negative stride downsamples
(``reverse``=1, output w/stride x h/stride, C integer division)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import FLOAT, INT, LayerShape, LayerSpec, Opt, Params, TargetIssue, absent, atoi
from .common import cdiv, dims, error


@dataclass(frozen=True, kw_only=True)
class UpsampleParams(Params):
    stride: int = 2
    reverse: int = 0
    scale: float = 1.0


class Upsample(LayerSpec):
    type = "upsample"
    sections = ("[upsample]",)
    Params = UpsampleParams
    keeps_zero = True
    targets = {"opencv": ("[upsample]",)}
    target_issues = {"opencv": (
        TargetIssue("stride", lambda v, get: v is not None and atoi(v) < 0,
                    "OpenCV cannot load [upsample] with a negative stride (Darknet's downsampling); "
                    "use a [maxpool] or a strided conv"),
        TargetIssue("stride", absent, "OpenCV's default stride is 1, Darknet's 2: write stride=2 explicitly",
                    rejected=False),
    )}
    options = (
        Opt("stride", INT, 2, doc="factor; negative: downsample by -stride"),
        Opt("scale", FLOAT, 1.0, doc="multiplies the output values"),
    )

    def size_text(self, p):
        return f"{p['stride']}x" + (" down" if p["reverse"] else "")

    def infer(self, r, ctx):
        stride = r.get("stride")
        w, h, c = ctx.prev
        if stride == 0:
            raise error("zero-divisor", "[upsample] stride=0 gives an empty output; use stride >= 1", "stride")
        reverse = 0
        if stride < 0:
            stride, reverse = -stride, 1
            out = (cdiv(w, stride), cdiv(h, stride), c)
        else:
            out = (w * stride, h * stride, c)
        if min(out) <= 0:
            raise error("empty-output", f"[upsample] stride on input {dims((w, h, c))} gives output {dims(out)}",
                        "stride")
        ow, oh, oc = out
        params = dict(stride=stride, reverse=reverse, scale=r.get("scale"))
        return LayerShape((w, h, c), out, ow * oh * oc, 0, 0.0, params)
