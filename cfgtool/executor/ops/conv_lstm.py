"""[conv_lstm] (conv_lstm_layer.c, the CPU forward): [lstm] with convolutions. Every gate
convolution has the layer's geometry, groups, batch_normalize, xnor *and activation* (linear
by default), applied before the gate's own logistic/tanh. U (uf, ui, ug, uo: c -> output) reads
the input, W (wf, wi, wg, wo: output -> output) the state h, and with peephole=1 V (vf, vi,
vo: output -> output) the cell. Per step, from h = c = 0 before the first step:

    f = logistic(wf(h) + uf(x) [+ vf(c)])     i = logistic(wi(h) + ui(x) [+ vi(c)])
    g = tanh(wg(h) + ug(x))                   c' = f*c + i*g
    o = logistic(wo(h) + uo(x) [+ vo(c')])    h' = o*tanh(c')        (the output is h')

vo reads the *new* cell c'. Then the cell carried to the next step is clamped to
[-state_constrain, state_constrain] (default time_steps*32; 0: no clamp) after h' was computed
from the unclamped c', and NaN/inf values in c' and h' become ``1/k`` at their index k in the
step's buffer (fix_nan_and_inf_cpu). The .weights file stores vf, vi, vo (peephole=1), then W,
then U.

Darknet's CPU build reads but never uses shortcut, lstm_activation and time_normalizer here
(only its GPU code does; validate reports them), and crashes with bottleneck=1 (the CPU
forward reads wi/wg/wo, which bottleneck=1 never allocates): the executor refuses it (the spec's
cpu_crash). The backward
is the exact gradient; Darknet's CPU backward differs (e.g. it never adds the output gradient
reaching the cell through the next step's h, only ``dc`` from the cell).
"""

from __future__ import annotations

import numpy as np

from . import _recurrent as rec

V, W, U = ("vf", "vi", "vo"), ("wf", "wi", "wg", "wo"), ("uf", "ui", "ug", "uo")


def inners(p):
    return tuple(rec.conv_inner(name, p["n"], p) for name in (V if p.get("peephole") else ()) + W + U)


def prepare(p, w):
    return rec.prepare(inners(p), w)


def workspace(p, shape) -> int:
    w, h, c = shape.input
    return w * h * (30 * p["n"] + max(c, p["n"]) * p["size"] ** 2)


def fix_nan_and_inf(a: np.ndarray) -> np.ndarray:
    """fix_nan_and_inf_cpu over one step's buffer: a non-finite value at flat index k becomes
    1.0f/k (infinity at k = 0)."""
    bad = ~np.isfinite(a)
    if bad.any():
        a = a.copy()
        k = np.flatnonzero(bad.reshape(-1))
        with np.errstate(divide="ignore"):
            a.reshape(-1)[k] = (1 / k.astype(a.dtype)).astype(a.dtype)
    return a


def _named(p):
    return {layer.name: layer for layer in inners(p)}


def forward(p, w, xs, train):
    (x,) = xs
    steps, b = rec.per_step(p, x)
    layers = _named(p)
    peep, sc = p.get("peephole"), p.get("state_constrain", 0)
    xt = x.reshape((steps, b) + x.shape[1:])
    state = (b, p["n"]) + x.shape[2:]  # the gate convolutions keep the size (the spec checks)
    h, c = np.zeros(state, x.dtype), np.zeros(state, x.dtype)
    out = np.empty((steps,) + state, x.dtype)
    caches = []
    for t in range(steps):
        pre, cc = {}, {}
        for name, src in ([("vf", c), ("vi", c)] if peep else []) + [(k, h) for k in W] + [(k, xt[t]) for k in U]:
            pre[name], cc[name] = layers[name].forward(w, src, train)
        gate = {k: pre["w" + k] + pre["u" + k] for k in "figo"}
        if peep:
            gate["f"] += pre["vf"]
            gate["i"] += pre["vi"]
        f, i = rec.sigmoid(gate["f"]), rec.sigmoid(gate["i"])
        g = rec.tanh(gate["g"])
        c_prev = c
        c = f * c + i * g
        if peep:
            pre["vo"], cc["vo"] = layers["vo"].forward(w, c, train)
            gate["o"] += pre["vo"]
        o = rec.sigmoid(gate["o"])
        tc = rec.tanh(c)
        h_raw = o * tc
        c_raw = c
        if sc:
            c = np.minimum(sc, np.maximum(-sc, c)).astype(x.dtype, copy=False)
        c = fix_nan_and_inf(c)
        h = fix_nan_and_inf(h_raw)
        out[t] = h
        rec.release(train, *pre.values())
        caches.append((cc, f, i, g, o, c_prev, c_raw, tc, h is not h_raw, sc))
    return out.reshape((steps * b,) + out.shape[2:]), (x.shape, caches) if train else None


def backward(p, w, dout, cache):
    x_shape, caches = cache
    steps = len(caches)
    b = x_shape[0] // steps
    layers = _named(p)
    peep = p.get("peephole")
    d = dout.reshape((steps, b) + dout.shape[1:])
    dx = np.zeros((steps, b) + x_shape[1:], dout.dtype)
    grads: dict = {}
    dh = dc = 0  # dL/dh_t and dL/d(carried c_t) from the steps after t

    def back(name, delta, cc):
        return layers[name].backward(w, delta, cc[name], grads)

    for t in reversed(range(steps)):
        cc, f, i, g, o, c_prev, c_raw, tc, h_fixed, sc = caches[t]
        dh = dh + d[t]
        if h_fixed:
            dh = dh * np.isfinite(o * tc)
        # the carried cell: clamped (and fixed) c_raw
        keep = np.isfinite(c_raw)
        if sc:
            keep &= (c_raw > -sc) & (c_raw < sc)
        dc = dc * keep + dh * o * (1 - tc * tc)
        do = dh * tc * o * (1 - o)
        if peep:
            dc = dc + back("vo", do, cc)
        df, di, dg = dc * c_prev * f * (1 - f), dc * g * i * (1 - i), dc * i * (1 - g * g)
        dpre = {"f": df, "i": di, "g": dg, "o": do}
        dh = sum(back("w" + k, dpre[k], cc) for k in "figo")
        dx[t] = sum(back("u" + k, dpre[k], cc) for k in "figo")
        dc = dc * f
        if peep:
            dc = dc + back("vf", df, cc) + back("vi", di, cc)
    return [dx.reshape(x_shape)], grads
