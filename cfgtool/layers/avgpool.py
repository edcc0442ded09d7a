"""[avgpool] / [avg]: global average pooling, w x h x c -> 1x1xc (make_avgpool_layer)."""

from __future__ import annotations

from .base import LayerShape, LayerSpec
from .common import image


class Avgpool(LayerSpec):
    type = "avgpool"
    sections = ("[avgpool]", "[avg]")
    pooling = "avg"
    keeps_zero = True
    targets = {"opencv": ("[avgpool]",)}

    def infer(self, r, ctx):
        w, h, c = image(ctx, "[avgpool]")
        return LayerShape((w, h, c), (1, 1, c), c, 0, 0.0, {})
