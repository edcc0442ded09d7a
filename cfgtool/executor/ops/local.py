"""[local]: a locally connected layer, a convolution whose filters differ at every output
position (local_layer.c).

Darknet's geometry: ``pad`` is a flag for the output size, ``out = (h - (pad ? 1 : size)) /
stride + 1``, while im2col pads the image by ``pad`` pixels; the layer reads the im2col matrix
with ``out_h*out_w`` columns, so the two geometries must agree (they do for ``size=3, pad=1``
and for ``pad=0``); otherwise Darknet reads the matrix misaligned and this op refuses
(:func:`unsupported`). Tensors, in .weights order: ``biases`` -- one per output value,
``(n, out_h, out_w)`` flattened -- then ``weights`` ``(out_h*out_w, n, c, size, size)``: for
each location, its ``n x (c*size*size)`` filter matrix. The activation follows; no batch norm.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ...layers.common import cdiv
from .. import activations


def _geometry(p, h, w):
    """(out_h, out_w) of the layer and of Darknet's im2col matrix."""
    k, s, pad = p.size, p.stride, p.pad
    edge = 1 if pad else k
    layer = (cdiv(h - edge, s) + 1, cdiv(w - edge, s) + 1)
    cols = (cdiv(h + 2 * pad - k, s) + 1, cdiv(w + 2 * pad - k, s) + 1)
    return layer, cols


def unsupported(p: dict) -> str | None:
    h, w = p.h, p.w
    if h is None or w is None:
        return None
    layer, cols = _geometry(p, h, w)
    if layer != cols:
        return (f"size={p.size} with pad={p.pad}: Darknet's output is {layer[1]}x{layer[0]} but its im2col "
                f"matrix has {cols[1]}x{cols[0]} columns, so Darknet reads it misaligned; use size=3 with pad=1, "
                "or pad=0")
    return None


def _windows(p, x):
    """(batch, c, out_h, out_w, size, size): the zero-padded input window of every location."""
    (oh, ow), cols = _geometry(p, *x.shape[2:])
    if (oh, ow) != cols:
        raise ValueError(unsupported(replace(p, h=x.shape[2], w=x.shape[3])))
    k, s, pad = p.size, p.stride, p.pad
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    return sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s][:, :, :oh, :ow]


def _filters(w, oh, ow):
    """weights as (out_h, out_w, n, c, size, size)."""
    return w["weights"].reshape((oh, ow) + w["weights"].shape[1:])


def forward(p, w, xs, train):
    (x,) = xs
    win = _windows(p, x)
    b, _, oh, ow = win.shape[:4]
    z = np.einsum("bcyxij,yxncij->bnyx", win, _filters(w, oh, ow), optimize=True)
    z += w["biases"].reshape(1, -1, oh, ow)
    y, act = activations.activate(p.activation, z)
    return y, (x, win, act) if train else None


def backward(p, w, dout, cache):
    x, win, act = cache
    oh, ow = win.shape[2:4]
    k, s, pad = p.size, p.stride, p.pad
    dz = activations.gradient(p.activation, dout, act)
    grads = {"biases": dz.sum(axis=0).reshape(-1),
             "weights": np.einsum("bnyx,bcyxij->yxncij", dz, win, optimize=True).reshape(w["weights"].shape)}
    dwin = np.einsum("bnyx,yxncij->bcyxij", dz, _filters(w, oh, ow), optimize=True)
    b, c, h, wd = x.shape
    dxp = np.zeros((b, c, h + 2 * pad, wd + 2 * pad), dz.dtype)
    for i in range(k):
        for j in range(k):
            dxp[:, :, i:i + s * (oh - 1) + 1:s, j:j + s * (ow - 1) + 1:s] += dwin[..., i, j]
    return [dxp[:, :, pad:pad + h, pad:pad + wd]], grads
