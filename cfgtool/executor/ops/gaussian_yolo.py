"""[Gaussian_yolo]: the inference transform of ``forward_gaussian_yolo_layer``.

Per anchor ``9 + classes`` entries: ``x, sigma_x, y, sigma_y, w, sigma_w, h, sigma_h,
objectness, classes...``. Logistic on every entry except the w and h means (4 and 6); then
``x*scale_x_y - 0.5*(scale_x_y - 1)`` on the x and y means only (0 and 2). ``backward`` is the
derivative of this transform, not Darknet's loss delta (see :mod:`.yolo`).
"""

from __future__ import annotations

import numpy as np

from .yolo import transform, transform_backward

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
