"""[contrastive]: the supervised contrastive loss layer (softmax_layer.c,
``forward_contrastive_layer``).

The layer is a loss only. Darknet's CPU forward never writes ``l.output`` (allocated zeroed,
``inputs`` values per image): in training it computes ``l.delta`` from the cosine
similarities of the embeddings of the ground-truth boxes the [yolo] layer matched, and its
backward adds that delta to the previous layer's. So the output here is zeros, ``(batch,
inputs, 1, 1)`` (Darknet's output is 0x0x0, a vector of ``inputs``), and ``backward`` is its
derivative: zero for the input. The executor has no ground truth, hence no loss gradient to add.
(The GPU build copies the input into ``l.output`` instead; nothing reads it.)
"""

from __future__ import annotations

import numpy as np


def forward(p, w, xs, train):
    (x,) = xs
    b = x.shape[0]
    return np.zeros((b, x.size // b, 1, 1), x.dtype), x.shape


def backward(p, w, dout, cache):
    return [np.zeros(cache, dout.dtype)], {}
