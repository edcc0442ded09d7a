"""Small numpy helpers shared by the op modules (no layer logic here)."""

from __future__ import annotations

import numpy as np


def flat(x: np.ndarray) -> np.ndarray:
    """``(batch, ...)`` -> ``(batch, n)``: Darknet's per-image buffer view."""
    return x.reshape(x.shape[0], -1)


def softmax(x: np.ndarray, axis: int, temp: float = 1.0) -> np.ndarray:
    """Darknet's ``softmax()`` along ``axis``: ``exp(x/t - max/t) / sum``."""
    top = x.max(axis=axis, keepdims=True)
    e = np.exp(x / temp - top / temp)
    return e / e.sum(axis=axis, keepdims=True)


def softmax_backward(y: np.ndarray, dy: np.ndarray, axis: int, temp: float = 1.0) -> np.ndarray:
    """Gradient of :func:`softmax` w.r.t. its input, given its output ``y``."""
    return y * (dy - (dy * y).sum(axis=axis, keepdims=True)) / temp


def tree_softmax(x: np.ndarray, tree, temp: float = 1.0) -> np.ndarray:
    """Darknet's ``softmax_tree``: a softmax over each group of ``tree`` (a
    :class:`cfgtool.hierarchy.Tree`), the groups end to end along the last axis from 0; the
    values past the tree's nodes are 0 (Darknet never writes them)."""
    y = np.zeros_like(x)
    for offset, size in tree.groups:
        y[..., offset:offset + size] = softmax(x[..., offset:offset + size], -1, temp)
    return y


def tree_softmax_backward(y: np.ndarray, dy: np.ndarray, tree, temp: float = 1.0) -> np.ndarray:
    """Gradient of :func:`tree_softmax` w.r.t. its input, given its output ``y``."""
    dx = np.zeros_like(dy)
    for offset, size in tree.groups:
        part = slice(offset, offset + size)
        dx[..., part] = softmax_backward(y[..., part], dy[..., part], -1, temp)
    return dx


def rng(p: dict) -> np.random.Generator:
    """The generator a random op draws from: ``p.rng`` if given, else a fresh one seeded with
    ``p.seed`` (so a forward pass is reproducible)."""
    g = p.rng
    return g if g is not None else np.random.default_rng(p.seed)


def scatter_add(size: int, index: np.ndarray, values: np.ndarray, dtype) -> np.ndarray:
    """A length-``size`` vector with ``values`` summed into positions ``index``."""
    return np.bincount(index.ravel(), weights=values.ravel(), minlength=size)[:size].astype(dtype, copy=False)
