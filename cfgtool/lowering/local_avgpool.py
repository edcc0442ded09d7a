"""[local_avgpool]: AveragePool over Darknet's windows (starting at ``-pad/2``), counting only
the positions inside the input (``count_include_pad=0``), as Darknet averages."""

from __future__ import annotations

from ..executor.ops.local_avgpool import _geometry
from . import chw
from ._window import crop, onnx_out


def unsupported(p, shape):
    _, h, w = chw(shape)
    size, sy, sx, oh, ow, start, ((top, bottom), (left, right)) = _geometry(p, h, w)
    if start != 0 or max(top, bottom, left, right) >= size:
        return f"pad={p.get('pad', 0)} puts whole windows outside the input (Darknet averages nothing there)"
    return None


def lower(g, p, w, xs, shape):
    x = g.reshape(xs[0], chw(shape))
    c, h, wd = g.shape(x)
    size, sy, sx, oh, ow, _, ((top, bottom), (left, right)) = _geometry(p, h, wd)
    out = (c, onnx_out(h, top, bottom, size, sy), onnx_out(wd, left, right, size, sx))
    y = g.op("AveragePool", [x], out, kernel_shape=[size, size], strides=[sy, sx], pads=[top, left, bottom, right],
             count_include_pad=0)
    return crop(g, y, oh, ow)
