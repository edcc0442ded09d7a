"""[convolutional]: grouped, dilated, strided 2-D convolution, batch norm, activation.

As in Darknet (convolutional_layer.c, im2col.c): weights are ``(n, c/groups, size, size)``;
the output size ignores dilation, ``(h + 2*pad - size) / stride_y + 1``, while the image is
padded by ``pad*dilation`` pixels; group ``g`` maps input channels ``g*c/groups..`` to
filters ``g*n/groups..``. Batch norm in training uses the batch statistics with Darknet's
unbiased variance (divisor ``N-1``, ``N = batch*out_h*out_w``; 1 when N is 1) and
``sqrt(var + .00001)``; in inference the rolling statistics, folded into the weights and biases
once by :func:`prepare`. The rolling statistics are not updated by a training forward.

Speed (kernels in ops/_fastconv.py, large arrays from the buffer pool of kernels.py): a 1x1
stride-1 unpadded convolution is one matmul on the input as it is; a 3x3 stride-1 one with
at least _fastconv.MIN_CHANNELS input channels uses Winograd F(2x2, 3x3), forward, for
dL/dx (filters turned) and for dL/dweights, and F(4x4, 3x3) in inference on outputs of at
least _fastconv.F4_MIN_SIZE pixels a side; any other builds its im2col matrix from a
strided view of the padded input (one copy) and does one batched matmul over (batch,
group). Backward accumulates the column gradients back with one strided slice per kernel
offset. Inference adds the bias and applies the activation in place, block by block.
"""

from __future__ import annotations

import numpy as np

from ...layers.common import cdiv
from .. import activations, kernels
from . import _binary, _blur, _fastconv

BN_EPS = 0.00001

# sway, rotate, stretch, stretch_sway and coordconv run: Darknet's CPU build ignores them (its
# GPU code uses them; the spec's cpu_ignored, validate W310). flipped=1 only changes how the
# weights are stored in a .weights file (the spec's Tensor.flipped; cfgtool.weights).


