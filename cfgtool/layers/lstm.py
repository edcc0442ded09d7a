"""[lstm]: make_lstm_layer on params.inputs values. Quirks kept: the struct's input w/h/c
stay 0, the output is 1x1xoutput; nweights and bflops are 0."""

from __future__ import annotations

from .base import INT, LayerShape, LayerSpec, Opt
from .common import COMMON
from .rnn import check_sizes


class Lstm(LayerSpec):
    type = "lstm"
    sections = ("[lstm]",)
    recurrent = True
    options = (Opt("output", INT, 1), Opt("batch_normalize", INT, 0)) + COMMON

    def infer(self, r, ctx):
        output = r.get("output")
        p = dict(n=output, batch_normalize=r.get("batch_normalize"), inputs=ctx.prev_outputs)
        check_sizes(p["inputs"], output, "[lstm]")
        return LayerShape((0, 0, 0), (1, 1, output), output, 0, 0.0, p)
