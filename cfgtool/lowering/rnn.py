"""[rnn]: unrolled over the time steps (see ``_recurrent``): per step
``h = [h if shortcut=1] + input(x) + self(h)``, ``y = output(h)``, three Gemm-lowered connected
layers; the value is every step's y, a (steps, outputs) vector."""

from __future__ import annotations

from ..executor.ops import rnn as kernel
from . import _recurrent as rec


def lower(g, p, w, xs, shape):
    inp, slf, outp = kernel.inners(p)
    h = rec.zeros(g, (p.hidden,))
    ys = []
    for x in rec.steps(g, g.flat(xs[0]), p):
        new = rec.add(g, rec.inner(g, inp, w, x), rec.inner(g, slf, w, h), *([h] if p.shortcut else []))
        ys.append(rec.inner(g, outp, w, new))
        h = new
    return rec.stack(g, ys)
