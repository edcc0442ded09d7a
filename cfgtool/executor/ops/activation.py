"""[activation]: Darknet's activation_layer.c, the activation alone.

Darknet's CPU build outputs 0 here for relu6, swish, mish, hard_mish and normalize_channels*
(its ``activate()`` has no case for them); the intended functions are computed instead
(see :mod:`cfgtool.executor.activations`).
"""

from __future__ import annotations

from .. import activations


def forward(p, w, xs, train):
    (x,) = xs
    return activations.activate(p.activation, x)


def backward(p, w, dout, cache):
    return [activations.gradient(cache[0], dout, cache)], {}
