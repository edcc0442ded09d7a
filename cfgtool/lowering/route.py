"""[route]: Concat of the referenced outputs along the channels; with ``groups`` the slice
``group_id`` of each input's flat buffer (a channel slice when ``groups`` divides the channels
and the maps share their size, else a slice of the flat buffer, as Darknet copies it)."""

from __future__ import annotations

import numpy as np

from . import out_chw


def lower(g, p, w, xs, shape):
    groups, gid = p.get("groups", 1), p.get("group_id", 0)
    sizes = {g.shape(x)[1:] for x in xs}
    out = out_chw(shape)
    if len(sizes) == 1 and len(g.shape(xs[0])) == 3 and all(g.shape(x)[0] % groups == 0 for x in xs):
        parts = []
        for x in xs:
            part = g.shape(x)[0] // groups
            parts.append(g.slice(x, 0, part * gid, part * (gid + 1)))
        y = g.concat(parts, 0)
    else:
        parts = []
        for x in xs:
            f = g.flat(x)
            part = g.shape(f)[0] // groups
            parts.append(g.slice(f, 0, part * gid, part * (gid + 1)))
        y = g.concat(parts, 0)
    total = int(np.prod(g.shape(y)))
    return g.reshape(y, out if int(np.prod(out)) == total else (total, 1, 1))
