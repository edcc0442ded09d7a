"""[sam]: parse_sam and make_sam_layer (spatial attention: the ``from`` layer's output times
the previous layer's output, element-wise; both must have the same w x h x c)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import INT, STR, LayerShape, LayerSpec, Opt, Params
from .common import activation, dims, error, referenced, required, source
from .scale_channels import from_inputs


@dataclass(frozen=True, kw_only=True)
class SamParams(Params):
    index: int = 0
    activation: str = "linear"


class Sam(LayerSpec):
    type = "sam"
    sections = ("[sam]",)
    Params = SamParams
    combine = "scale"
    unsupported_activations = ("swish", "mish")
    targets = {"opencv": ("[sam]",)}
    options = (
        Opt("from", INT, None, required=True, index=True, doc="the layer whose output is multiplied"),
        Opt("activation", STR, "linear"),
    )

    def inputs(self, section, index):
        return from_inputs(self, section, index)

    def sources(self, p, index):
        return [index - 1, p["index"]]

    def filters_text(self, p):
        return str(p["index"])

    def infer(self, r, ctx):
        index, other = referenced(ctx, required(r, "from", "[sam]"), "from")
        prev = ctx.prev
        if other.output != prev:
            raise error("sam-shape-mismatch",
                        f"[sam] multiplies layer {index} ({dims(other.output)}) by {source(ctx)} ({dims(prev)}): "
                        "both must have the same shape", "from")
        ow, oh, oc = other.output
        params = dict(index=index, activation=activation(r.get("activation")))
        return LayerShape(prev, other.output, ow * oh * oc, 0, 0.0, params)
