"""[implicit]: a learned ``filters x atoms x 1`` tensor repeated for every image
(representation_layer.c). It reads no input: ``xs`` may be empty (the batch is then
``p.batch``) or hold the previous output, which only gives the batch size and gets
no gradient (``None``).
"""

from __future__ import annotations

import numpy as np


def forward(p, w, xs, train):
    batch = xs[0].shape[0] if xs else p.batch
    t = w["weights"]
    return np.broadcast_to(t, (batch,) + t.shape).copy(), len(xs)


def backward(p, w, dout, cache):
    return [None] * cache, {"weights": dout.sum(axis=0)}
