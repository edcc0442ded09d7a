"""[sam]: the previous output times the ``from`` output, elementwise, then the activation."""

from __future__ import annotations

from .activations import activate


def lower(g, p, w, xs, shape):
    s, x = xs
    x = g.reshape(x, g.shape(s))
    return activate(g, p.get("activation", "linear"), g.op("Mul", [s, x], g.shape(s)))
