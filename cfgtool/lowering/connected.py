"""[connected]: Gemm on the flat per-image buffer (batch norm folded), then the activation;
the value is a (batch, outputs) vector, as Darknet's."""

from __future__ import annotations

from ..executor.ops.convolutional import bn_fold
from .activations import activate


def lower(g, p, w, xs, shape):
    x = g.flat(xs[0])
    weights, biases = bn_fold(w, w["weights"]) if p.get("batch_normalize") else (w["weights"], w["biases"])
    y = g.op("Gemm", [x, g.const(weights, "weights"), g.const(biases, "biases")], (weights.shape[0],), transB=1)
    return activate(g, p.get("activation", "logistic"), y)
