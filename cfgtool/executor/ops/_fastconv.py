"""Inference kernels of [convolutional]: Winograd F(2x2, 3x3), im2col into a reused buffer,
and the bias + activation epilogue, the copies and elementwise work split over the worker
threads.

Winograd (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015): a 3x3
stride-1 convolution computes each 2x2 output tile from a 4x4 input tile as
``A^T [(G g G^T) * (B^T d B)] A``; summed over input channels, the 16 elementwise products
become 16 matrix products ``(n, c) @ (c, tiles)``: 2.25x fewer multiplications than im2col.
The tile transforms are matrix products too: the 16 values of every input tile (gathered
with strided copies) times ``kron(B^T, B^T)``, and the 16 products times ``kron(A^T, A^T)``,
so BLAS does them in single multi-threaded calls.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import activations, kernels

# F(2x2, 3x3)
_BT = np.array(((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1)), np.float64)
_G = np.array(((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1)))
_AT = np.array(((1, 1, 1, 0), (0, 1, -1, -1)), np.float64)
_K_IN = np.kron(_BT, _BT)  # (16, 16): tile values (r, s) -> transformed (u, v)
_K_OUT = np.kron(_AT, _AT)  # (4, 16): products (u, v) -> output tile values (i, j)
_K_GRAD = np.kron(_AT.T, _AT.T)  # (16, 4): output-gradient tile (i, j) -> (u, v), for dL/dweights
_K_WEIGHTS = np.kron(_G, _G)  # (16, 9): filter taps (i, j) -> (u, v)
# G turns a reversed filter into the reversed transform with rows 0 and 3 swapped, so the
# transform of a filter turned 180 degrees is the transform with (u, v) -> (S u, S v)
_TURNED = [4 * (3 - u if u in (0, 3) else u) + (3 - v if v in (0, 3) else v) for u in range(4) for v in range(4)]

CHUNK = 1 << 18  # elements per piece of work given to a thread
MIN_CHANNELS = 8  # below, the transforms cost more than the multiplications they save


def winograd_ok(p: dict, channels: int) -> bool:
    """A 3x3 stride-1 undilated ungrouped convolution with enough input channels to gain."""
    return (p["size"] == 3 and p["stride_x"] == 1 and p["stride_y"] == 1 and p.get("dilation", 1) == 1
            and p.get("groups", 1) == 1 and channels >= MIN_CHANNELS)


def winograd_weights(weights: np.ndarray, temporary: bool = False) -> np.ndarray:
    """(n, c, 3, 3) -> (16, n, c): ``G g G^T`` per filter and channel, flattened 4x4 (one
    matrix product with ``kron(G, G)`` over the 9 taps); in a :func:`kernels.empty` buffer
    when ``temporary``."""
    n, c = weights.shape[:2]
    taps = np.ascontiguousarray(weights).reshape(n * c, 9)
    out = kernels.empty((16, n * c), weights.dtype) if temporary else None
    return np.matmul(_K_WEIGHTS.astype(weights.dtype), taps.T, out=out).reshape(16, n, c)


def _tiles(x: np.ndarray, pad: int, th: int, tw: int, size: int, stride: int) -> np.ndarray:
    """(size*size, c, batch, th, tw): value (r, s) of every ``size`` x ``size`` tile (``stride``
    apart) of ``x`` inside ``pad`` zeros on the top and left and as many as needed on the far
    sides, in row ``size*r + s``; from :func:`kernels.empty`.

    The padded input is first split into its ``stride`` column phases (columns q, q + stride,
    ...), so that every gathered tile value is a contiguous slice of one of them."""
    b, c, h, w = x.shape
    hp, wp = stride * (th - 1) + size, stride * (tw - 1) + size
    h_in = min(h, hp - pad)
    phases = [kernels.empty((b, c, hp, len(range(q, wp, stride))), x.dtype) for q in range(stride)]

    def split(q):
        part = phases[q]
        first = (q - pad) % stride  # the first column of x in this phase, at position m0
        m0 = (first + pad - q) // stride
        count = min(len(range(first, w, stride)), part.shape[3] - m0)
        part[:, :, :pad] = 0
        part[:, :, pad + h_in:] = 0
        part[:, :, pad:pad + h_in, :m0] = 0
        part[:, :, pad:pad + h_in, m0 + count:] = 0
        part[:, :, pad:pad + h_in, m0:m0 + count] = x[:, :, :h_in, first:first + stride * (count - 1) + 1:stride]

    kernels.parallel(split, stride)
    d = kernels.empty((size * size, c, b, th, tw), x.dtype)

    def gather(k):
        r, s = divmod(k, size)
        q, m = s % stride, s // stride
        d[k] = phases[q][:, :, r:r + stride * th:stride, m:m + tw].transpose(1, 0, 2, 3)

    kernels.parallel(gather, size * size)
    kernels.give_back(*phases)
    return d


def _transformed_input(x: np.ndarray, pad: int, th: int, tw: int) -> np.ndarray:
    """(16, c, batch * th * tw): ``B^T d B`` of every 4x4 tile (stride 2) of the padded ``x``."""
    c = x.shape[1]
    d = _tiles(x, pad, th, tw, 4, 2)
    v = kernels.empty((16, c, d[0].size // c), x.dtype)
    np.matmul(_K_IN.astype(x.dtype), d.reshape(16, -1), out=v.reshape(16, -1))
    kernels.give_back(d)
    return v


def winograd(x: np.ndarray, u: np.ndarray, bias: np.ndarray | None, activation: str, pad: int) -> np.ndarray:
    """A 3x3 stride-1 convolution with ``pad`` zeros around ``x`` (batch, c, h, w); ``u`` from
    :func:`winograd_weights`; then ``+ bias`` and the activation."""
    b, c, h, w = x.shape
    n = u.shape[1]
    oh, ow = h + 2 * pad - 2, w + 2 * pad - 2
    th, tw = -(-oh // 2), -(-ow // 2)
    v = _transformed_input(x, pad, th, tw)
    m = kernels.empty((16, n, b * th * tw), x.dtype)
    np.matmul(u, v, out=m)
    kernels.give_back(v)
    tiles = kernels.empty((4, n, b, th, tw), x.dtype)
    np.matmul(_K_OUT.astype(x.dtype), m.reshape(16, -1), out=tiles.reshape(4, -1))
    kernels.give_back(m)
    y = kernels.empty((b, n, oh, ow), x.dtype)

    def place(k):  # output tile value (i, j) -> y[..., 2*ty + i, 2*tx + j], the last tiles cropped
        i, j = divmod(k, 2)
        dst = y[:, :, i::2, j::2]
        dst[...] = tiles[k, :, :, :dst.shape[2], :dst.shape[3]].transpose(1, 0, 2, 3)

    kernels.parallel(place, 4)
    kernels.give_back(tiles)
    return activations.activate_inplace(activation, y, bias)


def winograd_weights_gradient(x: np.ndarray, dz: np.ndarray, pad: int) -> np.ndarray:
    """dL/dweights (n, c, 3, 3) of a 3x3 stride-1 convolution of ``x`` with ``pad`` zeros,
    given ``dz`` = dL/d(its output), by the transposed algorithm, F(3x3, 2x2):
    ``G^T [sum over tiles and batch of (A dz_tile A^T) * (B^T x_tile B)] G``; the sums are
    16 matrix products ``(n, tiles) @ (tiles, c)``."""
    c = x.shape[1]
    n, oh, ow = dz.shape[1:]
    th, tw = -(-oh // 2), -(-ow // 2)
    v = _transformed_input(x, pad, th, tw)
    grad_tiles = _tiles(dz, 0, th, tw, 2, 2)  # (4, n, batch, th, tw), zeros past the far edges
    e = kernels.empty((16, n, v.shape[2]), dz.dtype)
    np.matmul(_K_GRAD.astype(dz.dtype), grad_tiles.reshape(4, -1), out=e.reshape(16, -1))
    kernels.give_back(grad_tiles)
    m = np.matmul(e, v.transpose(0, 2, 1), out=kernels.empty((16, n, c), dz.dtype))
    kernels.give_back(v, e)
    dw = np.matmul(m.reshape(16, n * c).T, _K_WEIGHTS.astype(dz.dtype), out=kernels.empty((n * c, 9), dz.dtype))
    kernels.give_back(m)
    return dw.reshape(n, c, 3, 3)  # G^T m G


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
        u = winograd_weights(weights, temporary=True)
        y = winograd(x, u, None, "linear", p["pad"])
        kernels.give_back(u)
        return y
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
    u = winograd_weights(weights, temporary=True)
    turned = kernels.empty(u.shape, u.dtype)
    for k, source in enumerate(_TURNED):
        turned[k] = u[source]
    kernels.give_back(u)
    dx = winograd(dz, turned.transpose(0, 2, 1), None, "linear", 2 - p["pad"])  # (16, c, n) per product
    kernels.give_back(turned)
    return dx
