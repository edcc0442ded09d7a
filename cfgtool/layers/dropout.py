"""[dropout]: parse_dropout and make_dropout_layer. Passes the previous output on
(outputs = inputs, output = previous w x h x c). Quirk kept: without dropblock the struct's
input w/h/c stay 0. params: probability, scale = 1/(1-probability), dropblock,
dropblock_size_rel, dropblock_size_abs (after Darknet's adjustments)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import FLOAT, INT, LayerShape, LayerSpec, Opt, Params
from .common import dims, error, ftoi


@dataclass(frozen=True, kw_only=True)
class DropoutParams(Params):
    probability: float = 0.2
    scale: float = 1.25
    dropblock: int = 0
    dropblock_size_rel: float = 0.0
    dropblock_size_abs: int = 0


class Dropout(LayerSpec):
    type = "dropout"
    sections = ("[dropout]",)
    Params = DropoutParams
    passes_in_inference = True
    targets = {"opencv": ("[dropout]",)}
    options = (
        Opt("probability", FLOAT, 0.2),
        Opt("dropblock", INT, 0),
        Opt("dropblock_size_rel", FLOAT, 0.0),
        Opt("dropblock_size_abs", FLOAT, 0.0, doc="read as a float, used as an int"),
    )

    def infer(self, r, ctx):
        probability = r.get("probability")
        dropblock = r.get("dropblock")
        rel = r.get("dropblock_size_rel")
        absolute = ftoi(r.get("dropblock_size_abs"))
        w, h, c = ctx.prev
        if absolute > w or absolute > h:
            absolute = min(w, h)
        if dropblock and not rel and not absolute:
            absolute = 7
        if rel and absolute:
            rel = 0.0
        if dropblock and min(w, h, c) <= 0:
            raise error("not-an-image", f"dropblock=1 needs an image input, got {dims((w, h, c))}", "dropblock")
        if probability == 1.0:
            raise error("zero-divisor", "probability=1 makes Darknet's scale 1/(1-probability) infinite", "probability")
        inputs = ctx.prev_outputs
        params = dict(probability=probability, scale=1.0 / (1.0 - probability), dropblock=dropblock,
                      dropblock_size_rel=rel, dropblock_size_abs=absolute)
        return LayerShape((w, h, c) if dropblock else (0, 0, 0), (w, h, c), inputs, 0, 0.0, params)
