"""[rnn]: make_rnn_layer: a fully connected RNN (input, self and output connected layers)
on params.inputs values. Quirks kept: the struct's input w/h/c stay 0, the output is
1x1xoutput, nweights and bflops are 0; Darknet divides the batch by time_steps."""

from __future__ import annotations

from dataclasses import dataclass

from .base import INT, RECURRENT, STR, LayerShape, LayerSpec, Opt, Params, connected_tensors
from .common import activation, error


def check_sizes(inputs: int, output: int, what: str) -> None:
    if inputs <= 0 or output <= 0:
        raise error("empty-output", f"{what} from {inputs} inputs to output={output}: both must be > 0", "output")


@dataclass(frozen=True, kw_only=True)
class RnnParams(Params):
    n: int = 1
    hidden: int = 1
    activation: str = "logistic"
    batch_normalize: int = 0
    logistic: int = 0
    shortcut: int = 0
    inputs: int = 0


class Rnn(LayerSpec):
    type = "rnn"
    sections = ("[rnn]",)
    Params = RnnParams
    recurrent = True
    cannot_run = RECURRENT
    options = (
        Opt("output", INT, 1),
        Opt("hidden", INT, 1),
        Opt("activation", STR, "logistic"),
        Opt("batch_normalize", INT, 0),
        Opt("logistic", INT, 0),
        Opt("shortcut", INT, 0),
    )

    def tensors(self, shape):
        p = shape.params
        bn, hidden = bool(p.get("batch_normalize")), p["hidden"]
        return (connected_tensors("input.", p["inputs"], hidden, bn) + connected_tensors("self.", hidden, hidden, bn)
                + connected_tensors("output.", hidden, p["n"], bn))

    def infer(self, r, ctx):
        output, hidden = r.get("output"), r.get("hidden")
        act = activation(r.get("activation"))
        p = dict(n=output, hidden=hidden, activation=act, batch_normalize=r.get("batch_normalize"),
                 logistic=r.get("logistic"))
        inputs = ctx.prev_outputs
        check_sizes(inputs, output, "[rnn]")
        p["shortcut"] = r.get("shortcut")
        p["inputs"] = inputs
        return LayerShape((0, 0, 0), (1, 1, output), output, 0, 0.0, p)

