"""[scale_channels]: parse_scale_channels and make_scale_channels_layer.

Multiplies the ``from`` layer's output by the previous layer's output: per channel (the
previous layer is 1x1xC, C = the from layer's channels) or, with ``scale_wh=1``, per position
(the previous layer is WxHx1 with the from layer's W x H). The output has the ``from`` layer's shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import INT, STR, LayerShape, LayerSpec, Opt, Params, TargetIssue, nonzero
from .common import activation, dims, error, referenced, required, source


def from_inputs(spec, section, index):
    """The previous layer and the ``from`` layer (its first value: Darknet reads one)."""
    targets = [ref.target for ref in spec.references(section, index)[:1]]
    return [index - 1, *targets] if index > 0 else targets


@dataclass(frozen=True, kw_only=True)
class ScaleChannelsParams(Params):
    index: int = 0
    scale_wh: int = 0
    activation: str = "linear"


class ScaleChannels(LayerSpec):
    type = "scale_channels"
    sections = ("[scale_channels]",)
    Params = ScaleChannelsParams
    combine = "scale"
    unsupported_activations = ("swish", "mish")
    targets = {"opencv": ("[scale_channels]",)}
    target_issues = {"opencv": (
        TargetIssue("scale_wh", nonzero,
                    "OpenCV's Scale layer cannot do scale_wh=1 (it fails on the first forward pass)"),
    )}
    options = (
        Opt("from", INT, None, required=True, index=True, doc="the layer whose output is scaled"),
        Opt("scale_wh", INT, 0, doc="1: scale per position instead of per channel"),
        Opt("activation", STR, "linear"),
    )

    def inputs(self, section, index):
        return from_inputs(self, section, index)

    def sources(self, p, index):
        return [index - 1, p["index"]]

    def filters_text(self, p):
        return str(p["index"])

    def infer(self, r, ctx):
        index, other = referenced(ctx, required(r, "from", "[scale_channels]"), "from")
        scale_wh = r.get("scale_wh")
        w, h, c = ctx.prev
        ow, oh, oc = other.output
        src = source(ctx)
        if not scale_wh and ((w, h) != (1, 1) or oc != c):
            raise error("scale-channels-shape",
                        f"[scale_channels] scales layer {index} ({dims(other.output)}) by {src} ({dims((w, h, c))}), "
                        f"which must be 1x1x{oc} (one factor per channel); put it after a global pooling/1x1 layer "
                        f"with {oc} filters", "from")
        if scale_wh and (c != 1 or (ow, oh) != (w, h)):
            raise error("scale-channels-shape",
                        f"[scale_channels] scale_wh=1 scales layer {index} ({dims(other.output)}) by {src} "
                        f"({dims((w, h, c))}), which must be {ow}x{oh}x1 (one factor per position)", "from")
        params = dict(index=index, scale_wh=scale_wh, activation=activation(r.get("activation")))
        return LayerShape((w, h, c), other.output, ow * oh * oc, 0, 0.0, params)
