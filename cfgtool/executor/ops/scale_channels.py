"""[scale_channels]: the ``from`` layer's output scaled by the previous output, then the
activation (scale_channels_layer.c).

``xs = [s, x]`` (previous layer, ``from`` layer); the output has ``x``'s shape.
``scale_wh=0``: ``s`` is ``1 x 1 x C`` and ``out[b,c,h,w] = x[b,c,h,w] * s[b,c]`` (SE block);
``scale_wh=1``: ``s`` is ``w x h x 1`` and ``out[b,c,h,w] = x[b,c,h,w] * s[b,h,w]``.
Darknet's CPU ``activate_array`` yields 0 for swish/mish/hard_mish/relu6/normalize_channels*
(it warns about swish and mish); here the intended function is applied, as everywhere in
:mod:`..activations`.
"""

from __future__ import annotations

from ..activations import activate, gradient


def _scale_view(s, x, scale_wh: int):
    b, c, h, w = x.shape
    return s.reshape(b, 1, h, w) if scale_wh else s.reshape(b, c, 1, 1)


def forward(p, w, xs, train):
    s, x = xs
    y, act = activate(p.activation, x * _scale_view(s, x, p.scale_wh))
    return y, (s, x, act)


def backward(p, w, dout, cache):
    s, x, act = cache
    wh = p.scale_wh
    dz = gradient(p.activation, dout, act)
    ds = (dz * x).sum(axis=1 if wh else (2, 3), keepdims=True).reshape(s.shape)
    return [ds, dz * _scale_view(s, x, wh)], {}
