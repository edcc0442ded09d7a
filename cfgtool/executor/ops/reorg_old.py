"""[reorg]: Darknet's old reorg (reorg_old_layer.c), YOLOv2's passthrough.

Same ``reorg_cpu`` map as [reorg3d] (see :mod:`.reorg`) but called with the layer's INPUT
dims and ``forward = reverse``, which for ``reverse=0`` is not a plain space-to-depth: the
input buffer is read as if it had ``c/stride^2`` channels of ``(h*stride) x (w*stride)``.
"""

from __future__ import annotations

from .reorg import apply_map, map_backward, out_dims, reorg_map


def forward(p, w, xs, train):
    x = xs[0]
    b, c, h, wd = x.shape
    dst, src = reorg_map(b, wd, h, c, p.stride, bool(p.reverse))
    return apply_map(x, (b,) + out_dims(p, c, h, wd), dst, src)


def backward(p, w, dout, cache):
    return [map_backward(dout, cache)], {}
