"""[connected] / [conn]: make_connected_layer: params.inputs values -> ``output`` values,
input 1x1xinputs, output 1x1xoutput. Quirk kept: Darknet never sets l.nweights or l.bflops
for this layer (both 0; the weights are inputs*output)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import INT, STR, LayerShape, LayerSpec, Opt, Params, connected_tensors, count_text
from .common import activation, error


@dataclass(frozen=True, kw_only=True)
class ConnectedParams(Params):
    n: int = 1
    inputs: int = 0
    outputs: int = 1
    activation: str = "logistic"
    batch_normalize: int = 0


class Connected(LayerSpec):
    type = "connected"
    sections = ("[connected]", "[conn]")
    Params = ConnectedParams
    vector_output = True
    targets = {"opencv": ("[connected]",)}
    channels_key = "output"
    options = (
        Opt("output", INT, 1, minimum=1, why="a layer without outputs"),
        Opt("activation", STR, "logistic"),
        Opt("batch_normalize", INT, 0),
    )

    def tensors(self, shape):
        return connected_tensors("", shape.inputs, shape.outputs, shape.params.get("batch_normalize"), scales=True)

    def filters_text(self, p):
        return count_text(p)

    def infer(self, r, ctx):
        output = r.get("output")
        act = activation(r.get("activation"))
        batch_normalize = r.get("batch_normalize")
        inputs = ctx.prev_outputs
        if output <= 0 or inputs <= 0:
            raise error("empty-output", f"[connected] from {inputs} inputs to output={output}: both must be > 0",
                        "output")
        params = dict(n=output, inputs=inputs, outputs=output, activation=act, batch_normalize=batch_normalize)
        return LayerShape((1, 1, inputs), (1, 1, output), output, 0, 0.0, params)
