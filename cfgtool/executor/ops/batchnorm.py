"""[batchnorm]: per-channel batch normalization with learnable scales and biases
(batchnorm_layer.c). Learnable tensors in Darknet's .weights order: biases, scales,
rolling_mean, rolling_variance (``c`` values each).

Training: batch mean and the *unbiased* batch variance (``/(N-1)``, N = batch*h*w, as
``variance_cpu``; 1 when N is 1, where Darknet gets NaN);
``x_norm = (x - mean)/sqrt(var + 1e-5)``; ``out = scales*x_norm + biases``. Inference: the
rolling statistics instead. As in the convolutional op, a training forward does not update the
rolling statistics (Darknet moves them by ``0.9*old + 0.1*batch``). The gradients are exact;
Darknet's CPU backward uses ``1/(sqrt(var) + 1e-5)`` in one term and computes no bias gradient
for this layer type.
"""

from __future__ import annotations

import numpy as np

from .convolutional import BN_EPS

AXES = (0, 2, 3)


def _dof(x: np.ndarray) -> int:
    """The variance divisor N-1 (N values per channel), at least 1."""
    return max(x.size // x.shape[1] - 1, 1)


def _col(v: np.ndarray) -> np.ndarray:
    return v.reshape(1, -1, 1, 1)


def forward(p, w, xs, train):
    x = xs[0]
    if train:
        mean = x.mean(axis=AXES)
        var = ((x - _col(mean)) ** 2).sum(axis=AXES) / _dof(x)
    else:
        mean, var = w["rolling_mean"], w["rolling_variance"]
    inv = 1 / np.sqrt(var + x.dtype.type(BN_EPS))
    x_norm = (x - _col(mean)) * _col(inv)
    out = x_norm * _col(w["scales"]) + _col(w["biases"])
    return out.astype(x.dtype, copy=False), (x_norm, inv, train)


def backward(p, w, dout, cache):
    x_norm, inv, train = cache
    grads = {"biases": dout.sum(axis=AXES), "scales": (dout * x_norm).sum(axis=AXES)}
    dnorm = dout * _col(w["scales"])
    if not train:
        return [dnorm * _col(inv)], grads
    # var is /(N-1); mean's gradient through var vanishes because sum(x - mean) = 0
    dx = _col(inv) * (dnorm - _col(dnorm.mean(axis=AXES))
                      - x_norm * _col((dnorm * x_norm).sum(axis=AXES)) / _dof(dout))
    return [dx.astype(dout.dtype, copy=False)], grads
