"""[detection]: the input, with ``softmax=1`` a Softmax over each cell's ``classes`` values in
the first ``side*side*classes`` values of the flat buffer."""

from __future__ import annotations



def lower(g, p, w, xs, shape):
    x = xs[0]
    if not p.get("softmax", 0):
        return x
    cells, classes = p.get("side", 7) ** 2, p.get("classes", 1)
    f = g.flat(x)
    total = g.shape(f)[0]
    head, *rest = g.split(f, 0, [s for s in (cells * classes, total - cells * classes) if s])
    soft = g.op("Softmax", [g.reshape(head, (cells, classes))], (cells, classes), axis=2)
    return g.reshape(g.concat([g.reshape(soft, (cells * classes,)), *rest], 0), g.shape(x))
