"""[activation]: make_activation_layer: applies ``activation`` to the previous output;
shape and outputs unchanged."""

from __future__ import annotations

from dataclasses import dataclass

from .base import STR, LayerShape, LayerSpec, Opt, Params
from .common import activation


@dataclass(frozen=True, kw_only=True)
class ActivationParams(Params):
    activation: str = "linear"


class Activation(LayerSpec):
    type = "activation"
    sections = ("[activation]",)
    Params = ActivationParams
    options = (Opt("activation", STR, "linear"),)

    def infer(self, r, ctx):
        act = activation(r.get("activation"))
        prev = ctx.prev
        return LayerShape(prev, prev, ctx.prev_outputs, 0, 0.0, {"activation": act})
