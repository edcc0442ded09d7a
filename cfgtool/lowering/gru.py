"""[gru]: unrolled over the time steps (see ``_recurrent``): per step, from Gemm-lowered linear
connected layers, ``z = logistic(input_z(x) + state_z(h))``, ``r = logistic(input_r(x) +
state_r(h))``, ``hc = logistic(input_h(x) + state_h(r*h))`` (logistic, as Darknet without
USET), ``h = z*h + (1-z)*hc``; the value is every step's h."""

from __future__ import annotations

import numpy as np

from ..executor.ops import gru as kernel
from . import _recurrent as rec


def lower(g, p, w, xs, shape):
    iz, ir, ih, sz, sr, sh = kernel.inners(p)
    h = rec.zeros(g, (p.n,))
    one = g.const(np.float32(1))
    ys = []
    for x in rec.steps(g, g.flat(xs[0]), p):
        z = rec.sigmoid(g, rec.add(g, rec.inner(g, iz, w, x), rec.inner(g, sz, w, h)))
        r = rec.sigmoid(g, rec.add(g, rec.inner(g, ir, w, x), rec.inner(g, sr, w, h)))
        hc = rec.sigmoid(g, rec.add(g, rec.inner(g, ih, w, x), rec.inner(g, sh, w, rec.mul(g, r, h))))
        h = rec.add(g, rec.mul(g, z, h), rec.mul(g, g.op("Sub", [one, z], g.shape(z)), hc))
        ys.append(h)
    return rec.stack(g, ys)
