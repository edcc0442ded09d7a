"""[lstm]: unrolled over the time steps (see ``_recurrent``): per step, from Gemm-lowered linear
connected layers W on the state and U on the input, ``f, i, o = logistic(W(h) + U(x))``,
``g = tanh(wg(h) + ug(x))``, ``c = f*c + i*g``, ``h = o*tanh(c)``; the value is every step's h."""

from __future__ import annotations

from ..executor.ops import lstm as kernel
from . import _recurrent as rec


def lower(g, p, w, xs, shape):
    layers = dict(zip(kernel.W + kernel.U, kernel.inners(p)))
    h = c = rec.zeros(g, (p.n,))
    ys = []
    for x in rec.steps(g, g.flat(xs[0]), p):
        gate = {k: rec.add(g, rec.inner(g, layers["w" + k], w, h), rec.inner(g, layers["u" + k], w, x)) for k in "figo"}
        f, i, o = (rec.sigmoid(g, gate[k]) for k in "fio")
        c = rec.add(g, rec.mul(g, f, c), rec.mul(g, i, rec.tanh(g, gate["g"])))
        h = rec.mul(g, o, rec.tanh(g, c))
        ys.append(h)
    return rec.stack(g, ys)
