"""What the recurrent ops share: their inner connected / convolutional layers, run one time
step at a time, and the step-major layout of Darknet's batches.

Darknet runs a recurrent layer on ``l.batch = net.batch / time_steps`` images per step: the
layer's input is ``steps`` blocks of ``batch`` images, step-major, and so is its output. Each
inner layer is a plain connected or convolutional layer (with the outer layer's
``batch_normalize``, so in training its batch-norm statistics are over one step's images)
whose tensors are named ``<inner>.<tensor>`` in the outer layer (``input.weights``,
``uf.biases``), as the type's spec declares them (``spec.tensors``, the .weights order).

Backward: every op returns the exact gradient of its forward (checked against numeric
gradients), also where Darknet's CPU backward computes something else (each op's docstring
says where).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

from ...layers.connected import ConnectedParams
from ...layers.convolutional import ConvolutionalParams
from .. import activations, kernels
from . import connected, convolutional


@dataclass(frozen=True)
class Inner:
    """One inner layer: its name (the tensor prefix), op module and params."""

    name: str
    op: ModuleType
    p: ConnectedParams | ConvolutionalParams

    def weights(self, w: dict) -> dict:
        """This inner layer's tensors out of the outer layer's (and its prepared ones)."""
        prefix = self.name + "."
        mine = {k[len(prefix):]: v for k, v in w.items() if k.startswith(prefix)}
        prepared = w.get("_prepared")
        if prepared is not None:
            mine["_prepared"] = prepared[self.name]
        return mine

    def forward(self, w: dict, x: np.ndarray, train: bool):
        """(output, cache) of one step; the output keeps the op's shape."""
        return self.op.forward(self.p, self.weights(w), [x], train)

    def backward(self, w: dict, dout: np.ndarray, cache, grads: dict) -> np.ndarray:
        """dL/dx of one step; the tensors' gradients are added into ``grads``."""
        (dx,), dws = self.op.backward(self.p, self.weights(w), dout, cache)
        for k, g in dws.items():
            key = f"{self.name}.{k}"
            grads[key] = grads[key] + g if key in grads else g
        return dx

    def prepare(self, w: dict):
        return self.op.prepare(self.p, self.weights({k: v for k, v in w.items() if k != "_prepared"}))


def connected_inner(name: str, activation: str, bn: int) -> Inner:
    return Inner(name, connected, ConnectedParams(activation=activation, batch_normalize=bn))


def conv_inner(name: str, n: int, p: dict) -> Inner:
    """A convolution to ``n`` channels with the outer layer's geometry (size, stride, dilation,
    pad, groups), activation, batch_normalize and xnor."""
    inner_p = ConvolutionalParams(n=n, size=p["size"], stride_x=p["stride"], stride_y=p["stride"],
                                  dilation=p["dilation"], pad=p["pad"], groups=p.get("groups", 1),
                                  batch_normalize=p.get("batch_normalize", 0), activation=p["activation"],
                                  xnor=p.get("xnor", 0))
    return Inner(name, convolutional, inner_p)


def prepare(inners, w: dict) -> dict:
    return {inner.name: inner.prepare(w) for inner in inners}


def per_step(p: dict, x: np.ndarray) -> tuple[int, int]:
    """(steps, images per step) of a batch ``x`` of ``steps * images`` images."""
    steps = max(int(p.get("steps", 1)), 1)
    if x.shape[0] % steps:
        raise ValueError(f"a batch of {x.shape[0]} is not a whole number of {steps} time steps")
    return steps, x.shape[0] // steps


def sigmoid(x: np.ndarray) -> np.ndarray:
    return activations.activate("logistic", x)[0]


def tanh(x: np.ndarray) -> np.ndarray:
    return activations.activate("tanh", x)[0]


def release(train: bool, *arrays: np.ndarray) -> None:
    """Return inner layers' inference outputs to the buffer pool once they are used (in
    training they may be held by caches)."""
    if not train:
        kernels.give_back(*arrays)
