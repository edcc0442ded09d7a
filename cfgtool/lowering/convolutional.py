"""[convolutional]: Conv with Darknet's padding (``pad*dilation`` before, what the output size
needs after), groups, dilation, ``stride_x``/``stride_y``; batch norm folded into the weights
(Darknet's epsilon, the kernel's :func:`bn_fold`); ``binary``/``xnor`` weights binarized at
export (``sign(w) * mean|w|`` per filter) and, for xnor, the input as ``x > 0 ? 1 : -1``;
then the activation and, with ``antialiasing``, the blur layer."""

from __future__ import annotations

import numpy as np

from ..executor.ops import _binary
from ..executor.ops.convolutional import bn_fold
from . import chw, out_chw
from ._blur import blur
from ._window import crop, onnx_out, pads_after
from .activations import activate


def folded(p, w) -> tuple[np.ndarray, np.ndarray]:
    """(weights, biases) as inference uses them: binarized, then batch norm folded."""
    weights = _binary.binarize(w["weights"])[0] if _binary.active(p) else w["weights"]
    if p.get("batch_normalize"):
        return bn_fold(w, weights)
    return weights, w["biases"]


def lower(g, p, w, xs, shape):
    x = g.reshape(xs[0], chw(shape))
    c, h, wd = g.shape(x)
    n, oh, ow = out_chw(shape)
    weights, biases = folded(p, w)
    if p.get("xnor"):
        positive = g.op("Greater", [x, g.const(0.0)], g.shape(x))
        x = g.op("Where", [positive, g.const(1.0), g.const(-1.0)], g.shape(x))
    k, d, sy, sx = p["size"], p.get("dilation", 1), p["stride_y"], p["stride_x"]
    extent = d * (k - 1) + 1
    begin = p["pad"] * d
    end_h, end_w = pads_after(h, begin, extent, sy, oh), pads_after(wd, begin, extent, sx, ow)
    size = (n, onnx_out(h, begin, end_h, extent, sy), onnx_out(wd, begin, end_w, extent, sx))
    y = g.op("Conv", [x, g.const(weights, "weights"), g.const(biases, "biases")], size,
             kernel_shape=[k, k], strides=[sy, sx], dilations=[d, d], group=p.get("groups", 1),
             pads=[begin, begin, end_h, end_w])
    y = activate(g, p.get("activation", "logistic"), crop(g, y, oh, ow))
    return blur(g, p, y) if p.get("antialiasing") else y
