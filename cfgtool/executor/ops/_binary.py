"""Binary (``binary=1``) and XNOR (``xnor=1``) convolutions, wrapped around the plain
[convolutional] op (convolutional_layer.c ``binarize_weights``/``binarize_cpu``,
convolutional_kernels.cu).

Forward: each filter's weights become ``sign(w) * mean|w|`` (the mean over that filter's
``c/groups*size*size`` weights; ``w > 0`` counts as positive, like Darknet); with ``xnor`` the
input also becomes ``sign(x)``, +1 where ``x > 0`` else -1, without scaling (zero padding
stays 0). The convolution, batch norm (folded after binarizing, which is the same as Darknet
folding first) and activation follow unchanged.

Where Darknet differs: its CPU build ignores ``binary=1`` (only the GPU binarizes then), and its
CPU float path for ``xnor`` passes the whole tensor's size as one filter's, taking the mean
over all filters (and overrunning its buffer); the per-filter mean used here is the one of the
GPU and of its bit-packed inference, which also treats padding as -1 rather than 0 and, with
``bin_output=1``, drops the activation of a fused layer (neither is modelled).

Backward, ``p.binary_gradient``:
- ``"exact"`` (default): the derivative of this forward, signs held (so gradient checks hold):
  ``dL/dw_j = sign_j / K * sum_i sign_i dL/db_i`` per filter of ``K`` weights, and zero for an
  XNOR layer's input (``sign`` is flat);
- ``"ste"``: Darknet's straight-through estimator: the gradient w.r.t. the binarized weights
  is applied to the real ones, and the input gradient (computed with the binarized weights) is
  passed where ``-1 < x < 1`` (hardtan's derivative) and zeroed elsewhere.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..activations import piece


def active(p: dict) -> bool:
    return bool(p.xnor or p.binary)


def _signs(a: np.ndarray) -> np.ndarray:
    """+1 where ``a > 0``, else -1 (a piece, so gradient checks can hold it)."""
    return np.where(piece(lambda: a > 0), 1, -1).astype(a.dtype)


def binarize(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(binarized weights, their signs): ``sign * mean|w|`` per filter (first axis)."""
    sign = _signs(weights)
    mean = (sign * weights).reshape(len(weights), -1).mean(axis=1)
    return sign * mean.reshape((-1,) + (1,) * (weights.ndim - 1)), sign


def binarized(w: dict) -> dict:
    """``w`` with its ``weights`` binarized (what :func:`prepare` folds for inference)."""
    return dict(w, weights=binarize(w["weights"])[0])


def forward(p, w, xs, train, inner):
    """The binary/XNOR layer; ``inner`` is the plain convolution's forward."""
    (x,) = xs
    plain = replace(p, xnor=0, binary=0)
    if not train and "_prepared" in w:  # prepared from binarized weights already
        wb, sign = w, None
    else:
        wb_weights, sign = binarize(w["weights"])
        wb = dict(w, weights=wb_weights)
    xb = _signs(x) if p.xnor else x
    out, cache = inner(plain, wb, [xb], train)
    return out, (cache, wb, sign, x) if train else None


def backward(p, w, dout, cache, inner):
    """Gradients of :func:`forward` (``inner`` is the plain convolution's backward)."""
    conv_cache, wb, sign, x = cache
    (dxb,), grads = inner(replace(p, xnor=0, binary=0), wb, dout, conv_cache)
    ste = p.binary_gradient == "ste"
    gb = grads["weights"]
    if not ste:
        k = gb[0].size
        grads["weights"] = sign * (sign * gb).reshape(len(gb), -1).sum(axis=1).reshape(
            (-1,) + (1,) * (gb.ndim - 1)) / k
    if p.xnor:
        dxb = dxb * ((x > -1) & (x < 1)) if ste else np.zeros_like(dxb)
    return [dxb], grads
