"""[contrastive]: a loss layer whose ``l.output`` Darknet's CPU code never writes: zeros of
``inputs`` values per image (see the kernel)."""

from __future__ import annotations

import numpy as np


def lower(g, p, w, xs, shape):
    return g.zeros((int(np.prod(g.shape(xs[0]))), 1, 1))
