"""[crnn]: [rnn] with Conv-lowered convolutions, unrolled over the time steps (see
``_recurrent``): per step ``h = [h if shortcut=1] + input(x) + self(h)``, ``y = output(h)``."""

from __future__ import annotations

from ..executor.ops import crnn as kernel
from . import _recurrent as rec


def lower(g, p, w, xs, shape):
    inp, slf, outp = kernel.inners(p)
    iw, ih, _ = shape.input  # the state keeps the input's size, as the kernel's
    state = (iw, ih, p.hidden)
    h = rec.zeros(g, (p.hidden, ih, iw))
    ys = []
    for x in rec.steps(g, xs[0], p):
        new = rec.add(g, rec.inner(g, inp, w, x, shape.input, state), rec.inner(g, slf, w, h, state, state),
                      *([h] if p.shortcut else []))
        ys.append(rec.inner(g, outp, w, new, state, (iw, ih, p.n)))
        h = new
    return rec.stack(g, ys)
