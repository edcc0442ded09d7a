"""[batchnorm]: BatchNormalization with the rolling statistics and Darknet's epsilon."""

from __future__ import annotations

from ..executor.ops.convolutional import BN_EPS
from . import chw


def lower(g, p, w, xs, shape):
    x = g.reshape(xs[0], chw(shape))
    names = [g.const(w[k], k) for k in ("scales", "biases", "rolling_mean", "rolling_variance")]
    return g.op("BatchNormalization", [x, *names], g.shape(x), epsilon=BN_EPS)
