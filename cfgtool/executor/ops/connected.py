"""[connected]: a fully connected layer (connected_layer.c), optional batch norm, activation.

``weights`` is ``(outputs, inputs)``; the input is each image's flat ``c*h*w`` buffer. Batch
norm statistics in training are over the batch (divisor ``batch-1`` for the variance, 1 when
the batch is 1); inference folds the rolling statistics in once (:func:`prepare`). The output
is ``(batch, outputs, 1, 1)``. Darknet's CPU build outputs 0 for relu6/swish/mish/hard_mish
here (see :mod:`cfgtool.executor.activations`); the intended function is computed instead.
"""

from __future__ import annotations

import numpy as np

from .. import activations, kernels
from .convolutional import BN_EPS, bn_fold


def prepare(p, w):
    weights, biases = bn_fold(w, w["weights"]) if p.batch_normalize else (w["weights"], w["biases"])
    return {"matrix_t": np.ascontiguousarray(weights.T), "bias": biases}


def forward(p, w, xs, train):
    (x,) = xs
    b = x.shape[0]
    flat = x.reshape(b, -1)
    name = p.activation
    if not train:
        prep = w.get("_prepared") or prepare(p, w)
        matrix = prep["matrix_t"]
        z = kernels.matmul(flat, matrix, kernels.empty((b, matrix.shape[1]), np.result_type(flat, matrix)))
        return activations.activate_inplace(name, z, prep["bias"]).reshape(b, -1, 1, 1), None
    z = flat @ w["weights"].T
    norm = None
    if p.batch_normalize:
        count = b
        centred = z - z.mean(axis=0)
        inv_std = 1 / np.sqrt(np.square(centred).sum(axis=0) / max(count - 1, 1) + BN_EPS)
        xhat = centred * inv_std
        z = xhat * w["scales"] + w["biases"]
        norm = (xhat, inv_std, count)
    else:
        z = z + w["biases"]
    y, act_cache = activations.activate(name, z)
    return y.reshape(b, -1, 1, 1), (x.shape, flat, norm, act_cache)


def backward(p, w, dout, cache):
    x_shape, flat, norm, act_cache = cache
    dz = activations.gradient(p.activation, dout.reshape(dout.shape[0], -1), act_cache)
    grads = {"biases": dz.sum(axis=0)}
    if norm is not None:
        xhat, inv_std, count = norm
        grads["scales"] = (dz * xhat).sum(axis=0)
        dxhat = dz * w["scales"]
        dz = inv_std * (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).sum(axis=0) / max(count - 1, 1))
    grads["weights"] = dz.T @ flat
    return [(dz @ w["weights"]).reshape(x_shape)], grads
