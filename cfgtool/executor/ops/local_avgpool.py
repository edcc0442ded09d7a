"""[local_avgpool]: ``size x size`` average pooling with ``stride_x``/``stride_y`` and
``pad`` (forward_local_avgpool_layer, maxpool_layer.c).

Output ``(w + pad - size)/stride_x + 1`` by ``(h + pad - size)/stride_y + 1``; windows start at
``-pad/2``; each output is the mean of the window's positions that fall inside the input (the
padding is not counted; an all-padding window gives 0/0 = NaN as in Darknet). Darknet's backward
divides by ``size*size`` even where fewer positions were averaged; the gradient here is exact.
"""

from __future__ import annotations

import numpy as np


def _ctrunc(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _geometry(p, h: int, w: int):
    size, pad = p.size, p.pad
    sy, sx = (p.stride if s is None else s for s in (p.stride_y, p.stride_x))
    oh, ow = _ctrunc(h + pad - size, sy) + 1, _ctrunc(w + pad - size, sx) + 1
    off = -_ctrunc(pad, 2)
    # padding that makes every window position an index of the padded array
    before = max(0, -off)
    after_h = max(0, off + (oh - 1) * sy + size - h)
    after_w = max(0, off + (ow - 1) * sx + size - w)
    return size, sy, sx, oh, ow, off + before, ((before, after_h), (before, after_w))


def _windows(size, sy, sx, oh, ow, start):
    """The (rows, cols) slices of the padded array for each of the ``size*size`` kernel taps."""
    for n in range(size):
        for m in range(size):
            yield (slice(start + n, start + n + (oh - 1) * sy + 1, sy),
                   slice(start + m, start + m + (ow - 1) * sx + 1, sx))


def forward(p, w, xs, train):
    x = xs[0]
    b, c, h, wd = x.shape
    size, sy, sx, oh, ow, start, pads = _geometry(p, h, wd)
    xp = np.pad(x, ((0, 0), (0, 0)) + pads)
    inside = np.pad(np.ones((h, wd), x.dtype), pads)
    total = np.zeros((b, c, oh, ow), x.dtype)
    count = np.zeros((oh, ow), x.dtype)
    for rows, cols in _windows(size, sy, sx, oh, ow, start):
        total += xp[:, :, rows, cols]
        count += inside[rows, cols]
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count, (x.shape, count)


def backward(p, w, dout, cache):
    shape, count = cache
    b, c, h, wd = shape
    size, sy, sx, oh, ow, start, pads = _geometry(p, h, wd)
    (top, bottom), (left, right) = pads
    dxp = np.zeros((b, c, h + top + bottom, wd + left + right), dout.dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = dout / count
    for rows, cols in _windows(size, sy, sx, oh, ow, start):
        dxp[:, :, rows, cols] += share
    return [dxp[:, :, top:top + h, left:left + wd]], {}
