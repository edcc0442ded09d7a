"""[lrn] / [normalization]: local response normalization across channels
(normalization_layer.c): ``out = x * norms^(-beta)``, ``norms = kappa + alpha * S``.

``S[k]`` should be the sum of squares over channels ``k-(size-1)/2 .. k+size/2``. Darknet's
running sum starts from channels ``0 .. size/2 - 1`` and then only adds channels from
``1 + size/2`` on, so channel ``m = size/2`` is never added but is still subtracted once the
window passes it: every ``S[k]`` is the true window sum minus ``x[m]^2`` (when ``m < c``).
That is reproduced here (``norms`` can go negative, giving NaN like Darknet). The window weights
form a fixed ``c x c`` matrix, so the gradient is exact (Darknet's backward drops the
``norms`` term).
"""

from __future__ import annotations

import numpy as np


def window_matrix(c: int, size: int) -> np.ndarray:
    """``M[k, j]``: the weight of channel ``j``'s square in ``S[k]``."""
    if size // 2 > c:
        raise ValueError(f"[lrn] size={size} reaches past the {c} channels (Darknet reads outside its buffer)")
    k, j = np.arange(c)[:, None], np.arange(c)[None, :]
    m = ((j >= k - (size - 1) // 2) & (j <= k + size // 2)).astype(float)
    if size // 2 < c:
        m[:, size // 2] -= 1
    return m


def forward(p, w, xs, train):
    x = xs[0]
    alpha, beta, kappa = p.alpha, p.beta, p.kappa
    mat = window_matrix(x.shape[1], p.size).astype(x.dtype)
    norms = kappa + alpha * np.einsum("kj,bjhw->bkhw", mat, x * x)
    with np.errstate(invalid="ignore"):
        scale = norms ** -beta
    return (x * scale).astype(x.dtype, copy=False), (x, mat, norms, scale)


def backward(p, w, dout, cache):
    x, mat, norms, scale = cache
    alpha, beta = p.alpha, p.beta
    g = dout * x * (-beta) * scale / norms * alpha
    return [(dout * scale + 2 * x * np.einsum("kj,bkhw->bjhw", mat, g)).astype(dout.dtype, copy=False)], {}
