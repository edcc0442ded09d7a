"""What the recurrent lowerings share. The graph is unrolled over the time steps the cfg fixes
(``p.steps``, [net] time_steps): the value's first dimension is the steps, one image each (the
export refuses a dynamic batch for these layers), each step is sliced out, the state starts
at zero, and the steps' outputs are concatenated back along the first dimension. The inner
connected / convolutional layers are the kernel's (``ops/<type>.inners``: names, params) and
are lowered by the lowering of their own type, with their tensors out of the outer layer's."""

from __future__ import annotations

import importlib

import numpy as np

from ..layers.base import LayerShape
from .activations import activate


def steps(g, x: str, p) -> list[str]:
    """Each time step of ``x`` (first dimension ``p.steps``) as a value of one image."""
    count = max(int(p.steps), 1)
    if count == 1:
        return [x]
    i64 = np.int64
    return [g.op("Slice", [x, g.const([t], "start", i64), g.const([t + 1], "end", i64), g.const([0], "axes", i64)],
                 g.shape(x)) for t in range(count)]


def stack(g, ys: list[str]) -> str:
    """The steps' values back as one value, step-major."""
    return ys[0] if len(ys) == 1 else g.op("Concat", ys, g.shape(ys[0]), axis=0)


def zeros(g, shape: tuple[int, ...]) -> str:
    """The state before the first step."""
    return g.value(np.zeros((1, *shape), np.float32), "state")


def inner(g, layer, w: dict, x: str, in_whc: tuple[int, int, int] | None = None,
          out_whc: tuple[int, int, int] | None = None) -> str:
    """One inner layer (an ``ops._recurrent.Inner``) on one step's value ``x``: its own type's
    lowering, with its tensors; a convolution needs its input and output ``(w, h, c)``."""
    lowering = importlib.import_module(f"{__package__}.{layer.op.__name__.rsplit('.', 1)[-1]}")
    shape = LayerShape(in_whc or (1, 1, 1), out_whc or (1, 1, 1), 0, 0, 0.0, layer.p)
    return lowering.lower(g, layer.p, layer.weights(w), [x], shape)


def add(g, *xs: str) -> str:
    out = xs[0]
    for x in xs[1:]:
        out = g.op("Add", [out, x], g.shape(out))
    return out


def mul(g, a: str, b: str) -> str:
    return g.op("Mul", [a, b], g.shape(a))


def sigmoid(g, x: str) -> str:
    return activate(g, "logistic", x)


def tanh(g, x: str) -> str:
    return activate(g, "tanh", x)
