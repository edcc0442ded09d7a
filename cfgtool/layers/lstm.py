"""[lstm]: make_lstm_layer on params.inputs values; reads what [gru] reads. Quirks kept: the
struct's input w/h/c stay 0, the output is 1x1xoutput; nweights and bflops are 0."""

from __future__ import annotations

from .gru import Gru


class Lstm(Gru):
    type = "lstm"
    sections = ("[lstm]",)

    def infer(self, r, ctx):
        shape = super().infer(r, ctx)
        shape.output = (1, 1, shape.outputs)
        return shape
