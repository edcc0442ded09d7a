"""The antialiasing blur layer Darknet puts inside [convolutional] and [maxpool] layers
(see cfgtool/executor/ops/_blur.py): a fixed depthwise convolution applying the stride."""

from __future__ import annotations

import numpy as np

from ..executor.ops._blur import _KERNELS
from ..layers.common import cdiv


def blur(g, p, y: str) -> str:
    c, h, w = g.shape(y)
    k, pad, sy, sx = p["blur_size"], p["blur_pad"], p["blur_stride_y"], p["blur_stride_x"]
    kernel = np.broadcast_to(_KERNELS[k].astype(np.float32), (c, 1, k, k))
    out = (c, cdiv(h + 2 * pad - k, sy) + 1, cdiv(w + 2 * pad - k, sx) + 1)
    return g.op("Conv", [y, g.const(kernel, "blur")], out, group=c, kernel_shape=[k, k], strides=[sy, sx],
                pads=[pad, pad, pad, pad])
