"""[batchnorm]: make_batchnorm_layer, per-channel normalization; shape unchanged,
outputs = w*h*c of the previous layer."""

from __future__ import annotations

from .base import LayerShape, LayerSpec, Tensor, bn_tensors
from .common import COMMON


class Batchnorm(LayerSpec):
    type = "batchnorm"
    sections = ("[batchnorm]",)
    options = COMMON

    def tensors(self, shape):
        c = shape.output[2]
        return [Tensor("biases", (c,)), *bn_tensors("", c)]

    def infer(self, r, ctx):
        w, h, c = ctx.prev
        return LayerShape((w, h, c), (w, h, c), w * h * c, 0, 0.0, {"n": c})
