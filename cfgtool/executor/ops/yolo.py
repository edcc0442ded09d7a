"""[yolo]: the inference transform ``forward_yolo_layer`` applies to its input (yolo_layer.c).

The input has ``n * (4 + 1 + classes)`` channels: per anchor ``x, y, w, h, objectness,
classes...``. Without ``new_coords``: logistic on x, y, objectness and classes (w, h stay raw);
with ``new_coords=1``: nothing is activated (the previous layer is expected to be logistic).
Then in both cases ``x, y <- x*scale_x_y - 0.5*(scale_x_y - 1)``.

``backward`` is the derivative of this transform (what gradient checks and smoke runs need).
Darknet's own backward passes the *loss* delta that the training branch of
``forward_yolo_layer`` computes against ground-truth boxes; that loss is not modelled here.
"""

from __future__ import annotations

import numpy as np

from ..activations import activate, gradient


def anchor_view(x: np.ndarray, n: int) -> np.ndarray:
    """``(b, n*k, h, w)`` -> ``(b, n, k, h, w)``: one row of ``k`` entries per anchor."""
    b, c, h, w = x.shape
    return x.reshape(b, n, c // n, h, w)


def logistic_entries(p, entries: int) -> np.ndarray:
    """Mask over an anchor's ``entries``: which go through the logistic."""
    mask = np.ones(entries, bool)
    if p.new_coords:
        mask[:] = False
    else:
        mask[2:4] = False  # w, h
    return mask


def transform(x, n, logistic_mask, scaled, scale_x_y):
    """Logistic on the masked entries, then the x/y scaling on the ``scaled`` entries."""
    v = anchor_view(x, n).copy()
    act = None
    if logistic_mask.any():
        y, act = activate("logistic", v[:, :, logistic_mask])
        v[:, :, logistic_mask] = y
    k = x.dtype.type(scale_x_y)
    v[:, :, scaled] = v[:, :, scaled] * k - x.dtype.type(0.5 * (scale_x_y - 1))
    return v.reshape(x.shape), act


def transform_backward(dout, n, logistic_mask, scaled, scale_x_y, act):
    d = anchor_view(dout, n).copy()
    d[:, :, scaled] *= dout.dtype.type(scale_x_y)
    if act is not None:
        d[:, :, logistic_mask] = gradient("logistic", d[:, :, logistic_mask], act)
    return d.reshape(dout.shape)


def forward(p, w, xs, train):
    x = xs[0]
    n = p.n
    mask = logistic_entries(p, x.shape[1] // n)
    return transform(x, n, mask, [0, 1], p.scale_x_y)


def backward(p, w, dout, cache):
    n = p.n
    mask = logistic_entries(p, dout.shape[1] // n)
    return [transform_backward(dout, n, mask, [0, 1], p.scale_x_y, cache)], {}
