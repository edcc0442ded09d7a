"""[softmax]: softmax over each of ``groups`` equal slices of the flat per-image buffer, with
``temperature`` (``exp(x/t - max/t) / sum``; softmax_layer.c, blas.c ``softmax_cpu``).

``spatial=1``: a softmax over the channels at each pixel (temperature 1). Darknet's CPU forward
ignores ``spatial`` (only its GPU code reads it); this follows the GPU's intent.
A hierarchical softmax (``tree=``) needs the tree file and is not supported (see
:func:`unsupported`; ``forward`` raises ``ValueError``).
``backward`` is the exact Jacobian product; Darknet passes the cross-entropy delta it computed
against the labels straight through instead.
"""

from __future__ import annotations

from ._util import flat, softmax, softmax_backward


def unsupported(p) -> str | None:
    """Why this layer cannot run here, or None."""
    if p.tree:
        return f"tree={p.tree} (hierarchical softmax) is not supported by the numpy executor"
    return None


def _view(p, x):
    why = unsupported(p)
    if why:
        raise ValueError(why)
    if p.spatial:
        return x, 1, 1.0
    return flat(x).reshape(x.shape[0], p.groups, -1), 2, p.temperature


def forward(p, w, xs, train):
    x = xs[0]
    v, axis, temp = _view(p, x)
    y = softmax(v, axis, temp)
    return y.reshape(x.shape), y


def backward(p, w, dout, cache):
    v, axis, temp = _view(p, dout)
    return [softmax_backward(cache, v, axis, temp).reshape(dout.shape)], {}
