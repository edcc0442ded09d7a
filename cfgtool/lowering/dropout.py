"""[dropout]: the identity at inference (no node: the layer's value is its input)."""

from __future__ import annotations


def lower(g, p, w, xs, shape):
    return xs[0]
