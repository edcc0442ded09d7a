"""[maxpool]: Darknet's pooling windows start at ``-padding/2`` (``padding`` is the total,
``size-1`` by default), so the padding is asymmetric: MaxPool with ``pads = [padding/2,
what the output size needs]`` (size=2 stride=1: nothing before, one after). Where a window
could lie wholly in the padding (a value Darknet gives -FLT_MAX), the input is padded with
-FLT_MAX explicitly instead. ``maxpool_depth``: the maximum across channels ``g, g+out_c, ...``
(ReduceMax over a channel-grouped view); ``antialiasing``: the blur layer after."""

from __future__ import annotations

from ..executor.ops.maxpool import LOWEST
from ..layers.common import cdiv
from . import chw
from ._blur import blur
from ._window import crop, onnx_out, pads_after


def _depth(g, p, x):
    c, h, w = g.shape(x)
    oc = p["out_channels"]
    q = -(-c // oc)
    x = g.pad(x, [0, 0, 0], [q * oc - c, 0, 0], LOWEST)
    return g.reduce("ReduceMax", g.reshape(x, (q, oc, h, w)), [0], keepdims=False)


def lower(g, p, w, xs, shape):
    x = g.reshape(xs[0], chw(shape))
    if p.get("maxpool_depth"):
        return _depth(g, p, x)
    c, h, wd = g.shape(x)
    k, sx, sy, pad = p["size"], p["stride_x"], p["stride_y"], p["pad"]
    oh, ow = cdiv(h + pad - k, sy) + 1, cdiv(wd + pad - k, sx) + 1
    begin = pad // 2
    end_h, end_w = pads_after(h, begin, k, sy, oh), pads_after(wd, begin, k, sx, ow)
    # every window holds an input cell: ONNX's ignored padding is Darknet's -FLT_MAX
    inside = begin < k and (oh - 1) * sy - begin < h and (ow - 1) * sx - begin < wd
    pads = [begin, begin, end_h, end_w]
    if not inside or max(pads) >= k:  # ONNX wants pads < kernel
        x = g.pad(x, [0, begin, begin], [0, end_h, end_w], LOWEST)
        h, wd, begin, end_h, end_w = h + begin + end_h, wd + begin + end_w, 0, 0, 0
        pads = [0, 0, 0, 0]
    size = (c, onnx_out(h, begin, end_h, k, sy), onnx_out(wd, begin, end_w, k, sx))
    y = g.op("MaxPool", [x], size, kernel_shape=[k, k], strides=[sy, sx], pads=pads)
    y = crop(g, y, oh, ow)
    return blur(g, p, y) if p.get("antialiasing") else y
