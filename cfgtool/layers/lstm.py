"""[lstm]: make_lstm_layer on params.inputs values; reads what [gru] reads. Quirks kept: the
struct's input w/h/c stay 0, the output is 1x1xoutput; nweights and bflops are 0."""

from __future__ import annotations

from .base import connected_tensors
from .gru import Gru


class Lstm(Gru):
    type = "lstm"
    sections = ("[lstm]",)

    def tensors(self, shape):
        p = shape.params
        bn, n = bool(p.get("batch_normalize")), p["n"]
        return [t for g in ("wf", "wi", "wg", "wo") for t in connected_tensors(g + ".", n, n, bn)] + \
               [t for g in ("uf", "ui", "ug", "uo") for t in connected_tensors(g + ".", p["inputs"], n, bn)]

    def infer(self, r, ctx):
        shape = super().infer(r, ctx)
        shape.output = (1, 1, shape.outputs)
        return shape
