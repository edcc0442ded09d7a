"""[conv_lstm]: [lstm] with Conv-lowered gate convolutions (each with the layer's activation),
unrolled over the time steps (see ``_recurrent``), as the CPU forward: peephole vf/vi on the old
cell, vo on the new one; the carried cell clamped to ``state_constrain`` after h was computed from
the unclamped one; non-finite values in the cell and h replaced by ``1/k`` at their index k
(fix_nan_and_inf_cpu)."""

from __future__ import annotations

import numpy as np

from ..executor.ops import conv_lstm as kernel
from . import _recurrent as rec


def _fix_nan_and_inf(g, x: str) -> str:
    with np.errstate(divide="ignore"):
        fix = (1 / np.arange(int(np.prod(g.shape(x))), dtype=np.float32)).reshape((1, *g.shape(x)))
    shape = g.shape(x)
    bad = g.op("Or", [g.op("IsNaN", [x], shape), g.op("IsInf", [x], shape)], shape)
    return g.op("Where", [bad, g.value(fix, "fix"), x], shape)


def lower(g, p, w, xs, shape):
    layers = {layer.name: layer for layer in kernel.inners(p)}
    peep, sc = p.peephole, p.state_constrain
    ow, oh, n = shape.output
    state = (ow, oh, n)

    def conv(name, src, whc=state):
        return rec.inner(g, layers[name], w, src, whc, state)

    h = c = rec.zeros(g, (n, oh, ow))
    ys = []
    for x in rec.steps(g, xs[0], p):
        gate = {k: rec.add(g, conv("w" + k, h), conv("u" + k, x, shape.input)) for k in "figo"}
        if peep:
            gate["f"] = rec.add(g, gate["f"], conv("vf", c))
            gate["i"] = rec.add(g, gate["i"], conv("vi", c))
        f, i = rec.sigmoid(g, gate["f"]), rec.sigmoid(g, gate["i"])
        c = rec.add(g, rec.mul(g, f, c), rec.mul(g, i, rec.tanh(g, gate["g"])))
        if peep:
            gate["o"] = rec.add(g, gate["o"], conv("vo", c))
        h = _fix_nan_and_inf(g, rec.mul(g, rec.sigmoid(g, gate["o"]), rec.tanh(g, c)))
        if sc:
            c = g.op("Clip", [c, g.const(np.float32(-sc)), g.const(np.float32(sc))], g.shape(c))
        c = _fix_nan_and_inf(g, c)
        ys.append(h)
    return rec.stack(g, ys)
