"""[history] (conv_lstm_layer.c, forward_history_layer): the last history_size inputs stacked
along the channels, the newest first: at step t the output is x_t, x_{t-1}, ...,
x_{t-history_size+1} (zeros before the first step), ``c*history_size`` channels.

With time_steps=1 Darknet copies the batch's inputs into the start of the output buffer as one
flat block (``inputs*batch`` values) and leaves the rest zero: the first image's output starts
with its input, and with more than one image the others land at the wrong offsets. That is
reproduced. Darknet's CPU backward passes on only the newest frame's gradient; the exact one
(every frame's, here) also sums the gradients of the older copies.
"""

from __future__ import annotations

import numpy as np

from . import _recurrent as rec


def forward(p, w, xs, train):
    (x,) = xs
    steps, b = rec.per_step(p, x)
    size = p["history_size"]
    n = x[0].size
    if steps == 1:
        out = np.zeros(x.shape[0] * n * size, x.dtype)
        out[:x.size] = x.reshape(-1)
        return out.reshape((x.shape[0], x.shape[1] * size) + x.shape[2:]), (x.shape, steps)
    xt = x.reshape(steps, b, n)
    out = np.zeros((steps, b, size, n), x.dtype)
    for k in range(min(size, steps)):
        out[k:, :, k] = xt[:steps - k]
    return out.reshape((steps * b, x.shape[1] * size) + x.shape[2:]), (x.shape, steps)


def backward(p, w, dout, cache):
    x_shape, steps = cache
    size = p["history_size"]
    n = int(np.prod(x_shape[1:]))
    if steps == 1:
        return [dout.reshape(-1)[:x_shape[0] * n].reshape(x_shape).copy()], {}
    b = x_shape[0] // steps
    d = dout.reshape(steps, b, size, n)
    dx = np.zeros((steps, b, n), dout.dtype)
    for k in range(min(size, steps)):
        dx[:steps - k] += d[k:, :, k]
    return [dx.reshape(x_shape)], {}
