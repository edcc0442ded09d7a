"""[softmax]: Softmax over each of ``groups`` slices of the flat buffer, of ``x / temperature``;
``spatial=1``: over the channels at each pixel; ``tree=``: Darknet's hierarchical softmax, one
Softmax per group of the tree's nodes (the values past them 0)."""

from __future__ import annotations

import numpy as np


def _softmax(g, x, axis, temp=1.0):
    if temp != 1:
        x = g.op("Div", [x, g.const(np.float32(temp))], g.shape(x))
    return g.op("Softmax", [x], g.shape(x), axis=axis + 1)


def tree_softmax(g, x, tree, axis, temp=1.0) -> list[str]:
    """Darknet's ``softmax_tree`` on ``x``, whose per-image ``axis`` holds exactly the tree's
    nodes: each group's Softmax, in order (concatenate them along ``axis``)."""
    return [_softmax(g, part, axis, temp) for part in g.split(x, axis, [size for _, size in tree.groups])]


def lower(g, p, w, xs, shape):
    x = xs[0]
    if p.hierarchy is not None:
        v = g.flat(x)
        n, total = p.hierarchy.n, g.shape(v)[0]
        parts = tree_softmax(g, g.slice(v, 0, 0, n), p.hierarchy, 0, p.temperature)
        return g.reshape(g.concat(parts + ([g.zeros((total - n,))] if total > n else []), 0), g.shape(x))
    if p.get("spatial", 0):
        return _softmax(g, x, 0)
    groups = p.get("groups", 1)
    v = g.reshape(x, (groups, int(np.prod(g.shape(x))) // groups))
    return g.reshape(_softmax(g, v, 1, p.get("temperature", 1.0)), g.shape(x))
