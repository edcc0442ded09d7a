"""[cost]: make_cost_layer: outputs = inputs; the struct keeps input and output at 0x0x0.
``type`` is sse, masked or smooth (anything else: sse)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import FLOAT, STR, LayerShape, LayerSpec, Opt, Params


@dataclass(frozen=True, kw_only=True)
class CostParams(Params):
    cost_type: str = "sse"
    scale: float = 1.0
    ratio: float = 0.0


class Cost(LayerSpec):
    type = "cost"
    sections = ("[cost]",)
    Params = CostParams
    is_output = True
    scores_inputs = True
    targets = {"opencv": ("[cost]",)}
    options = (
        Opt("type", STR, "sse"),
        Opt("scale", FLOAT, 1.0),
        Opt("ratio", FLOAT, 0.0),
    )

    def infer(self, r, ctx):
        kind = r.get("type")
        p = dict(cost_type=kind if kind in ("sse", "masked", "smooth") else "sse", scale=r.get("scale"),
                 ratio=r.get("ratio"))
        return LayerShape((0, 0, 0), (0, 0, 0), ctx.prev_outputs, 0, 0.0, p)
