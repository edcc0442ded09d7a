"""[dropout]: identity outside training; in training each value is zeroed with probability
``probability`` and the others are scaled by ``1/(1-probability)`` (forward_dropout_layer).

Randomness comes from ``p.rng`` (a numpy Generator) or a generator seeded with
``p.seed``; the mask is kept for backward. Darknet draws with its global ``rand()``,
so masks are not bit-identical to Darknet's. Darknet also applies the mask *in place* to the
previous layer's buffer (the two layers share it); here the output is a new array. DropBlock
(``dropblock=1``) exists only in Darknet's GPU code; its CPU path is this plain dropout.
"""

from __future__ import annotations

import numpy as np

from ._util import rng


def forward(p, w, xs, train):
    x = xs[0]
    if not train:
        return x, None
    prob = p.probability
    keep = rng(p).random(x.shape) >= prob
    factor = keep * x.dtype.type(1.0 / (1.0 - prob)) if prob < 1 else np.zeros(x.shape, x.dtype)
    return x * factor, factor


def backward(p, w, dout, cache):
    return [dout if cache is None else dout * cache], {}
