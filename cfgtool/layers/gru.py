"""[gru]: make_gru_layer on params.inputs values. Quirks kept: the struct's input and
output w/h/c stay 0 (outputs = output); nweights and bflops are 0."""

from __future__ import annotations

from dataclasses import dataclass

from .base import INT, RECURRENT, LayerShape, LayerSpec, Opt, Params, connected_tensors
from .rnn import check_sizes


@dataclass(frozen=True, kw_only=True)
class GruParams(Params):
    n: int = 1
    batch_normalize: int = 0
    inputs: int = 0


class Gru(LayerSpec):
    type = "gru"
    sections = ("[gru]",)
    Params = GruParams
    recurrent = True
    cannot_run = RECURRENT
    options = (Opt("output", INT, 1), Opt("batch_normalize", INT, 0))

    def tensors(self, shape):
        p = shape.params
        bn, n = bool(p.get("batch_normalize")), p["n"]
        return [t for g in ("input_z", "input_r", "input_h") for t in connected_tensors(g + ".", p["inputs"], n, bn)] + \
               [t for g in ("state_z", "state_r", "state_h") for t in connected_tensors(g + ".", n, n, bn)]

    def infer(self, r, ctx):
        output = r.get("output")
        p = dict(n=output, batch_normalize=r.get("batch_normalize"), inputs=ctx.prev_outputs)
        check_sizes(p["inputs"], output, self.sections[0])
        return LayerShape((0, 0, 0), (0, 0, 0), output, 0, 0.0, p)

