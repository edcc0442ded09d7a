"""[shortcut]: the previous output plus the ``from`` layers' outputs, optionally weighted, then
the activation (shortcut_layer.c, blas.c ``shortcut_multilayer_cpu``).

Per image, with flat buffers of ``S = c*h*w`` values (the previous layer's size):
``out[s] = x0[s]*k0 + sum_i (s < size_i) from_i[s]*k_{i+1}``. A ``from`` layer with another size
is added over the first ``min(size_i, S)`` values only: for equal w x h that is the
overlapping ``min(c)`` channels (Darknet asserts equal w x h).

Weights (``weights_type``): none; ``per_feature`` (alias ``per_layer``): one weight per input,
``(n+1,)``; ``per_channel``: ``(n+1, c)``. Row 0 weights the previous layer, row ``i+1`` the
``i``-th ``from``. ``weights_normalization`` (with weights only): ``relu`` (alias
``avg_relu``): ``relu(w) / (eps + sum relu(w))``; ``softmax``:
``exp(w - max) / (eps + sum exp(w - max))``, ``eps = 0.0001``, sums over the ``n+1`` inputs.

Gradients are exact. Darknet's own weight update ignores the normalization (it accumulates
``delta * input`` into the raw weight), so it differs when a normalization is set.
Darknet's fast path (no weights, one ``from`` whose *input* dims equal this layer's) adds whole
buffers and reads past a smaller ``from`` output; the overlap rule here is its defined part.
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ..activations import activate, gradient
from ._util import flat

EPS = 0.0001
_TYPES = {"none": 0, "per_feature": 1, "per_layer": 1, "per_channel": 2}
_NORMS = {"none": 0, "relu": 1, "avg_relu": 1, "softmax": 2}


def _weights_type(p) -> int:
    return _TYPES[p.weights_type]


def _normalization(p) -> int:
    return _NORMS.get(p.weights_normalization, 0)


def _coefficients(raw: np.ndarray, norm: int) -> np.ndarray:
    """Normalized weights, ``raw`` is ``(n+1, k)``; the sums run over axis 0."""
    if norm == 1:
        r = np.maximum(raw, 0)
        return r / (EPS + r.sum(axis=0))
    if norm == 2:
        e = np.exp(raw - raw.max(axis=0))
        return e / (EPS + e.sum(axis=0))
    return raw


def _coefficients_backward(raw, coef, dcoef, norm):
    if norm == 1:
        r = np.maximum(raw, 0)
        total = EPS + r.sum(axis=0)
        dr = dcoef / total - (dcoef * r).sum(axis=0) / total**2
        return dr * (raw > 0)
    if norm == 2:
        e = np.exp(raw - raw.max(axis=0))
        total = EPS + e.sum(axis=0)
        # the max shift does not cancel because of eps: it adds eps to the first argmax's term
        e[raw.argmax(axis=0), np.arange(raw.shape[1])] += EPS
        return coef * dcoef - (dcoef * coef).sum(axis=0) * e / total
    return dcoef


def forward(p, w, xs, train):
    x0 = flat(xs[0])
    size = x0.shape[1]
    raw = coef = spread = None
    if _weights_type(p):
        raw = w["weights"].reshape(len(xs), -1)
        coef = _coefficients(raw, _normalization(p))
        spread = coef[:, np.arange(size) // (size // raw.shape[1])]  # (n+1, S): weight of each value
        z = x0 * spread[0]
    else:
        z = kernels.empty(x0.shape, x0.dtype)
        np.copyto(z, x0) if len(xs) == 1 or flat(xs[1]).shape[1] != size else np.add(x0, flat(xs[1]), out=z)
    for i, x in enumerate(xs[1:], 1):
        f = flat(x)
        m = min(f.shape[1], size)
        if spread is None and i == 1 and f.shape[1] == size:
            continue  # added above
        z[:, :m] += f[:, :m] * spread[i, :m] if spread is not None else f[:, :m]
    y, act = activate(p.activation, z.reshape(xs[0].shape))
    return y, (xs, raw, coef, spread, act)


def backward(p, w, dout, cache):
    xs, raw, coef, spread, act = cache
    dz = flat(gradient(p.activation, dout, act))
    size = dz.shape[1]
    grads, dspread = [], []
    for i, x in enumerate(xs):
        f = flat(x)
        m = min(f.shape[1], size)
        g = kernels.empty(f.shape, f.dtype)
        if m < f.shape[1]:
            g[:, m:] = 0
        g[:, :m] = dz[:, :m] * spread[i, :m] if spread is not None else dz[:, :m]
        grads.append(g.reshape(x.shape))
        if spread is not None:
            d = np.zeros(size, dz.dtype)
            d[:m] = (dz[:, :m] * f[:, :m]).sum(axis=0)
            dspread.append(d)
    if spread is None:
        return grads, {}
    dcoef = np.stack(dspread).reshape(len(xs), raw.shape[1], -1).sum(axis=2)
    dw = _coefficients_backward(raw, coef, dcoef, _normalization(p))
    return grads, {"weights": dw.reshape(w["weights"].shape).astype(dout.dtype, copy=False)}
