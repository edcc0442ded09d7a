"""[detection]: YOLOv1's output layer, ``forward_detection_layer`` outside training.

The output is the input, except that with ``softmax=1`` the first ``side*side*classes``
values of each image are softmaxed in groups of ``classes`` (one group per cell).
``backward`` is the derivative of this transform, not Darknet's loss delta.
"""

from __future__ import annotations

from ._util import flat, softmax, softmax_backward


def _span(p) -> tuple[int, int]:
    side, classes = p.side, p.classes
    return side * side, classes


def forward(p, w, xs, train):
    x = xs[0]
    out = flat(x).copy()
    soft = None
    if p.softmax:
        cells, classes = _span(p)
        soft = softmax(out[:, :cells * classes].reshape(-1, cells, classes), axis=-1)
        out[:, :cells * classes] = soft.reshape(out.shape[0], -1)
    return out.reshape(x.shape), soft


def backward(p, w, dout, cache):
    d = flat(dout).copy()
    if cache is not None:
        cells, classes = _span(p)
        part = d[:, :cells * classes].reshape(-1, cells, classes)
        d[:, :cells * classes] = softmax_backward(cache, part, axis=-1).reshape(d.shape[0], -1)
    return [d.reshape(dout.shape)], {}
