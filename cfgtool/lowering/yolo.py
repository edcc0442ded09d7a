"""[yolo]: the logistic on x, y, objectness and classes (not w, h; nothing with
``new_coords=1``), then ``x, y <- x*scale_x_y - 0.5*(scale_x_y - 1)``, with per-channel constants (see
:func:`head`). The kernel's :func:`logistic_entries` says which entries."""

from __future__ import annotations

import numpy as np

from ..executor.ops.yolo import anchors_of, logistic_entries
from . import chw


def head(g, x, n: int, logistic: np.ndarray, scaled: list[int], scale_x_y: float) -> str:
    """The transform shared with [Gaussian_yolo]: ``logistic``/``scaled`` index an anchor's
    entries; the channels are ``n`` anchors of ``len(logistic)`` entries. With a mix of
    activated and raw channels: ``sigmoid(x) * K + x * R + B`` with per-channel constants (K the
    x/y scale or 1 on activated channels, 0 elsewhere; R 1 on raw channels; B the x/y shift),
    exact because the other term is 0 (OpenCV cannot load the boolean mask a Where needs)."""
    c = g.shape(x)[0]
    mask = np.tile(logistic, n).reshape(c, 1, 1)
    which = np.zeros(c // n, bool)
    which[scaled] = True
    which = np.tile(which, n).reshape(c, 1, 1)
    k = np.where(which, np.float32(scale_x_y), np.float32(1))
    shift = np.where(which, -np.float32(0.5 * (scale_x_y - 1)), np.float32(0))
    if mask.all():
        y = g.op("Sigmoid", [x], g.shape(x))
        terms = [(y, k)]
    elif mask.any():
        terms = [(g.op("Sigmoid", [x], g.shape(x)), np.where(mask, k, 0)), (x, np.where(mask, 0, k))]
    else:
        terms = [(x, k)]
    y = None
    for v, factor in terms:
        if len(terms) > 1 or scale_x_y != 1:
            v = g.op("Mul", [v, g.const(factor.astype(np.float32), "scale")], g.shape(x))
        y = v if y is None else g.op("Add", [y, v], g.shape(x))
    if scale_x_y != 1:
        y = g.op("Add", [y, g.const(shift.astype(np.float32), "shift")], g.shape(x))
    return y


def lower(g, p, w, xs, shape):
    x = g.reshape(xs[0], chw(shape))
    n = p.get("n", 1)
    return head(g, x, n, logistic_entries(p, g.shape(x)[0] // n), [0, 1], p.get("scale_x_y", 1.0))


def decode_unsupported(p, shape) -> str | None:
    try:
        anchors_of(p)
    except ValueError as exc:
        return str(exc)
    return None


def decode(g, p, y: str, net_w: int, net_h: int) -> tuple[str, str]:
    """Darknet's ``get_yolo_box`` on the layer's value ``y``, for every (cell, anchor) in
    Darknet's order (cell by cell, row-major; anchors inside a cell): boxes ``(B, 4)`` as x1,
    y1, x2, y2 in input pixels, scores ``(B, classes)`` = objectness * class probability.
    x = (col + tx) * net_w / w, y likewise; w = exp(tw) * anchor_w (``new_coords=1``:
    tw * tw * 4 * anchor_w)."""
    c, h, w = g.shape(y)
    n, classes = p["n"], p["classes"]
    k = c // n
    boxes = h * w * n
    rec = g.op("Transpose", [g.reshape(y, (n, k, h, w))], (h, w, n, k), perm=[0, 3, 4, 1, 2])
    rec = g.reshape(rec, (boxes, k))
    tx, ty, tw, th, obj, cls, *_ = g.split(rec, 1, [1, 1, 1, 1, 1, classes] + ([k - 5 - classes] if k > 5 + classes
                                                                              else []))
    cell, anchor = np.divmod(np.arange(boxes), n)
    row, col = np.divmod(cell, w)
    size = anchors_of(p)[anchor].astype(np.float32)

    def column(values):
        return g.const(np.asarray(values, np.float32).reshape(boxes, 1), "grid")

    def mul(a, b):
        return g.op("Mul", [a, b], (boxes, 1))

    def add(a, b, op="Add"):
        return g.op(op, [a, b], (boxes, 1))

    cx = mul(add(tx, column(col)), g.const(np.float32(net_w / w)))
    cy = mul(add(ty, column(row)), g.const(np.float32(net_h / h)))
    if p.get("new_coords", 0):
        bw = mul(mul(tw, tw), column(4 * size[:, 0]))
        bh = mul(mul(th, th), column(4 * size[:, 1]))
    else:
        bw = mul(g.op("Exp", [tw], (boxes, 1)), column(size[:, 0]))
        bh = mul(g.op("Exp", [th], (boxes, 1)), column(size[:, 1]))
    half = g.const(np.float32(0.5))
    hw, hh = mul(bw, half), mul(bh, half)
    corners = g.concat([add(cx, hw, "Sub"), add(cy, hh, "Sub"), add(cx, hw), add(cy, hh)], 1)
    return corners, g.op("Mul", [obj, cls], (boxes, classes))
