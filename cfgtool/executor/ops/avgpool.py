"""[avgpool]: global average pooling, (batch, c, h, w) -> (batch, c, 1, 1) (avgpool_layer.c)."""

from __future__ import annotations


def forward(p, w, xs, train):
    (x,) = xs
    return x.mean(axis=(2, 3), keepdims=True, dtype=x.dtype), x.shape


def backward(p, w, dout, cache):
    _, _, h, wd = cache
    return [(dout / (h * wd)).repeat(h, axis=2).repeat(wd, axis=3)], {}
