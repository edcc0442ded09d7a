"""[crnn] (crnn_layer.c): [rnn] with convolutions: input (c -> hidden), self (hidden ->
hidden) and output (hidden -> output), all with the layer's size, stride, dilation, padding,
groups, activation, batch_normalize and xnor. Per step, from h = 0 before the first step:

    h_t = [h_{t-1} if shortcut=1] + input(x_t) + self(h_{t-1});   y_t = output(h_t)

Darknet's CPU backward has the same deviations from the exact gradient (used here) as [rnn]'s.
"""

from __future__ import annotations

import numpy as np

from . import _recurrent as rec


def inners(p):
    return (rec.conv_inner("input", p["hidden"], p), rec.conv_inner("self", p["hidden"], p),
            rec.conv_inner("output", p["n"], p))


def prepare(p, w):
    return rec.prepare(inners(p), w)


def workspace(p, shape) -> int:
    w, h, c = shape.input
    return w * h * (4 * p["hidden"] + 2 * p["n"] + max(c, p["hidden"]) * p["size"] ** 2)


def forward(p, w, xs, train):
    (x,) = xs
    steps, b = rec.per_step(p, x)
    inp, slf, outp = inners(p)
    xt = x.reshape((steps, b) + x.shape[1:])
    _, oh, ow = x.shape[1:]
    h = np.zeros((b, p["hidden"], oh, ow), x.dtype)
    out = None
    caches = []
    for t in range(steps):
        a, ca = inp.forward(w, xt[t], train)
        s, cs = slf.forward(w, h, train)
        new = a + s
        if p.get("shortcut"):
            new += h
        rec.release(train, a, s)
        y, co = outp.forward(w, new, train)
        if out is None:
            out = np.empty((steps,) + y.shape, x.dtype)
        out[t] = y
        rec.release(train, y)
        h = new
        caches.append((ca, cs, co))
    return out.reshape((steps * b,) + out.shape[2:]), (x.shape, caches) if train else None


def backward(p, w, dout, cache):
    x_shape, caches = cache
    steps = len(caches)
    b = x_shape[0] // steps
    inp, slf, outp = inners(p)
    d = dout.reshape((steps, b) + dout.shape[1:])
    dx = np.empty((steps, b) + x_shape[1:], dout.dtype)
    grads: dict = {}
    dh = 0  # dL/dh_t from the steps after t
    for t in reversed(range(steps)):
        ca, cs, co = caches[t]
        dh = dh + outp.backward(w, d[t], co, grads)
        dx[t] = inp.backward(w, dh, ca, grads)
        dprev = slf.backward(w, dh, cs, grads)
        dh = dprev + dh if p.get("shortcut") else dprev
    return [dx.reshape(x_shape)], grads
