"""Inference kernels of [convolutional]: Winograd F(2x2, 3x3), im2col into a reused buffer,
and the bias + activation epilogue, the elementwise work split over the worker threads.

Winograd (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015): a 3x3
stride-1 convolution computes each 2x2 output tile from a 4x4 input tile as
``A^T [(G g G^T) * (B^T d B)] A``; summed over input channels, the 16 elementwise products
become 16 matrix products ``(n, c) @ (c, tiles)``: 2.25x fewer multiplications than im2col.
The transforms are additions only (the 1/2 of ``G`` is applied once to the weights), and the
tiles are read with strided views of the zero-padded input, a few channels at a time so the
intermediate rows stay in the CPU cache.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import activations, kernels

# F(2x2, 3x3)
_BT = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
_G = np.array(((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1)))
_AT = ((1, 1, 1, 0), (0, 1, -1, -1))
_A = tuple(zip(*_AT))

CHUNK = 1 << 18  # elements per piece of work given to a thread


def _combine(out: np.ndarray, row, srcs) -> None:
    """``out = sum(row[k] * srcs[k])`` for coefficients in {-1, 0, 1}."""
    terms = [(c, s) for c, s in zip(row, srcs) if c]
    if len(terms) == 1:
        np.copyto(out, terms[0][1]) if terms[0][0] > 0 else np.negative(terms[0][1], out=out)
        return
    (c0, s0), (c1, s1) = terms[:2]
    if c0 == c1:
        np.add(s0, s1, out=out)
        if c0 < 0:
            np.negative(out, out=out)
    else:
        np.subtract(s0, s1, out=out) if c0 > 0 else np.subtract(s1, s0, out=out)
    for c, s in terms[2:]:
        (np.add if c > 0 else np.subtract)(out, s, out=out)


MIN_CHANNELS = 100000  # below, the transforms cost more than the multiplications they save


def winograd_ok(p: dict, channels: int) -> bool:
    """A 3x3 stride-1 undilated ungrouped convolution with enough input channels to gain."""
    return (p["size"] == 3 and p["stride_x"] == 1 and p["stride_y"] == 1 and p.get("dilation", 1) == 1
            and p.get("groups", 1) == 1 and channels >= MIN_CHANNELS)


def winograd_weights(weights: np.ndarray) -> np.ndarray:
    """(n, c, 3, 3) -> (16, n, c): ``G g G^T`` per filter and channel, flattened 4x4."""
    n, c = weights.shape[:2]
    g = _G.astype(weights.dtype)
    u = np.tensordot(np.tensordot(g, weights, axes=([1], [2])), g, axes=([3], [1]))  # (4, n, c, 4)
    return np.ascontiguousarray(u.transpose(0, 3, 1, 2)).reshape(16, n, c)


def _input_transform(x: np.ndarray, pad: int, th: int, tw: int) -> np.ndarray:
    """(16, c, batch, th, tw): ``B^T d B`` of every 4x4 tile (stride 2) of ``x`` inside ``pad``
    zeros, the input transform of F(2x2, 3x3)."""
    b, c, h, w = x.shape
    v = kernels.empty((16, c, b, th, tw), x.dtype)
    # the padded input (2*th + 2 rows, 2*tw + 2 columns), its even and odd columns apart so
    # that every tile column is a contiguous slice: [parity][x column start, count, destination]
    split = []
    for parity in (0, 1):
        q0 = (parity - pad) % 2
        split.append((q0, len(range(q0, w, 2)), (q0 + pad) // 2))
    parts = kernels.chunks(c, b * (2 * th + 2) * (2 * tw + 2), CHUNK)

    def transform(k):
        c0, c1 = parts[k]
        rows = np.empty((2, 4, b, c1 - c0, th, tw + 1), x.dtype)
        for parity, (q0, count, m0) in enumerate(split):
            xp = np.zeros((b, c1 - c0, 2 * th + 2, tw + 1), x.dtype)
            xp[:, :, pad:pad + h, m0:m0 + count] = x[:, c0:c1, :, q0::2]
            picked = [xp[:, :, i:i + 2 * th:2] for i in range(4)]
            for i in range(4):
                _combine(rows[parity, i], _BT[i], picked)
        for i in range(4):
            even, odd = rows[0, i], rows[1, i]
            picked = (even[..., :tw], odd[..., :tw], even[..., 1:], odd[..., 1:])
            for j in range(4):
                _combine(v[4 * i + j, c0:c1].transpose(1, 0, 2, 3), _BT[j], picked)

    kernels.parallel(transform, len(parts))
    return v


def winograd(x: np.ndarray, u: np.ndarray, bias: np.ndarray | None, activation: str, pad: int) -> np.ndarray:
    """A 3x3 stride-1 convolution with ``pad`` zeros around ``x`` (batch, c, h, w); ``u`` from
    :func:`winograd_weights`; then ``+ bias`` and the activation."""
    b, c, h, w = x.shape
    n = u.shape[1]
    oh, ow = h + 2 * pad - 2, w + 2 * pad - 2
    th, tw = -(-oh // 2), -(-ow // 2)
    v = _input_transform(x, pad, th, tw)
    m = kernels.empty((16, n, b, th, tw), x.dtype)
    np.matmul(u, v.reshape(16, c, b * th * tw), out=m.reshape(16, n, b * th * tw))
    kernels.give_back(v)
    y = kernels.empty((b, n, oh, ow), x.dtype)
    crop = (2 * th, 2 * tw) != (oh, ow)
    name = activations.canonical(activation)
    elementwise = not name.startswith("normalize_channels")
    out_parts = kernels.chunks(n, 4 * b * th * tw, CHUNK)

    def transform_output(k):
        n0, n1 = out_parts[k]
        ms = m[:, n0:n1]
        if bias is not None:
            ms[5] += bias[n0:n1].reshape(-1, 1, 1, 1)  # A^T picks M[1, 1] once for every output
        half = np.empty((2, 4, n1 - n0, b, th, tw), x.dtype)
        for i in range(2):
            for j in range(4):
                _combine(half[i, j], _AT[i], [ms[4 * r + j] for r in range(4)])
        z = np.empty((b, n1 - n0, th, 2, tw, 2), x.dtype) if crop else y[:, n0:n1].reshape(b, n1 - n0, th, 2, tw, 2)
        t = np.empty((n1 - n0, b, th, tw), x.dtype)
        for i in range(2):
            p0, p1, p2, p3 = half[i]
            np.add(np.add(p0, p1, out=t), p2, out=z[:, :, :, i, :, 0].transpose(1, 0, 2, 3))
            np.subtract(np.subtract(p1, p2, out=t), p3, out=z[:, :, :, i, :, 1].transpose(1, 0, 2, 3))
        if crop:
            y[:, n0:n1] = z.reshape(b, n1 - n0, 2 * th, 2 * tw)[:, :, :oh, :ow]
        if elementwise and name != "linear":
            for bi in range(b):
                activations.rows_inplace(name, y[bi, n0:n1].reshape(n1 - n0, -1))

    kernels.parallel(transform_output, len(out_parts))
    kernels.give_back(m)
    return y if elementwise else activations.activate_inplace(name, y)


def winograd_weights_gradient(x: np.ndarray, dz: np.ndarray, pad: int) -> np.ndarray:
    """dL/dweights (n, c, 3, 3) of a 3x3 stride-1 convolution of ``x`` with ``pad`` zeros,
    given ``dz`` = dL/d(its output), by the transposed algorithm, F(3x3, 2x2):
    ``G^T [sum over tiles and batch of (A dz_tile A^T) * (B^T x_tile B)] G``; the sums are
    16 matrix products ``(n, tiles) @ (tiles, c)``."""
    b, c = x.shape[:2]
    n, oh, ow = dz.shape[1:]
    th, tw = -(-oh // 2), -(-ow // 2)
    v = _input_transform(x, pad, th, tw)
    if (2 * th, 2 * tw) != (oh, ow):
        padded = np.zeros((b, n, 2 * th, 2 * tw), dz.dtype)
        padded[:, :, :oh, :ow] = dz
        dz = padded
    tiles = dz.reshape(b, n, th, 2, tw, 2)
    d = kernels.empty((16, n, b, th, tw), dz.dtype)
    parts = kernels.chunks(n, 4 * b * th * tw, CHUNK)

    def transform(k):
        n0, n1 = parts[k]
        picked = [[tiles[:, n0:n1, :, i, :, j].transpose(1, 0, 2, 3) for j in range(2)] for i in range(2)]
        rows = np.empty((4, 2, n1 - n0, b, th, tw), dz.dtype)
        for r in range(4):
            for j in range(2):
                _combine(rows[r, j], _A[r], [picked[i][j] for i in range(2)])
        for r in range(4):
            for j in range(4):
                _combine(d[4 * r + j, n0:n1], _A[j], rows[r])

    kernels.parallel(transform, len(parts))
    m = np.matmul(d.reshape(16, n, -1), v.reshape(16, c, -1).transpose(0, 2, 1))  # (16, n, c)
    kernels.give_back(v, d)
    g = _G.astype(dz.dtype)
    dw = np.tensordot(np.tensordot(g, m.reshape(4, 4, n, c), axes=([0], [0])), g, axes=([1], [0]))  # (3, n, c, 3)
    return np.ascontiguousarray(dw.transpose(1, 2, 0, 3))


def fill_columns(p: dict, x: np.ndarray, oh: int, ow: int, geometry) -> np.ndarray:
    """The im2col matrix (batch, c, k, k, oh, ow) from :func:`kernels.empty`, written by the
    worker threads a few channels each, padded on the fly. ``geometry(p, x_shape, oh, ow)``
    gives the zero padding as (offset, padded h, padded w)."""
    b, c, h, w = x.shape
    k, d, sy, sx = p["size"], p.get("dilation", 1), p["stride_y"], p["stride_x"]
    off, hp, wp = geometry(p, x.shape, oh, ow)
    cols = kernels.empty((b, c, k, k, oh, ow), x.dtype)
    parts = kernels.chunks(c, b * k * k * oh * ow, 1 << 17)

    def fill(t):
        c0, c1 = parts[t]
        if off == 0 and (hp, wp) == (h, w):
            xp = x[:, c0:c1]
        else:
            xp = np.zeros((b, c1 - c0, hp, wp), x.dtype)
            xp[:, :, off:off + h, off:off + w] = x[:, c0:c1]
        s0, s1, s2, s3 = xp.strides
        win = as_strided(xp, (b, c1 - c0, k, k, oh, ow), (s0, s1, s2 * d, s3 * d, s2 * sy, s3 * sx), writeable=False)
        cols[:, c0:c1] = win

    kernels.parallel(fill, len(parts))
    return cols


def im2col(p: dict, x: np.ndarray, matrix: np.ndarray, bias: np.ndarray | None, activation: str,
           oh: int, ow: int, geometry) -> np.ndarray:
    """Any convolution: :func:`fill_columns`, one batched matmul over (batch, group) with
    ``matrix`` (groups, n/groups, c/groups*k*k), then ``+ bias`` and the activation."""
    b, n = x.shape[0], p["n"]
    g = p.get("groups", 1)
    cols = fill_columns(p, x, oh, ow, geometry)
    z = kernels.empty((b, g, n // g, oh * ow), x.dtype)
    np.matmul(matrix, cols.reshape(b, g, -1, oh * ow), out=z)
    kernels.give_back(cols)
    return activations.activate_inplace(activation, z.reshape(b, n, oh, ow), bias)


def direct(p: dict, x: np.ndarray, matrix: np.ndarray, bias: np.ndarray | None, activation: str) -> np.ndarray:
    """A 1x1 stride-1 unpadded convolution: one matmul on the input as it is."""
    b, c, h, w = x.shape
    g, n = p.get("groups", 1), p["n"]
    z = kernels.empty((b, g, n // g, h * w), x.dtype)
    np.matmul(matrix, np.ascontiguousarray(x).reshape(b, g, c // g, h * w), out=z)
    return activations.activate_inplace(activation, z.reshape(b, n, h, w), bias)


def convolve(p: dict, x: np.ndarray, weights: np.ndarray, oh: int, ow: int, geometry, direct_ok: bool) -> np.ndarray:
    """The bare convolution of ``x`` with ``weights`` (n, c/groups, k, k): no bias, no activation."""
    if winograd_ok(p, weights.shape[1]):
        return winograd(x, winograd_weights(weights), None, "linear", p["pad"])
    matrix = weights.reshape(p.get("groups", 1), p["n"] // p.get("groups", 1), -1)
    if direct_ok:
        return direct(p, x, matrix, None, "linear")
    return im2col(p, x, matrix, None, "linear", oh, ow, geometry)


def input_gradient(p: dict, weights: np.ndarray, dz: np.ndarray, x_shape) -> np.ndarray | None:
    """dL/dx of a 3x3 stride-1 convolution by Winograd: the correlation of ``dz`` padded by
    ``2 - pad`` with the filters turned 180 degrees and transposed. None where it does not
    apply (use the matrix route)."""
    if not winograd_ok(p, weights.shape[0]) or not 0 <= p["pad"] <= 2:
        return None
    flipped = np.ascontiguousarray(weights[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    return winograd(dz, winograd_weights(flipped), None, "linear", 2 - p["pad"])
