"""[empty] / [silence]: a layer that passes its input on unchanged (Darknet's EMPTY; shape
and outputs of the previous layer)."""

from __future__ import annotations

from .base import LayerShape, LayerSpec


class Empty(LayerSpec):
    type = "empty"
    sections = ("[empty]", "[silence]")
    named = False

    def infer(self, r, ctx):
        prev = ctx.prev
        return LayerShape(prev, prev, ctx.prev_outputs, 0, 0.0, {})
