"""[rnn] (rnn_layer.c): three connected layers, input (inputs -> hidden), self (hidden ->
hidden) and output (hidden -> output), each with its own activation and the layer's
batch_normalize. Per step t, from h = 0 before the first step:

    h_t = [h_{t-1} if shortcut=1] + input(x_t) + self(h_{t-1});   y_t = output(h_t)

The self layer's activation is logistic with ``logistic=1``, loggy with ``logistic=2``, else
``activation``. The output is every step's y, step-major.

Darknet's CPU backward differs from the gradient of this forward (here the exact one): it
hands the input layer the self layer's delta after the self layer's activation derivative was
applied to it, adds that same delta to the previous step's with shortcut=1, and recomputes h_t
for the output layer's weight gradient without the shortcut term.
"""

from __future__ import annotations

import numpy as np

from . import _recurrent as rec


def inners(p):
    act, bn = p["activation"], p.get("batch_normalize", 0)
    self_act = {1: "logistic", 2: "loggy"}.get(p.get("logistic", 0), act)
    return (rec.connected_inner("input", act, bn), rec.connected_inner("self", self_act, bn),
            rec.connected_inner("output", act, bn))


def prepare(p, w):
    return rec.prepare(inners(p), w)


def workspace(p, shape) -> int:
    return 4 * p["hidden"] + 2 * p["n"]


def forward(p, w, xs, train):
    (x,) = xs
    steps, b = rec.per_step(p, x)
    inp, slf, outp = inners(p)
    xt = x.reshape(steps, b, -1)
    h = np.zeros((b, p["hidden"]), x.dtype)
    out = np.empty((steps, b, p["n"]), x.dtype)
    caches = []
    for t in range(steps):
        a, ca = inp.forward(w, xt[t], train)
        s, cs = slf.forward(w, h, train)
        new = a.reshape(b, -1) + s.reshape(b, -1)
        if p.get("shortcut"):
            new += h
        rec.release(train, a, s)
        y, co = outp.forward(w, new, train)
        out[t] = y.reshape(b, -1)
        rec.release(train, y)
        h = new
        caches.append((ca, cs, co))
    return out.reshape(steps * b, p["n"], 1, 1), (x.shape, caches) if train else None


def backward(p, w, dout, cache):
    x_shape, caches = cache
    steps = len(caches)
    b = x_shape[0] // steps
    inp, slf, outp = inners(p)
    d = dout.reshape(steps, b, -1)
    dx = np.empty((steps, b, p["inputs"]), dout.dtype)
    grads: dict = {}
    dh = np.zeros((b, p["hidden"]), dout.dtype)  # dL/dh_t from the steps after t
    for t in reversed(range(steps)):
        ca, cs, co = caches[t]
        dh = dh + outp.backward(w, d[t].reshape(b, -1, 1, 1), co, grads).reshape(b, -1)
        dx[t] = inp.backward(w, dh.reshape(b, -1, 1, 1), ca, grads).reshape(b, -1)
        dprev = slf.backward(w, dh.reshape(b, -1, 1, 1), cs, grads).reshape(b, -1)
        dh = dprev + dh if p.get("shortcut") else dprev
    return [dx.reshape(x_shape)], grads
