"""[activation]: make_activation_layer: applies ``activation`` to the previous output;
shape and outputs unchanged."""

from __future__ import annotations

from .base import STR, LayerShape, LayerSpec, Opt
from .common import COMMON, activation


class Activation(LayerSpec):
    type = "activation"
    sections = ("[activation]",)
    options = (Opt("activation", STR, "linear"),) + COMMON

    def infer(self, r, ctx):
        act = activation(r.get("activation"))
        prev = ctx.prev
        return LayerShape(prev, prev, ctx.prev_outputs, 0, 0.0, {"activation": act})
