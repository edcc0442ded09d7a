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

from ...layers.yolo import anchor_boxes
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


def anchors_of(p) -> np.ndarray:
    """The (w, h) anchor of each of this layer's ``n`` masks, in pixels of the network input
    (:func:`cfgtool.layers.yolo.anchor_boxes`: 0.5 past the given anchors, like Darknet).
    A mask index at or beyond ``num`` reads past Darknet's biases: refused (ValueError)."""
    return np.asarray(anchor_boxes(p["anchors"], p["mask"], p["total"]), np.float64).reshape(-1, 2)


def records(out: np.ndarray, n: int) -> np.ndarray:
    """One image's layer output ``(n*k, h, w)`` as rows of ``k`` entries, one per (cell,
    anchor) in Darknet's detection order: cell by cell (row-major), anchors inside a cell."""
    c, h, w = out.shape
    return out.reshape(n, c // n, h, w).transpose(2, 3, 0, 1).reshape(h * w * n, c // n)


def candidates(p, out: np.ndarray, objectness: int, thresh: float):
    """The (cell, anchor) records of one image whose entry ``objectness`` is above ``thresh``:
    (records as float64, objectness as float32, column, row, anchor (w, h) in pixels), in
    Darknet's order."""
    _, _, w = out.shape
    rec = records(out, p["n"])
    index = np.nonzero(rec[:, objectness] > thresh)[0]
    cell, anchor = np.divmod(index, p["n"])
    row, col = np.divmod(cell, w)
    return rec[index].astype(np.float64), rec[index, objectness].astype(np.float32), col, row, anchors_of(p)[anchor]


def class_probs(obj: np.ndarray, classes: np.ndarray, thresh: float, factor: np.ndarray | None = None) -> np.ndarray:
    """``objectness * class`` (times ``factor``, in double as Darknet's C does) in float32, 0
    where not above ``thresh``."""
    probs = obj[:, None] * classes.astype(np.float32)
    if factor is not None:
        probs = (probs * factor[:, None]).astype(np.float32)
    probs[probs <= thresh] = 0
    return probs


def decode(p, out: np.ndarray, net_w: int, net_h: int, thresh: float):
    """Darknet's ``get_yolo_detections`` / ``get_yolo_box`` for one image, before the
    letterbox correction. ``out``: this layer's forward output ``(c, h, w)`` (logistic and
    scale_x_y already applied). Returns ``(xywh, objectness, probs)`` for each (cell, anchor)
    whose objectness is above ``thresh``, in Darknet's order: box centre and size relative to
    the network input (``float32 (N, 4)``), objectness ``(N,)`` and ``objectness * class``
    ``(N, classes)`` with values not above ``thresh`` set to 0.

    x = (col + tx) / w, y = (row + ty) / h; w = exp(tw) * anchor_w / net_w (with
    ``new_coords=1``: tw^2 * 4 * anchor_w / net_w), the same for h.
    """
    _, h, w = out.shape
    t, obj, col, row, anchors = candidates(p, out, 4, thresh)
    if p.get("new_coords", 0):
        bw, bh = t[:, 2] * t[:, 2] * 4 * anchors[:, 0] / net_w, t[:, 3] * t[:, 3] * 4 * anchors[:, 1] / net_h
    else:
        bw, bh = np.exp(t[:, 2]) * anchors[:, 0] / net_w, np.exp(t[:, 3]) * anchors[:, 1] / net_h
    xywh = np.stack([(col + t[:, 0]) / w, (row + t[:, 1]) / h, bw, bh], axis=1).astype(np.float32)
    return xywh, obj, class_probs(obj, t[:, 5:5 + p["classes"]], thresh)
