"""[reorg3d]: Darknet's ``reorg_cpu`` index map (the kernel's :func:`reorg_map`) as one Gather
on the flat per-image buffer, so the order is Darknet's whatever the stride and direction
(``reverse=0`` is a space-to-depth with channel ``(dy*s+dx)*C + c``; ``reverse=1`` is Darknet's
own map, not a depth-to-space)."""

from __future__ import annotations

import numpy as np

from ..executor.ops.reorg import out_dims, reorg_map
from . import chw


def gather_index(dst: np.ndarray, src: np.ndarray, in_size: int, out_size: int) -> np.ndarray | None:
    """For every output value the input value it takes (the last write wins, as in the C loop);
    None when some output is never written (Darknet leaves 0 there) or the map leaves the image."""
    if src.max(initial=0) >= in_size or dst.max(initial=0) >= out_size:
        return None
    index = np.full(out_size, -1, np.int64)
    index[dst] = src  # numpy assigns in order: the last write to a position stays
    return None if (index < 0).any() else index


def map_for(p, shape, old: bool):
    """(index, output (c, h, w)) for one image, or (None, why)."""
    c, h, w = chw(shape)
    oc, oh, ow = out_dims(p, c, h, w)
    dims = (w, h, c) if old else (ow, oh, oc)
    size, out_size = c * h * w, oc * oh * ow
    try:  # Darknet maps the whole batch's buffer: it must be one image's map per image
        index, pair = (gather_index(*reorg_map(b, *dims, p.get("stride", 1), bool(p.get("reverse", 0))),
                                    b * size, b * out_size) for b in (1, 2))
    except ValueError as exc:
        return None, str(exc)
    if index is None or pair is None or not np.array_equal(pair, np.concatenate([index, index + size])):
        return None, (f"stride={p.get('stride', 1)} on {w}x{h}x{c}: Darknet's index map leaves some outputs "
                      "unwritten or reads past the image")
    return index, (oc, oh, ow)


def lower_map(g, x, index, out):
    y = g.op("Gather", [g.flat(x), g.const(index, "reorg", np.int64)], (len(index),), axis=1)
    return g.reshape(y, out)


def lowering(old: bool):
    """(unsupported, lower) of the reorg whose map takes the input dims (``old``) or the output's."""
    def unsupported(p, shape):
        index, why = map_for(p, shape, old)
        return why if index is None else None

    def lower(g, p, w, xs, shape):
        index, out = map_for(p, shape, old)
        return lower_map(g, xs[0], index, out)

    return unsupported, lower


unsupported, lower = lowering(old=False)
