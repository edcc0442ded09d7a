"""[region]: YOLOv2's output layer, ``forward_region_layer`` on the CPU (region_layer.c).

Darknet first transposes the buffer (``flatten``) from ``(n*size, h*w)`` to ``(h*w, n*size)``,
``size = coords + classes + 1``, so that each (cell, anchor) is one record of ``size`` values,
then applies the logistic to record entry 4 and, with ``softmax=1``, a softmax over entries
``5 .. 5+classes`` (offsets 4 and 5 are hard-coded, whatever ``coords`` is). The output keeps
that transposed order: the returned array is Darknet's ``l.output`` buffer reshaped to the
nominal ``(batch, c, h, w)`` shape, so its "channels" are not spatial planes.

With ``tree=`` (YOLO9000) the softmax is Darknet's hierarchical one instead (``softmax_tree``
on each record's class entries, whatever ``softmax`` says): a softmax over each group of the
tree file's nodes (``p.hierarchy``, read by the executor), and :func:`decode` multiplies each
class by its parents as ``get_region_boxes`` does.
``backward`` is the derivative of this transform (Darknet's CPU backward adds its loss delta
without un-transposing it).
"""

from __future__ import annotations

import numpy as np

from ...layers.yolo import anchor_boxes
from ..activations import activate, gradient
from ._util import softmax, softmax_backward, tree_softmax, tree_softmax_backward


def unsupported(p) -> str | None:
    """Why this layer cannot run here, or None."""
    if p.coords < 4:
        return f"coords={p.coords} < 4: Darknet's hard-coded entry offsets 4 and 5 overrun each record"
    return None


def forward(p, w, xs, train):
    why = unsupported(p)
    if why:
        raise ValueError(why)
    if p.tree and p.hierarchy is None:
        raise ValueError(f"tree={p.tree}: the tree file was not read (the Executor reads it)")
    x = xs[0]
    b, c, h, wd = x.shape
    classes, n = p.classes, p.n
    rec = x.reshape(b, c, h * wd).transpose(0, 2, 1).reshape(b, h * wd * n, c // n).copy()
    obj, act = activate("logistic", rec[..., 4].copy())
    rec[..., 4] = obj
    soft = None
    if p.hierarchy is not None:
        soft = tree_softmax(rec[..., 5:5 + classes], p.hierarchy)
        rec[..., 5:5 + classes] = soft
    elif p.softmax:
        soft = softmax(rec[..., 5:5 + classes], axis=-1)
        rec[..., 5:5 + classes] = soft
    return rec.reshape(x.shape), (act, soft)


def backward(p, w, dout, cache):
    act, soft = cache
    b, c, h, wd = dout.shape
    classes, n = p.classes, p.n
    d = dout.reshape(b, h * wd * n, c // n).copy()
    d[..., 4] = gradient("logistic", d[..., 4], act)
    if p.hierarchy is not None:
        d[..., 5:5 + classes] = tree_softmax_backward(soft, d[..., 5:5 + classes], p.hierarchy)
    elif soft is not None:
        d[..., 5:5 + classes] = softmax_backward(soft, d[..., 5:5 + classes], axis=-1)
    return [d.reshape(b, h * wd, c).transpose(0, 2, 1).reshape(dout.shape)], {}


def decode(p, out, net_w: int, net_h: int, thresh: float):
    """Darknet's ``custom_get_region_detections`` / ``get_region_boxes`` for one image (see
    :func:`.yolo.decode` for the result): every (cell, anchor) is a detection with objectness
    1 (so NMS keeps them all in play); x = (col + logistic(tx)) / w, w = exp(tw) * anchor_w / w
    (anchors in grid cells); a class probability is ``objectness * class`` (both already
    activated by the forward), 0 when not above ``thresh``; with ``classfix=-1`` an
    objectness below 0.5 counts as 0; with ``tree=`` see :func:`tree_probs`. ``out`` is the
    forward's transposed record buffer."""
    n, classes = p["n"], p["classes"]
    if p.get("coords", 4) != 4:
        raise ValueError(f"coords={p['coords']}: Darknet decodes [region] records at a hard-coded stride of "
                         "classes+5, which misreads records of another size")
    _, h, w = out.shape
    rec = out.reshape(h * w * n, -1)[:, : classes + 5].astype(np.float64)
    index = np.arange(h * w * n)
    cell, anchor = np.divmod(index, n)
    row, col = np.divmod(cell, w)
    biases = np.asarray(anchor_boxes(p["anchors"], range(n), n), np.float64).reshape(-1, 2)[anchor]
    xy = 1 / (1 + np.exp(-rec[:, :2]))
    xywh = np.stack([(col + xy[:, 0]) / w, (row + xy[:, 1]) / h,
                     np.exp(rec[:, 2]) * biases[:, 0] / w, np.exp(rec[:, 3]) * biases[:, 1] / h], axis=1)
    scale = rec[:, 4].astype(np.float32)
    if p.get("classfix", 0) == -1:
        scale[scale < 0.5] = 0
    if p.hierarchy is not None:
        probs = tree_probs(rec[:, 5:5 + classes].astype(np.float32), p.hierarchy.parent, scale, thresh)
    else:
        probs = scale[:, None] * rec[:, 5:5 + classes].astype(np.float32)
        probs[probs <= thresh] = 0
    return xywh.astype(np.float32), np.ones(len(rec), np.float32), probs


def tree_probs(cls: np.ndarray, parent, scale: np.ndarray, thresh: float) -> np.ndarray:
    """``get_region_boxes``' class probabilities with a tree (no ``map``), for records ``cls``
    (N, classes): ``hierarchy_predictions`` multiplies each class, in class order, by its
    parent's value (already multiplied when the parent comes first), then the last class whose
    value is above 0.5 keeps it and every other class is 0; all are 0 unless the objectness
    ``scale`` is above ``thresh`` (the value is not multiplied by the objectness)."""
    cls = cls.copy()
    for j, up in enumerate(parent[:cls.shape[1]]):
        if up >= 0:
            cls[:, j] *= cls[:, up]
    above = cls > 0.5
    last = cls.shape[1] - 1 - np.argmax(above[:, ::-1], axis=1)
    rows = np.nonzero(above.any(axis=1) & (scale > thresh))[0]
    probs = np.zeros_like(cls)
    probs[rows, last[rows]] = cls[rows, last[rows]]
    return probs
