"""[softmax]: softmax over each of ``groups`` equal slices of the flat per-image buffer, with
``temperature`` (``exp(x/t - max/t) / sum``; softmax_layer.c, blas.c ``softmax_cpu``).

``spatial=1``: a softmax over the channels at each pixel (temperature 1). Darknet's CPU forward
ignores ``spatial`` (only its GPU code reads it); this follows the GPU's intent.
``tree=``: Darknet's hierarchical softmax (``forward_softmax_layer``'s softmax_tree branch): a
softmax with ``temperature`` over each group of the tree file's nodes, the groups end to end from
the first value; ``groups`` and ``spatial`` are ignored and values past the tree's nodes are 0.
The executor reads the tree file (``p.hierarchy``, see cfgtool.hierarchy).
``backward`` is the exact Jacobian product; Darknet passes the cross-entropy delta it computed
against the labels straight through instead.
"""

from __future__ import annotations

from ._util import flat, softmax, softmax_backward, tree_softmax, tree_softmax_backward


def _view(p, x):
    if p.tree and p.hierarchy is None:
        raise ValueError(f"tree={p.tree}: the tree file was not read (the Executor reads it)")
    if p.hierarchy is not None:
        return flat(x), None, p.temperature
    if p.spatial:
        return x, 1, 1.0
    return flat(x).reshape(x.shape[0], p.groups, -1), 2, p.temperature


def forward(p, w, xs, train):
    x = xs[0]
    v, axis, temp = _view(p, x)
    y = tree_softmax(v, p.hierarchy, temp) if axis is None else softmax(v, axis, temp)
    return y.reshape(x.shape), y


def backward(p, w, dout, cache):
    v, axis, temp = _view(p, dout)
    dx = tree_softmax_backward(cache, v, p.hierarchy, temp) if axis is None else \
        softmax_backward(cache, v, axis, temp)
    return [dx.reshape(dout.shape)], {}
