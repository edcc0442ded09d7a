"""[route]: concatenate the referenced layers' outputs, optionally one channel group of each.

Darknet (route_layer.c) copies, per image, the slice ``group_id`` of each input's buffer cut
into ``groups`` equal parts (``outputs / groups`` values, integer division) and concatenates
the slices. The slicing is on the flat ``c*h*w`` buffer, which is a channel slice whenever
``groups`` divides the channel count; this module slices the flat buffer the same way. A route
of one input whose slice is contiguous (no groups, or one image) returns a view of it.
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ._util import flat


def _part(x: np.ndarray, groups: int) -> int:
    return flat(x).shape[1] // groups


def forward(p, w, xs, train):
    groups, gid = p.groups, p.group_id
    parts = [flat(x)[:, _part(x, groups) * gid:_part(x, groups) * (gid + 1)] for x in xs]
    if len(parts) == 1 and parts[0].flags.c_contiguous:
        out = parts[0]  # one input, one image or all of it: a view, no copy (no kernel writes its input)
    else:
        out = np.concatenate(parts, axis=1, out=kernels.empty((xs[0].shape[0], sum(q.shape[1] for q in parts)),
                                                               xs[0].dtype))
    h, wd = xs[0].shape[2:]
    c = sum(x.shape[1] for x in xs) // groups
    same = all(x.shape[2:] == (h, wd) for x in xs)
    shape = (c, h, wd) if same and c * h * wd == out.shape[1] else (out.shape[1], 1, 1)
    return out.reshape((out.shape[0],) + shape), [x.shape for x in xs]


def backward(p, w, dout, cache):
    groups, gid = p.groups, p.group_id
    d = flat(dout)
    grads, offset = [], 0
    for shape in cache:
        size = int(np.prod(shape[1:]))
        part = size // groups
        g = kernels.empty((shape[0], size), dout.dtype)
        if part != size:
            g.fill(0)
        g[:, part * gid:part * (gid + 1)] = d[:, offset:offset + part]
        offset += part
        grads.append(g.reshape(shape))
    return grads, {}
