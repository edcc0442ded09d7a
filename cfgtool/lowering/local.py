"""[local]: a convolution with other filters at every output position. The patches come from
one grouped Conv with one-hot kernels (Darknet's im2col order: channel, then kernel row and
column), then a Mul with the per-position filters and a ReduceSum over the patch axis."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..executor.ops.local import unsupported as _kernel_unsupported
from . import chw, out_chw
from .activations import activate


def unsupported(p, shape):
    _, h, w = chw(shape)
    return _kernel_unsupported(replace(p, h=h, w=w))


def lower(g, p, w, xs, shape):
    x = g.reshape(xs[0], chw(shape))
    c = g.shape(x)[0]
    n, oh, ow = out_chw(shape)
    k, s, pad = p["size"], p["stride"], p["pad"]
    taps = np.eye(k * k, dtype=np.float32).reshape(k * k, 1, k, k)
    patches = g.op("Conv", [x, g.const(np.tile(taps, (c, 1, 1, 1)), "im2col")], (c * k * k, oh, ow), group=c,
                   kernel_shape=[k, k], strides=[s, s], pads=[pad, pad, pad, pad])
    patches = g.reshape(patches, (1, c * k * k, oh, ow))
    filters = w["weights"].reshape(oh, ow, n, c * k * k).transpose(2, 3, 0, 1)  # (n, c*k*k, oh, ow)
    y = g.reduce("ReduceSum", g.op("Mul", [patches, g.const(filters, "weights")], filters.shape), [1],
                 keepdims=False)
    y = g.op("Add", [y, g.const(w["biases"].reshape(n, oh, ow), "biases")], (n, oh, ow))
    return activate(g, p.get("activation", "logistic"), y)
