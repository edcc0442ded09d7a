"""[sam]: elementwise product of the previous output and the ``from`` layer's output (same
shape), then the activation (sam_layer.c). ``xs = [s, x]``; ``out = activation(s * x)``.

Darknet's CPU backward *assigns* (does not add) the ``from`` layer's delta; the gradients here
are the exact ones and the runner sums them. Activations as in :mod:`.scale_channels`.
"""

from __future__ import annotations

from ..activations import activate, gradient


def forward(p, w, xs, train):
    s, x = xs
    y, act = activate(p.activation, s * x.reshape(s.shape))
    return y, (s, x, act)


def backward(p, w, dout, cache):
    s, x, act = cache
    dz = gradient(p.activation, dout, act)
    return [dz * x.reshape(s.shape), (dz * s).reshape(x.shape)], {}
