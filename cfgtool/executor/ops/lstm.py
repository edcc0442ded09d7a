"""[lstm] (lstm_layer.c): eight linear connected layers (with the layer's batch_normalize),
W on the state h (wf, wi, wg, wo: output -> output) and U on the input (uf, ui, ug, uo:
inputs -> output). Per step, from h = c = 0 before the first step:

    f = logistic(wf(h) + uf(x))   i = logistic(wi(h) + ui(x))
    g = tanh(wg(h) + ug(x))       o = logistic(wo(h) + uo(x))
    c = f*c + i*g                 h = o*tanh(c)               (the output is h)

The .weights file stores W (wf, wi, wg, wo) before U (uf, ui, ug, uo), each inner layer as a
connected layer (biases, weights, [scales, rolling_mean, rolling_variance]).
"""

from __future__ import annotations

import numpy as np

from . import _recurrent as rec

W, U = ("wf", "wi", "wg", "wo"), ("uf", "ui", "ug", "uo")


def inners(p):
    return tuple(rec.connected_inner(name, "linear", p.get("batch_normalize", 0)) for name in W + U)


def prepare(p, w):
    return rec.prepare(inners(p), w)


def workspace(p, shape) -> int:
    return 16 * p["n"]


def _gates(layers, w, src, train, b):
    outs, caches = [], []
    for layer in layers:
        y, c = layer.forward(w, src, train)
        outs.append(y.reshape(b, -1))
        caches.append(c)
    return outs, caches


def forward(p, w, xs, train):
    (x,) = xs
    steps, b = rec.per_step(p, x)
    layers = inners(p)
    n = p["n"]
    xt = x.reshape(steps, b, -1)
    h = np.zeros((b, n), x.dtype)
    c = np.zeros((b, n), x.dtype)
    out = np.empty((steps, b, n), x.dtype)
    caches = []
    for t in range(steps):
        wz, wc = _gates(layers[:4], w, h, train, b)
        uz, uc = _gates(layers[4:], w, xt[t], train, b)
        f, i, o = (rec.sigmoid(wz[k] + uz[k]) for k in (0, 1, 3))
        g = rec.tanh(wz[2] + uz[2])
        c_prev = c
        c = f * c + i * g
        tc = rec.tanh(c)
        h = o * tc
        out[t] = h
        rec.release(train, *wz, *uz)
        caches.append((wc, uc, f, i, g, o, c_prev, tc))
    return out.reshape(steps * b, n, 1, 1), (x.shape, caches) if train else None


def backward(p, w, dout, cache):
    x_shape, caches = cache
    steps = len(caches)
    b = x_shape[0] // steps
    layers = inners(p)
    d = dout.reshape(steps, b, -1)
    dx = np.zeros((steps, b, p["inputs"]), dout.dtype)
    grads: dict = {}
    dh = np.zeros(d.shape[1:], dout.dtype)  # dL/dh_t and dL/dc_t from the steps after t
    dc = np.zeros(d.shape[1:], dout.dtype)
    for t in reversed(range(steps)):
        wc, uc, f, i, g, o, c_prev, tc = caches[t]
        dh = dh + d[t]
        dc = dc + dh * o * (1 - tc * tc)
        dpre = (dc * c_prev * f * (1 - f), dc * g * i * (1 - i), dc * i * (1 - g * g), dh * tc * o * (1 - o))
        dh = np.zeros_like(dh)
        for k in range(4):
            dk = dpre[k].reshape(b, -1, 1, 1)
            dh += layers[k].backward(w, dk, wc[k], grads).reshape(b, -1)
            dx[t] += layers[4 + k].backward(w, dk, uc[k], grads).reshape(b, -1)
        dc = dc * f
    return [dx.reshape(x_shape)], grads
