"""[batchnorm]: make_batchnorm_layer, per-channel normalization; shape unchanged,
outputs = w*h*c of the previous layer."""

from __future__ import annotations

from dataclasses import dataclass

from .base import LayerShape, LayerSpec, Params, Tensor, bn_tensors


@dataclass(frozen=True, kw_only=True)
class BatchnormParams(Params):
    n: int = 0


class Batchnorm(LayerSpec):
    type = "batchnorm"
    sections = ("[batchnorm]",)
    Params = BatchnormParams

    def tensors(self, shape):
        c = shape.output[2]
        return [Tensor("biases", (c,)), *bn_tensors("", c)]

    def infer(self, r, ctx):
        w, h, c = ctx.prev
        return LayerShape((w, h, c), (w, h, c), w * h * c, 0, 0.0, {"n": c})
