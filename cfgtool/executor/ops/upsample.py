"""[upsample]: nearest-neighbour upsampling by ``stride``, times ``scale``.

A negative ``stride`` in the cfg makes Darknet set ``reverse=1`` and ``stride=|stride|``
(upsample_layer.c); the layer then *downsamples*: each output value is ``scale`` times the
SUM (not the mean) of its ``stride x stride`` input block. ``upsample_cpu`` indexes the input
buffer (batch included) as if it were ``(b, c, (h/stride)*stride, (w/stride)*stride)``; when
``stride`` does not divide ``h`` or ``w`` that reads the first values of the buffer in that
layout, which is what this module does too.
"""

from __future__ import annotations

import numpy as np

from .. import kernels


def _mode(p) -> tuple[int, bool, float]:
    stride = p.stride
    return abs(stride), bool(p.reverse) or stride < 0, p.scale


def forward(p, w, xs, train):
    s, reverse, scale = _mode(p)
    x = xs[0]
    b, c, h, wd = x.shape
    if not reverse:
        out = kernels.empty((b, c, h, s, wd, s), x.dtype)
        out[...] = x[:, :, :, None, :, None]  # one broadcast copy
        if scale != 1:
            out *= x.dtype.type(scale)
        return out.reshape(b, c, h * s, wd * s), x.shape
    oh, ow = h // s, wd // s
    block = x.reshape(-1)[:b * c * oh * s * ow * s].reshape(b, c, oh, s, ow, s)
    return block.sum(axis=(3, 5)) * x.dtype.type(scale), x.shape


def backward(p, w, dout, cache):
    s, reverse, scale = _mode(p)
    b, c, h, wd = cache
    scale = dout.dtype.type(scale)
    if not reverse:
        return [dout.reshape(b, c, h, s, wd, s).sum(axis=(3, 5)) * scale], {}
    spread = (dout.repeat(s, axis=2).repeat(s, axis=3) * scale).reshape(-1)
    dx = np.zeros(b * c * h * wd, dout.dtype)
    dx[:spread.size] = spread
    return [dx.reshape(cache)], {}
