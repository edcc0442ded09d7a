"""[region]: Darknet's transposed record layout -- the ``(n*size, h*w)`` buffer as ``(h*w*n,
size)`` records -- with the logistic on entry 4 and, with ``softmax=1``, a Softmax over entries
5..5+classes (Darknet's hard-coded offsets; with ``tree=`` one Softmax per group of the tree's
nodes); the value keeps that layout, as ``l.output``."""

from __future__ import annotations

from ..executor.ops.region import unsupported as _kernel_unsupported
from . import chw
from .softmax import tree_softmax


def unsupported(p, shape):
    return _kernel_unsupported(p)


def lower(g, p, w, xs, shape):
    x = g.reshape(xs[0], chw(shape))
    c, h, wd = g.shape(x)
    classes, n = p.get("classes", 20), p.get("n", 1)
    t = g.op("Transpose", [g.reshape(x, (c, h * wd))], (h * wd, c), perm=[0, 2, 1])
    rec = g.reshape(t, (h * wd * n, c // n))
    k = c // n
    soft = p.get("softmax", 0) or p.hierarchy is not None
    sizes = [4, 1] + ([classes, k - 5 - classes] if soft else [k - 5])
    parts = g.split(rec, 1, [s for s in sizes if s])
    parts[1] = g.op("Sigmoid", [parts[1]], g.shape(parts[1]))
    if p.hierarchy is not None:
        parts[2] = g.concat(tree_softmax(g, parts[2], p.hierarchy, 1), 1)
    elif soft:
        parts[2] = g.op("Softmax", [parts[2]], g.shape(parts[2]), axis=2)
    return g.reshape(g.concat(parts, 1), (c, h, wd))
