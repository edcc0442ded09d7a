"""[history]: per step the last ``history_size`` inputs stacked along the channels, newest first
(zeros before the first step), unrolled over the time steps (see ``_recurrent``); with
time_steps=1 Darknet's flat copy (the input, then zeros)."""

from __future__ import annotations

from . import _recurrent as rec
from . import chw, out_chw


def lower(g, p, w, xs, shape):
    size = p.history_size
    x = g.reshape(xs[0], chw(shape))
    if max(int(p.steps), 1) == 1:
        flat = g.flat(x)
        n = g.shape(flat)[0]
        return g.reshape(g.concat([flat, rec.zeros(g, (n * (size - 1),))], 0), out_chw(shape))
    frames = rec.steps(g, x, p)
    blank = rec.zeros(g, g.shape(x))
    return rec.stack(g, [g.concat([frames[t - k] if t >= k else blank for k in range(size)], 0)
                         for t in range(len(frames))])
