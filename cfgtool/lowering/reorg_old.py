"""[reorg]: the old reorg, ``reorg_cpu`` called with the layer's input dims (see :mod:`.reorg`)."""

from __future__ import annotations

from .reorg import lower_map, map_for


def unsupported(p, shape):
    index, why = map_for(p, shape, old=True)
    return why if index is None else None


def lower(g, p, w, xs, shape):
    index, out = map_for(p, shape, old=True)
    return lower_map(g, xs[0], index, out)
