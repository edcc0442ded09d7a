"""[gru] (gru_layer.c): six linear connected layers (with the layer's batch_normalize), on the
input (input_z, input_r, input_h: inputs -> output) and on the state (state_z, state_r,
state_h: output -> output). Per step, from h = 0 before the first step:

    z = logistic(input_z(x) + state_z(h))     r = logistic(input_r(x) + state_r(h))
    hc = logistic(input_h(x) + state_h(r*h))  h = z*h + (1-z)*hc      (the output is h)

The candidate hc goes through logistic, not tanh: gru_layer.c applies tanh only under
``#ifdef USET``, which nothing defines. The .weights file stores input_z, input_r, input_h,
state_z, state_r, state_h.

Darknet's CPU build cannot train this layer: backward_gru_layer is empty (no gradient reaches
the tensors or the layers before) and update_gru_layer updates input_layer/self_layer/
output_layer, which a GRU does not have (NULL: a crash). The backward here is the exact one.
"""

from __future__ import annotations

import numpy as np

from . import _recurrent as rec

NAMES = ("input_z", "input_r", "input_h", "state_z", "state_r", "state_h")


def inners(p):
    return tuple(rec.connected_inner(name, "linear", p.get("batch_normalize", 0)) for name in NAMES)


def prepare(p, w):
    return rec.prepare(inners(p), w)


def workspace(p, shape) -> int:
    return 14 * p["n"]


def forward(p, w, xs, train):
    (x,) = xs
    steps, b = rec.per_step(p, x)
    iz, ir, ih, sz, sr, sh = inners(p)
    n = p["n"]
    xt = x.reshape(steps, b, -1)
    h = np.zeros((b, n), x.dtype)
    out = np.empty((steps, b, n), x.dtype)
    caches = []
    for t in range(steps):
        runs = [layer.forward(w, src, train) for layer, src in ((iz, xt[t]), (ir, xt[t]), (ih, xt[t]), (sz, h), (sr, h))]
        a = [y.reshape(b, -1) for y, _ in runs]
        z = rec.sigmoid(a[0] + a[3])
        r = rec.sigmoid(a[1] + a[4])
        rh = r * h
        s, c_sh = sh.forward(w, rh, train)
        hc = rec.sigmoid(a[2] + s.reshape(b, -1))
        h_prev = h
        h = z * h + (1 - z) * hc
        out[t] = h
        rec.release(train, *a, s)
        caches.append(([c for _, c in runs] + [c_sh], z, r, hc, h_prev))
    return out.reshape(steps * b, n, 1, 1), (x.shape, caches) if train else None


def backward(p, w, dout, cache):
    x_shape, caches = cache
    steps = len(caches)
    b = x_shape[0] // steps
    iz, ir, ih, sz, sr, sh = inners(p)
    d = dout.reshape(steps, b, -1)
    dx = np.zeros((steps, b, p["inputs"]), dout.dtype)
    grads: dict = {}
    dh = np.zeros(d.shape[1:], dout.dtype)  # dL/dh_t from the steps after t

    def back(layer, delta, c):
        return layer.backward(w, delta.reshape(b, -1, 1, 1), c, grads).reshape(b, -1)

    for t in reversed(range(steps)):
        (c_iz, c_ir, c_ih, c_sz, c_sr, c_sh), z, r, hc, h_prev = caches[t]
        dh = dh + d[t]
        dz = dh * (h_prev - hc) * z * (1 - z)
        dhc = dh * (1 - z) * hc * (1 - hc)
        drh = back(sh, dhc, c_sh)
        dr = drh * h_prev * r * (1 - r)
        dx[t] = back(iz, dz, c_iz) + back(ir, dr, c_ir) + back(ih, dhc, c_ih)
        dh = dh * z + drh * r + back(sz, dz, c_sz) + back(sr, dr, c_sr)
    return [dx.reshape(x_shape)], grads
