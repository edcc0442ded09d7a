"""Anti-aliasing (``antialiasing=1|2`` on [convolutional] and [maxpool]): the blur layer
Darknet appends inside the layer (``l.input_layer``, made in make_convolutional_layer /
make_maxpool_layer), wrapped around the plain op.

The layer itself runs with stride 1; then a depthwise convolution with a fixed kernel -- 3x3
``[1 2 1; 2 4 2; 1 2 1] / 16`` padded by 1, or 2x2 ``1/4`` unpadded for ``antialiasing=2`` --
and the layer's stride (``blur_size``, ``blur_pad``, ``blur_stride_x``/``_y`` in the params)
makes the output the next layer receives (LayerShape.feeds). The blur has no learnable tensors
(Darknet's are fixed and not in .weights), linear activation, zero bias.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...layers.common import cdiv

_KERNELS = {3: np.outer([1, 2, 1], [1, 2, 1]) / 16, 2: np.full((2, 2), 1 / 4)}


def _geometry(p, h, w):
    k, pad, sy, sx = p.blur_size, p.blur_pad, p.blur_stride_y, p.blur_stride_x
    return k, pad, sy, sx, cdiv(h + 2 * pad - k, sy) + 1, cdiv(w + 2 * pad - k, sx) + 1


def blur(p, y: np.ndarray) -> np.ndarray:
    """The blur layer's output for the layer output ``y`` (batch, c, h, w)."""
    k, pad, sy, sx, oh, ow = _geometry(p, *y.shape[2:])
    yp = np.pad(y, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else y
    out = np.zeros(y.shape[:2] + (oh, ow), y.dtype)
    for i in range(k):
        for j in range(k):
            out += float(_KERNELS[k][i, j]) * yp[:, :, i:i + sy * (oh - 1) + 1:sy, j:j + sx * (ow - 1) + 1:sx]
    return out


def blur_backward(p, dout: np.ndarray, y_shape) -> np.ndarray:
    """The gradient w.r.t. ``y`` of ``sum(blur(y) * dout)``."""
    b, c, h, w = y_shape
    k, pad, sy, sx, oh, ow = _geometry(p, h, w)
    dyp = np.zeros((b, c, h + 2 * pad, w + 2 * pad), dout.dtype)
    for i in range(k):
        for j in range(k):
            dyp[:, :, i:i + sy * (oh - 1) + 1:sy, j:j + sx * (ow - 1) + 1:sx] += float(_KERNELS[k][i, j]) * dout
    return dyp[:, :, pad:pad + h, pad:pad + w]


def forward(p, w, xs, train, inner):
    """The layer then its blur; ``inner`` is the plain op's forward."""
    y, cache = inner(replace(p, antialiasing=0), w, xs, train)
    return blur(p, y), (cache, y.shape) if train else None


def backward(p, w, dout, cache, inner):
    """Gradients of :func:`forward`; ``inner`` is the plain op's backward."""
    inner_cache, y_shape = cache
    return inner(replace(p, antialiasing=0), w, blur_backward(p, dout, y_shape), inner_cache)
