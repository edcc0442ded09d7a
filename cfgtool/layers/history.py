"""[history]: make_history_layer: stacks the last history_size inputs along the channels,
w x h x c*history_size. get_layer_string gives "none"."""

from __future__ import annotations

from dataclasses import dataclass

from .base import INT, RECURRENT, LayerShape, LayerSpec, Opt, Params
from .common import error


@dataclass(frozen=True, kw_only=True)
class HistoryParams(Params):
    history_size: int = 4


class History(LayerSpec):
    type = "history"
    sections = ("[history]",)
    Params = HistoryParams
    recurrent = True
    cannot_run = RECURRENT
    named = False
    options = (Opt("history_size", INT, 4),)

    def infer(self, r, ctx):
        size = r.get("history_size")
        w, h, c = ctx.prev
        if size <= 0 or not (w and h and c):
            raise error("empty-output", f"[history] history_size={size} on input {w}x{h}x{c} gives no output",
                        "history_size")
        return LayerShape((w, h, c), (w, h, c * size), w * h * c * size, 0, 0.0, {"history_size": size})
