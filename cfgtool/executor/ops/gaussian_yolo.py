"""[Gaussian_yolo]: the inference transform of ``forward_gaussian_yolo_layer``.

Per anchor ``9 + classes`` entries: ``x, sigma_x, y, sigma_y, w, sigma_w, h, sigma_h,
objectness, classes...``. Logistic on every entry except the w and h means (4 and 6); then
``x*scale_x_y - 0.5*(scale_x_y - 1)`` on the x and y means only (0 and 2). ``backward`` is the
derivative of this transform, not Darknet's loss delta (see :mod:`.yolo`).
"""

from __future__ import annotations

import numpy as np

from .yolo import candidates, class_probs, transform, transform_backward

SCALED = [0, 2]


def _mask(entries: int) -> np.ndarray:
    mask = np.ones(entries, bool)
    mask[[4, 6]] = False
    return mask


def forward(p, w, xs, train):
    x = xs[0]
    n = p.n
    return transform(x, n, _mask(x.shape[1] // n), SCALED, p.scale_x_y)


def backward(p, w, dout, cache):
    n = p.n
    return [transform_backward(dout, n, _mask(dout.shape[1] // n), SCALED, p.scale_x_y, cache)], {}


def decode(p, out, net_w: int, net_h: int, thresh: float):
    """Darknet's ``get_gaussian_yolo_detections`` / ``get_gaussian_yolo_box`` for one image
    (see :func:`.yolo.decode` for the result). Entries: x 0, y 2, w 4, h 6, their
    uncertainties 1, 3, 5, 7, objectness 8; a class probability is ``objectness * class *
    (1 - mean uncertainty)``; ``yolo_point`` left_top / right_bottom moves the centre by half
    the box."""
    _, h, w = out.shape
    t, obj, col, row, anchors = candidates(p, out, 8, thresh)
    bw, bh = np.exp(t[:, 4]) * anchors[:, 0] / net_w, np.exp(t[:, 6]) * anchors[:, 1] / net_h
    x, y = (col + t[:, 0]) / w, (row + t[:, 2]) / h
    sign = {"left_top": 1, "right_bottom": -1}.get(p.get("yolo_point", "center"), 0)
    xywh = np.stack([x + sign * bw / 2, y + sign * bh / 2, bw, bh], axis=1).astype(np.float32)
    uc = (t[:, [1, 3, 5, 7]].astype(np.float32).sum(axis=1) / 4.0).astype(np.float32)  # float uc_aver
    return xywh, obj, class_probs(obj, t[:, 9:9 + p["classes"]], thresh, 1.0 - uc.astype(np.float64))
