"""[crop]: a ``crop_height x crop_width`` window of the input, times 2 minus 1 (the
[0,1] -> [-1,1] adjustment) unless ``noadjust=1`` (forward_crop_layer).

Inference: the centred window ``dh = (h - crop_h)/2``, ``dw = (w - crop_w)/2``, no flip.
Training: a random window offset (the same for the whole batch, as in Darknet) and, with
``flip=1``, a horizontal flip with probability 1/2, drawn from ``p.rng`` or a generator
seeded with ``p.seed`` (Darknet uses ``rand()``). ``angle``, ``saturation``,
``exposure`` and ``shift`` are not used by Darknet's CPU forward and are ignored here too.
Darknet's backward is empty; here it is the exact gradient w.r.t. the input.
"""

from __future__ import annotations

import numpy as np

from ._util import rng


def _window(p, h: int, w: int, train: bool):
    oh, ow = p.crop_height, p.crop_width
    if oh > h or ow > w:
        raise ValueError(f"[crop] window {ow}x{oh} is larger than its {w}x{h} input")
    flip, dh, dw = False, (h - oh) // 2, (w - ow) // 2
    if train:
        g = rng(p)
        flip = bool(p.flip) and bool(g.integers(2))
        dh, dw = int(g.integers(h - oh + 1)), int(g.integers(w - ow + 1))
    cols = w - dw - 1 - np.arange(ow) if flip else dw + np.arange(ow)
    scale, shift = (1.0, 0.0) if p.noadjust else (2.0, -1.0)
    return slice(dh, dh + oh), cols, scale, shift


def forward(p, w, xs, train):
    x = xs[0]
    rows, cols, scale, shift = _window(p, x.shape[2], x.shape[3], train)
    out = x[:, :, rows][..., cols] * x.dtype.type(scale) + x.dtype.type(shift)
    return out, (x.shape, rows, cols, scale)


def backward(p, w, dout, cache):
    shape, rows, cols, scale = cache
    dx = np.zeros(shape, dout.dtype)
    dx[:, :, rows, cols] = dout * dout.dtype.type(scale)
    return [dx], {}