def bn_fold(w: dict, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(weights, biases) with the inference batch norm folded in; weights' first axis is n."""
    scale = w["scales"] / np.sqrt(w["rolling_variance"] + BN_EPS)
    folded = weights * scale.reshape((-1,) + (1,) * (weights.ndim - 1))
    return folded.astype(weights.dtype), (w["biases"] - w["rolling_mean"] * scale).astype(weights.dtype)


def prepare(p: dict, w: dict) -> dict:
    """Inference-ready tensors: batch norm folded, weights as (groups, n/groups, k) matrices,
    or kept as filters for Winograd (transformed at the first forward, which knows the
    output size and so the variant: see :func:`_winograd_filters`)."""
    g = p.groups
    w = _binary.binarized(w) if _binary.active(p) else w
    weights, biases = bn_fold(w, w["weights"]) if p.batch_normalize else (w["weights"], w["biases"])
    if _fastconv.winograd_ok(p, weights.shape[1]):
        return {"folded": weights, "winograd": {}, "bias": biases}
    if not _direct(p) and _fastconv.tap_major_ok(p):
        return {"tap_major": _fastconv.tap_major(weights), "bias": biases}
    return {"matrix": np.ascontiguousarray(weights.reshape(g, weights.shape[0] // g, -1)), "bias": biases}


def _winograd_filters(p, w, prep, oh, ow):
    """The transformed filters of the Winograd variant for this output size, made once (the
    folded filters are then dropped: a later size needing the other variant folds again)."""
    f = _fastconv.variant(oh, ow)
    if f.m not in prep["winograd"]:
        folded = prep.pop("folded", None)
        if folded is None:
            folded = prepare(p, w)["folded"]
        prep["winograd"][f.m] = _fastconv.winograd_weights(folded, f=f)
    return prep["winograd"][f.m]


def _geometry(p, x_shape):
    """(out_h, out_w) with C's integer division, like Darknet."""
    _, _, h, wd = x_shape
    k, sy, sx, pad = p.size, p.stride_y, p.stride_x, p.pad
    return cdiv(h + 2 * pad - k, sy) + 1, cdiv(wd + 2 * pad - k, sx) + 1


def _direct(p) -> bool:
    """A 1x1, stride-1, unpadded convolution needs no im2col."""
    return p.size == 1 and p.stride_x == 1 and p.stride_y == 1 and p.pad == 0


def workspace(p, shape) -> int:
    """Elements of the im2col matrix per image (0 when the input is used as it is)."""
    if _direct(p):
        return 0
    ow, oh, _ = shape.output
    return shape.input[2] * p.size ** 2 * ow * oh


def _padded_shape(p, x_shape, oh, ow):
    """(offset, padded h, padded w): the input placed at ``offset`` in a zero image large enough
    for every window (Darknet pads by pad*dilation; windows may need more on the far side)."""
    _, _, h, wd = x_shape
    k, d = p.size, p.dilation
    off = p.pad * d
    hp = max(h + off, (oh - 1) * p.stride_y + d * (k - 1) + 1)
    wp = max(wd + off, (ow - 1) * p.stride_x + d * (k - 1) + 1)
    return off, hp, wp


def forward(p, w, xs, train):
    if p.antialiasing or _binary.active(p):  # ops/_blur.py, ops/_binary.py wrap the plain layer
        return (_blur if p.antialiasing else _binary).forward(p, w, xs, train, forward)
    (x,) = xs
    b = x.shape[0]
    oh, ow = _geometry(p, x.shape)
    g, n = p.groups, p.n
    if not train:
        prep = w.get("_prepared") or prepare(p, w)
        act = p.activation
        if "winograd" in prep:
            u = _winograd_filters(p, w, prep, oh, ow)
            return _fastconv.winograd(x, u, prep["bias"], act, p.pad), None
        if "tap_major" in prep:
            return _fastconv.im2col_tap_major(p, x, prep["tap_major"], prep["bias"], act, oh, ow), None
        if _direct(p):
            return _fastconv.direct(p, x, prep["matrix"], prep["bias"], act), None
        return _fastconv.im2col(p, x, prep["matrix"], prep["bias"], act, oh, ow, _padded_shape), None
    kept = []  # Winograd's transformed weights and input, reused by the backward
    z = _fastconv.convolve(p, x, w["weights"], oh, ow, _padded_shape, _direct(p), kept)
    norm = None
    if p.batch_normalize:
        count = b * oh * ow
        xhat = z  # centred, then scaled in place
        xhat -= z.mean(axis=(0, 2, 3), keepdims=True)
        sq = np.square(xhat, out=kernels.empty(z.shape, z.dtype))
        var = sq.sum(axis=(0, 2, 3), keepdims=True) / max(count - 1, 1)
        kernels.give_back(sq)
        inv_std = 1 / np.sqrt(var + BN_EPS)
        xhat *= inv_std
        z = np.multiply(xhat, w["scales"].reshape(n, 1, 1), out=kernels.empty(z.shape, z.dtype))
        norm = (xhat, inv_std, count)
    z += w["biases"].reshape(n, 1, 1)
    y, act_cache = activations.activate(p.activation, z)
    return y, (x, norm, act_cache, kept)


def _weights_gradient(p, x, dz, shape, v=None):
    """dL/dweights: ``dz`` (batch, n, oh, ow) against the im2col matrix of ``x`` (or by
    Winograd, with ``v`` the forward's transformed input when kept)."""
    b, g, n = x.shape[0], p.groups, p.n
    oh, ow = dz.shape[2:]
    if _fastconv.winograd_ok(p, shape[1]):
        return _fastconv.winograd_weights_gradient(x, dz, p.pad, v)
    if not _direct(p) and _fastconv.tap_major_ok(p):
        return _fastconv.tap_major_weights_gradient(p, x, dz)
    if _direct(p):
        cols = x.reshape(b, g, -1, oh * ow)
    else:
        cols = _fastconv.fill_columns(p, x, oh, ow, _padded_shape).reshape(b, g, -1, oh * ow)
    dw = np.matmul(dz.reshape(b, g, n // g, oh * ow), cols.swapaxes(-1, -2)).sum(axis=0).reshape(shape)
    if not _direct(p):
        kernels.give_back(cols)
    return dw


def backward(p, w, dout, cache):
    if p.antialiasing or _binary.active(p):
        return (_blur if p.antialiasing else _binary).backward(p, w, dout, cache, backward)
    x, norm, act_cache, kept = cache
    u, v = kept or (None, None)
    x_shape = x.shape
    b, c, h, wd = x_shape
    g, n = p.groups, p.n
    oh, ow = dout.shape[2:]
    dz = activations.gradient(p.activation, dout, act_cache)
    grads = {"biases": dz.sum(axis=(0, 2, 3))}
    if norm is not None:
        # with dxhat = dz * scales: inv_std * (dxhat - mean(dxhat) - xhat * sum(dxhat * xhat) / (N - 1))
        xhat, inv_std, count = norm
        tmp = np.multiply(dz, xhat, out=kernels.empty(dz.shape, dz.dtype))
        grads["scales"] = tmp.sum(axis=(0, 2, 3))
        scales = w["scales"].reshape(n, 1, 1)
        np.multiply(xhat, (grads["scales"] / max(count - 1, 1)).reshape(n, 1, 1), out=tmp)
        np.subtract(dz, tmp, out=tmp)
        tmp -= (grads["biases"] / count).reshape(n, 1, 1)
        tmp *= inv_std * scales
        dz = tmp
    grads["weights"] = _weights_gradient(p, x, dz, w["weights"].shape, v)
    dx = _fastconv.input_gradient(p, w["weights"], dz, u)
    if dx is None and not _direct(p) and _fastconv.tap_major_ok(p):
        dx = _fastconv.tap_major_input_gradient(p, w["weights"], dz, x_shape)
    if dx is not None:
        return [dx], grads
    dz = dz.reshape(b, g, n // g, oh * ow)
    matrix = w["weights"].reshape(g, n // g, -1)
    dcols = kernels.empty((b, g, matrix.shape[2], oh * ow), dout.dtype)  # (b, g, c/g*k*k, oh*ow)
    np.matmul(matrix.swapaxes(-1, -2), dz, out=dcols)
    if _direct(p):
        return [dcols.reshape(x_shape)], grads
    k, d, sy, sx = p.size, p.dilation, p.stride_y, p.stride_x
    dcols = dcols.reshape(b, c, k, k, oh, ow)
    off, hp, wp = _padded_shape(p, x_shape, oh, ow)
    dxp = kernels.empty((b, c, hp, wp), dout.dtype)
    dxp.fill(0)
    for i in range(k):
        for j in range(k):
            dxp[:, :, i * d:i * d + sy * (oh - 1) + 1:sy, j * d:j * d + sx * (ow - 1) + 1:sx] += dcols[:, :, i, j]
    kernels.give_back(dcols)
    if (off, hp, wp) == (0, h, wd):
        return [dxp], grads
    dx = kernels.empty(x_shape, dout.dtype)
    np.copyto(dx, dxp[:, :, off:off + h, off:off + wd])
    kernels.give_back(dxp)
    return [dx], grads
