"""[maxpool]: Darknet's max pooling (maxpool_layer.c).

``pad`` is Darknet's total padding (default size-1): windows start at ``-pad/2`` and the
output is ``(w + pad - size) / stride_x + 1`` (C division: a window may run past the image);
cells outside the image count as -FLT_MAX.
Ties go to the first maximum in row-major window order and the gradient goes to that one
input, as Darknet's ``indexes``. With ``maxpool_depth`` the maximum is taken across channels
``g, g + out_channels, g + 2*out_channels, ...`` for output channel ``g``, at each pixel.

Inference takes the maximum separably (over the window's columns, then its rows), a few
whole-tensor ``np.maximum`` calls; training materialises the windows to find the argmax (a
:func:`~cfgtool.executor.activations.piece`, so gradient checks can hold it fixed).
"""

from __future__ import annotations

import numpy as np

from ...layers.common import cdiv
from ..activations import piece
from . import _blur
from ._util import scatter_add


LOWEST = float(-np.finfo(np.float32).max)  # Darknet's -FLT_MAX (float64 runs use it too)


def _padded(p, x):
    """The input inside a -FLT_MAX border: (padded, offset, out_h, out_w)."""
    b, c, h, w = x.shape
    k, sx, sy, pad = p.size, p.stride_x, p.stride_y, p.pad
    oh, ow = cdiv(h + pad - k, sy) + 1, cdiv(w + pad - k, sx) + 1
    off = pad // 2
    hp = max(off + h, (oh - 1) * sy + k)
    wp = max(off + w, (ow - 1) * sx + k)
    if off == 0 and hp == h and wp == w:
        return x, 0, oh, ow
    xp = np.full((b, c, hp, wp), LOWEST, x.dtype)
    xp[:, :, off:off + h, off:off + w] = x
    return xp, off, oh, ow


def _depth_groups(p, x):
    """(batch, q, out_channels, h, w): channel t*out_channels + g at [:, t, g]; -FLT_MAX filler."""
    b, c, h, w = x.shape
    oc = p.out_channels
    q = -(-c // oc)
    if q * oc != c:
        x = np.concatenate([x, np.full((b, q * oc - c, h, w), LOWEST, x.dtype)], axis=1)
    return x.reshape(b, q, oc, h, w)


def forward(p, w, xs, train):
    if p.antialiasing:  # ops/_blur.py: the blur layer after the pooling
        return _blur.forward(p, w, xs, train, forward)
    (x,) = xs
    if p.maxpool_depth:
        grouped = _depth_groups(p, x)
        if not train:
            return grouped.max(axis=1), None
        arg = piece(lambda: grouped.argmax(axis=1))
        out = np.take_along_axis(grouped, arg[:, None], axis=1)[:, 0]
        return out, ("depth", x.shape, arg)
    xp, off, oh, ow = _padded(p, x)
    k, sx, sy = p.size, p.stride_x, p.stride_y
    if not train:
        rows = xp[:, :, :, 0:(ow - 1) * sx + 1:sx].copy()
        for j in range(1, k):
            np.maximum(rows, xp[:, :, :, j:j + (ow - 1) * sx + 1:sx], out=rows)
        out = rows[:, :, 0:(oh - 1) * sy + 1:sy].copy()
        for i in range(1, k):
            np.maximum(out, rows[:, :, i:i + (oh - 1) * sy + 1:sy], out=out)
        return out, None
    b, c, hp, wp = xp.shape
    arg = piece(lambda: _first_maximum(xp, k, sy, sx, oh, ow))
    # flat index of each maximum in the padded input
    r = np.arange(oh).reshape(oh, 1) * sy + arg // k
    col = np.arange(ow) * sx + arg % k
    plane = (np.arange(b).reshape(b, 1, 1, 1) * c + np.arange(c).reshape(1, c, 1, 1)) * (hp * wp)
    index = plane + r * wp + col
    return xp.reshape(-1)[index], ("window", x.shape, xp.shape, off, index)


def _first_maximum(xp, k, sy, sx, oh, ow):
    """Position ``row * k + column`` in each window of its first maximum in row-major order
    (Darknet's strict ``>`` scan), found separably: along each row of the window, then
    across the rows."""
    best = xp[:, :, :, 0:(ow - 1) * sx + 1:sx].copy()  # per padded row: the maximum over k columns
    best_col = np.zeros(best.shape, np.int32)
    for j in range(1, k):
        cand = xp[:, :, :, j:j + (ow - 1) * sx + 1:sx]
        better = cand > best
        np.copyto(best, cand, where=better)
        np.copyto(best_col, j, where=better)
    top = best[:, :, 0:(oh - 1) * sy + 1:sy].copy()
    top_row = np.zeros(top.shape, np.int32)
    for i in range(1, k):
        cand = best[:, :, i:i + (oh - 1) * sy + 1:sy]
        better = cand > top
        np.copyto(top, cand, where=better)
        np.copyto(top_row, i, where=better)
    rows = np.arange(oh).reshape(oh, 1) * sy + top_row
    return top_row * k + np.take_along_axis(best_col, rows, axis=2)


def backward(p, w, dout, cache):
    if p.antialiasing:
        return _blur.backward(p, w, dout, cache, backward)
    if cache[0] == "depth":
        _, x_shape, arg = cache
        b, c, h, wd = x_shape
        oc = p.out_channels
        q = -(-c // oc)
        dx = np.zeros((b, q, oc, h, wd), dout.dtype)
        np.put_along_axis(dx, arg[:, None], dout[:, None], axis=1)
        return [dx.reshape(b, q * oc, h, wd)[:, :c]], {}
    _, x_shape, xp_shape, off, index = cache
    b, c, h, wd = x_shape
    dxp = scatter_add(int(np.prod(xp_shape)), index, dout, dout.dtype).reshape(xp_shape)
    return [dxp[:, :, off:off + h, off:off + wd]], {}
