"""[shortcut]: the previous output plus the ``from`` outputs, then the activation. A ``from``
with fewer channels is added to the first ones (zero-padded), one with more is cut, as
Darknet adds over the overlapping ``min(c)`` channels (the flat buffers' overlap when the maps
differ in size). ``weights_type`` per_feature / per_channel multiplies each input by its
weights, normalized (relu / softmax, the kernel's :func:`_coefficients`) at export: the
weights are constants of the graph."""

from __future__ import annotations

import numpy as np

from ..executor.ops.shortcut import _coefficients, _normalization, _weights_type
from . import out_chw
from .activations import activate


def _weighted(g, x, k):
    """``x * k`` (a scalar or one weight per leading value of ``x``), or ``x`` without weights."""
    if k is None:
        return x
    k = k.reshape(()) if k.size == 1 else k[:g.shape(x)[0]].reshape((-1,) + (1,) * (len(g.shape(x)) - 1))
    return g.op("Mul", [x, g.const(k, "weight")], g.shape(x))


def lower(g, p, w, xs, shape):
    out = out_chw(shape)
    c, h, wd = out
    size = c * h * wd
    coef = _coefficients(w["weights"].reshape(len(xs), -1), _normalization(p)) if _weights_type(p) else None
    y = None
    for i, x in enumerate(xs):
        x = g.reshape(x, out) if i == 0 else x
        k = None if coef is None else coef[i]
        if len(g.shape(x)) == 3 and g.shape(x)[1:] == (h, wd):
            m = min(g.shape(x)[0], c)
            x = g.pad(_weighted(g, g.slice(x, 0, 0, m), k), [0, 0, 0], [c - m, 0, 0])
        else:  # Darknet's flat overlap: the first min(size) values
            f = g.flat(x)
            m = min(g.shape(f)[0], size)
            spread = None if k is None else k[np.arange(size) // (size // k.size)][:m]
            x = g.reshape(g.pad(_weighted(g, g.slice(f, 0, 0, m), spread), [0], [size - m]), out)
        y = x if y is None else g.op("Add", [y, x], out)
    return activate(g, p.get("activation", "linear"), y)
