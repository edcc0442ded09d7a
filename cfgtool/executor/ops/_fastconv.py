"""Kernels of [convolutional]: Winograd F(2x2, 3x3) (forward, input and weight gradients),
im2col into a reused buffer, and the bias + activation epilogue.

Winograd (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015): a 3x3
stride-1 convolution computes each 2x2 output tile from a 4x4 input tile as
``A^T [(G g G^T) * (B^T d B)] A``; summed over input channels, the 16 elementwise products
become 16 matrix products ``(n, c) @ (c, tiles)``: 2.25x fewer multiplications than im2col
(F(4x4, 3x3), 6x6 tiles, 36 products: 4x fewer, used in inference on large outputs). The tile
transforms are matrix products too: the values of every input tile (gathered with strided
copies) times ``kron(B^T, B^T)``, and the products times ``kron(A^T, A^T)``, so BLAS does
them in single multi-threaded calls. Training uses F(2x2, 3x3) throughout. Every large array comes from the buffer
pool (:mod:`cfgtool.executor.kernels`).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import activations, kernels

class Variant:
    """F(m x m, 3 x 3): ``m x m`` outputs from ``(m+2) x (m+2)`` input tiles; the matrices
    ``B^T``, ``G``, ``A^T`` as Kronecker products acting on flattened tiles."""

    def __init__(self, m: int, bt, g, at):
        bt, g, at = (np.array(a, np.float64) for a in (bt, g, at))
        self.m, self.alpha = m, m + 2
        self.k_in = np.kron(bt, bt)  # (alpha^2, alpha^2): tile values (r, s) -> transformed (u, v)
        self.k_out = np.kron(at, at)  # (m^2, alpha^2): products (u, v) -> output tile values (i, j)
        self.k_weights = np.kron(g, g)  # (alpha^2, 9): filter taps (i, j) -> (u, v)
        self.k_grad = np.kron(at.T, at.T)  # (alpha^2, m^2): output-gradient tile -> (u, v), for dL/dweights


F2 = Variant(2, ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1)),
             ((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1)),
             ((1, 1, 1, 0), (0, 1, -1, -1)))
# points 0, 1, -1, 2, -2 and infinity; about 20x the float32 rounding of F2 (1e-5 of a layer's
# largest output against 5e-7), so used on large outputs only, where it gains most
F4 = Variant(4, ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0), (0, -2, -1, 2, 1, 0),
                 (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1)),
             ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6), (1 / 24, 1 / 12, 1 / 6),
              (1 / 24, -1 / 12, 1 / 6), (0, 0, 1)),
             ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1)))
# outputs at least this wide and high use F4 in inference (fewer products, less to move); at 26
# (yolov4@416's stride-16 maps: 7 tiles of 4 cover 28, and F4's transforms cost more per tile) F2
# measured 4-8% faster on one and two threads, F4 faster from 28 up
F4_MIN_SIZE = 28

# F2's G turns a reversed filter into the reversed transform with rows 0 and 3 swapped, so the
# transform of a filter turned 180 degrees is the transform with (u, v) -> (S u, S v)
_TURNED = [4 * (3 - u if u in (0, 3) else u) + (3 - v if v in (0, 3) else v) for u in range(4) for v in range(4)]

MIN_CHANNELS = 8  # below, the transforms cost more than the multiplications they save
SPLIT_VALUES = 1 << 17  # copies are cut over threads (kernels.split) in parts of at least this many values


def _least(each: int) -> int:
    """Items of ``each`` values that make a part worth a thread of its own."""
    return -(-SPLIT_VALUES // max(each, 1))


def winograd_ok(p: dict, channels: int) -> bool:
    """A 3x3 stride-1 undilated ungrouped convolution with enough input channels to gain."""
    return (p.size == 3 and p.stride_x == 1 and p.stride_y == 1 and p.dilation == 1
            and p.groups == 1 and channels >= MIN_CHANNELS)


def variant(oh: int, ow: int) -> Variant:
    """The inference variant for an output of ``oh`` x ``ow``."""
    return F4 if min(oh, ow) >= F4_MIN_SIZE else F2


def winograd_weights(weights: np.ndarray, temporary: bool = False, f: Variant = F2) -> np.ndarray:
    """(n, c, 3, 3) -> (alpha^2, n, c): ``G g G^T`` per filter and channel, flattened (one
    matrix product with ``kron(G, G)`` over the 9 taps); in a :func:`kernels.empty` buffer
    when ``temporary``."""
    n, c = weights.shape[:2]
    taps = np.ascontiguousarray(weights).reshape(n * c, 9)
    out = kernels.empty((f.alpha ** 2, n * c), weights.dtype) if temporary else None
    return np.matmul(f.k_weights.astype(weights.dtype), taps.T, out=out).reshape(-1, n, c)


def _tiles(x: np.ndarray, pad: int, th: int, tw: int, size: int, stride: int) -> np.ndarray:
    """(size*size, c, batch, th, tw): value (r, s) of every ``size`` x ``size`` tile (``stride``
    apart) of ``x`` inside ``pad`` zeros on the top and left and as many as needed on the far
    sides, in row ``size*r + s``; from :func:`kernels.empty`.

    The padded input is first split into its ``stride`` column phases (columns q, q + stride,
    ...), so that every gathered tile value is a contiguous slice of one of them."""
    b, c, h, w = x.shape
    hp, wp = stride * (th - 1) + size, stride * (tw - 1) + size
    h_in = min(h, hp - pad)
    phases = []
    for q in range(stride):
        part = kernels.empty((b, c, hp, len(range(q, wp, stride))), x.dtype)
        first = (q - pad) % stride  # the first column of x in this phase, at position m0
        m0 = (first + pad - q) // stride
        count = min(len(range(first, w, stride)), part.shape[3] - m0)

        def fill(c0: int, c1: int, part=part, first=first, m0=m0, count=count) -> None:
            inside = part[:, c0:c1, pad:pad + h_in]
            part[:, c0:c1, :pad] = 0
            part[:, c0:c1, pad + h_in:] = 0
            inside[..., :m0] = 0
            inside[..., m0 + count:] = 0
            inside[..., m0:m0 + count] = x[:, c0:c1, :h_in, first:first + stride * (count - 1) + 1:stride]

        kernels.split(fill, c, _least(part[:, 0].size))
        phases.append(part)
    d = kernels.empty((size * size, c, b, th, tw), x.dtype)

    def gather(k0: int, k1: int) -> None:
        for k in range(k0, k1):
            r, s = divmod(k, size)
            q, m = s % stride, s // stride
            d[k] = phases[q][:, :, r:r + stride * th:stride, m:m + tw].transpose(1, 0, 2, 3)

    kernels.split(gather, size * size, _least(d[0].size))
    kernels.give_back(*phases)
    return d


def _transformed_input(x: np.ndarray, pad: int, th: int, tw: int, f: Variant = F2) -> np.ndarray:
    """(alpha^2, c, batch * th * tw): ``B^T d B`` of every tile (``m`` apart) of the padded ``x``."""
    c = x.shape[1]
    d = _tiles(x, pad, th, tw, f.alpha, f.m)
    v = kernels.empty((f.alpha ** 2, c, d[0].size // c), x.dtype)
    kernels.matmul(f.k_in.astype(x.dtype), d.reshape(f.alpha ** 2, -1), v.reshape(f.alpha ** 2, -1))
    kernels.give_back(d)
    return v


def winograd(x: np.ndarray, u: np.ndarray, bias: np.ndarray | None, activation: str, pad: int,
             keep: list | None = None) -> np.ndarray:
    """A 3x3 stride-1 convolution with ``pad`` zeros around ``x`` (batch, c, h, w); ``u`` from
    :func:`winograd_weights` (its length tells the variant); then ``+ bias`` and the
    activation. ``keep`` receives the transformed input (for :func:`winograd_weights_gradient`)
    instead of the pool."""
    f = F2 if u.shape[0] == 16 else F4
    m, b, c, h, w = f.m, *x.shape
    n = u.shape[1]
    oh, ow = h + 2 * pad - 2, w + 2 * pad - 2
    th, tw = -(-oh // m), -(-ow // m)
    v = _transformed_input(x, pad, th, tw, f)
    products = kernels.empty((f.alpha ** 2, n, b * th * tw), x.dtype)
    kernels.matmul(u, v, products)
    if keep is None:
        kernels.give_back(v)
    else:
        keep.append(v)
    if bias is not None:  # column 1 of A^T is all ones: product (1, 1) reaches every output once
        products[f.alpha + 1] += bias.reshape(-1, 1)
    tiles = kernels.empty((m * m, n, b, th, tw), x.dtype)
    kernels.matmul(f.k_out.astype(x.dtype), products.reshape(f.alpha ** 2, -1), tiles.reshape(m * m, -1))
    kernels.give_back(products)
    y = kernels.empty((b, n, oh, ow), x.dtype)

    def scatter(k0: int, k1: int) -> None:
        for k in range(k0, k1):  # output tile value (i, j) -> y[..., m*ty + i, m*tx + j], the last tiles cropped
            i, j = divmod(k, m)
            dst = y[:, :, i::m, j::m]
            dst[...] = tiles[k, :, :, :dst.shape[2], :dst.shape[3]].transpose(1, 0, 2, 3)

    kernels.split(scatter, m * m, _least(tiles[0].size))
    kernels.give_back(tiles)
    return activations.activate_inplace(activation, y)


def winograd_weights_gradient(x: np.ndarray, dz: np.ndarray, pad: int, v: np.ndarray | None = None) -> np.ndarray:
    """dL/dweights (n, c, 3, 3) of a 3x3 stride-1 convolution of ``x`` with ``pad`` zeros,
    given ``dz`` = dL/d(its output), by the transposed algorithm, F(3x3, 2x2):
    ``G^T [sum over tiles and batch of (A dz_tile A^T) * (B^T x_tile B)] G``; the sums are
    16 matrix products ``(n, tiles) @ (tiles, c)``. ``v``: the forward's transformed input."""
    c = x.shape[1]
    n, oh, ow = dz.shape[1:]
    th, tw = -(-oh // 2), -(-ow // 2)
    mine = v is None
    if mine:
        v = _transformed_input(x, pad, th, tw)
    grad_tiles = _tiles(dz, 0, th, tw, 2, 2)  # (4, n, batch, th, tw), zeros past the far edges
    e = kernels.empty((16, n, v.shape[2]), dz.dtype)
    np.matmul(F2.k_grad.astype(dz.dtype), grad_tiles.reshape(4, -1), out=e.reshape(16, -1))
    kernels.give_back(grad_tiles)
    m = np.matmul(e, v.transpose(0, 2, 1), out=kernels.empty((16, n, c), dz.dtype))
    kernels.give_back(e, *([v] if mine else []))
    dw = np.matmul(m.reshape(16, n * c).T, F2.k_weights.astype(dz.dtype), out=kernels.empty((n * c, 9), dz.dtype))
    kernels.give_back(m)
    return dw.reshape(n, c, 3, 3)  # G^T m G


def fill_columns(p: dict, x: np.ndarray, oh: int, ow: int, geometry) -> np.ndarray:
    """The im2col matrix (batch, c, k, k, oh, ow) in a :func:`kernels.empty` buffer: one copy
    of a strided view of the zero-padded input. ``geometry(p, x_shape, oh, ow)`` gives the
    padding as (offset, padded h, padded w)."""
    b, c, h, w = x.shape
    k, d, sy, sx = p.size, p.dilation, p.stride_y, p.stride_x
    off, hp, wp = geometry(p, x.shape, oh, ow)
    xp = x
    if (off, hp, wp) != (0, h, w):
        xp = kernels.empty((b, c, hp, wp), x.dtype)
        xp[:, :, :off] = 0
        xp[:, :, off + h:] = 0
        xp[:, :, off:off + h, :off] = 0
        xp[:, :, off:off + h, off + w:] = 0
        xp[:, :, off:off + h, off:off + w] = x
    s0, s1, s2, s3 = xp.strides
    cols = kernels.empty((b, c, k, k, oh, ow), x.dtype)
    windows = as_strided(xp, cols.shape, (s0, s1, s2 * d, s3 * d, s2 * sy, s3 * sx), writeable=False)

    def gather(c0: int, c1: int) -> None:
        cols[:, c0:c1] = windows[:, c0:c1]

    kernels.split(gather, c, _least(cols[:, 0].size))
    if xp is not x:
        kernels.give_back(xp)
    return cols


def im2col(p: dict, x: np.ndarray, matrix: np.ndarray, bias: np.ndarray | None, activation: str,
           oh: int, ow: int, geometry) -> np.ndarray:
    """Any convolution: :func:`fill_columns`, one batched matmul over (batch, group) with
    ``matrix`` (groups, n/groups, c/groups*k*k), then ``+ bias`` and the activation."""
    b, n = x.shape[0], p.n
    g = p.groups
    cols = fill_columns(p, x, oh, ow, geometry)
    z = kernels.empty((b, g, n // g, oh * ow), x.dtype)
    kernels.matmul(matrix, cols.reshape(b, g, -1, oh * ow), z)
    kernels.give_back(cols)
    return activations.activate_inplace(activation, z.reshape(b, n, oh, ow), bias)


def tap_major_ok(p: dict) -> bool:
    """Inference im2col through :func:`_tiles` (contiguous copies even when strided): an
    undilated ungrouped k x k convolution with equal strides."""
    return p.dilation == 1 and p.groups == 1 and p.stride_x == p.stride_y


def tap_major(weights: np.ndarray) -> np.ndarray:
    """(n, c, k, k) -> (n, k*k*c): the filters with the taps outermost, as :func:`_tiles`
    gathers the im2col matrix."""
    return np.ascontiguousarray(weights.transpose(0, 2, 3, 1)).reshape(weights.shape[0], -1)


def im2col_tap_major(p: dict, x: np.ndarray, matrix: np.ndarray, bias: np.ndarray | None, activation: str,
                     oh: int, ow: int) -> np.ndarray:
    """Like :func:`im2col` for :func:`tap_major_ok` layers, ``matrix`` from :func:`tap_major`."""
    b, n, k = x.shape[0], p.n, p.size
    cols = _tiles(x, p.pad, oh, ow, k, p.stride_x)  # (k*k, c, batch, oh, ow)
    z = kernels.empty((n, b, oh, ow), x.dtype)
    kernels.matmul(matrix, cols.reshape(matrix.shape[1], -1), z.reshape(n, -1))
    kernels.give_back(cols)
    if b > 1:
        y = kernels.empty((b, n, oh, ow), x.dtype)
        np.copyto(y, z.transpose(1, 0, 2, 3))
        kernels.give_back(z)
        z = y
    return activations.activate_inplace(activation, z.reshape(b, n, oh, ow), bias)


def _batch_last(dz: np.ndarray) -> np.ndarray:
    """(batch, n, oh, ow) -> (n, batch * oh * ow), as :func:`_tiles` orders the columns."""
    n = dz.shape[1]
    return dz.reshape(n, -1) if dz.shape[0] == 1 else np.ascontiguousarray(dz.transpose(1, 0, 2, 3)).reshape(n, -1)


def tap_major_weights_gradient(p: dict, x: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """dL/dweights (n, c, k, k) of a :func:`tap_major_ok` convolution: ``dz`` against the
    im2col matrix gathered by :func:`_tiles`."""
    c, n, k = x.shape[1], dz.shape[1], p.size
    cols = _tiles(x, p.pad, dz.shape[2], dz.shape[3], k, p.stride_x)
    dw = np.matmul(_batch_last(dz), cols.reshape(k * k * c, -1).T)  # (n, k*k*c), taps outermost
    kernels.give_back(cols)
    return np.ascontiguousarray(dw.reshape(n, k, k, c).transpose(0, 3, 1, 2))


def tap_major_input_gradient(p: dict, weights: np.ndarray, dz: np.ndarray, x_shape) -> np.ndarray:
    """dL/dx of a :func:`tap_major_ok` convolution: the column gradients added back into the
    padded input's ``stride`` x ``stride`` phases (contiguous slices), then interleaved."""
    b, c, h, w = x_shape
    oh, ow = dz.shape[2:]
    k, s, pad = p.size, p.stride_x, p.pad
    dcols = kernels.empty((k * k, c, b, oh, ow), dz.dtype)
    np.matmul(tap_major(weights).T, _batch_last(dz), out=dcols.reshape(k * k * c, -1))
    hp, wp = s * (oh - 1) + k, s * (ow - 1) + k
    phases = [[kernels.empty((c, b, len(range(qy, hp, s)), len(range(qx, wp, s))), dz.dtype) for qx in range(s)]
              for qy in range(s)]
    for row in phases:
        for part in row:
            part.fill(0)
    for t in range(k * k):
        i, j = divmod(t, k)
        phases[i % s][j % s][:, :, i // s:i // s + oh, j // s:j // s + ow] += dcols[t]
    kernels.give_back(dcols)
    dx = kernels.empty(x_shape, dz.dtype)
    if hp - pad < h or wp - pad < w:  # input rows or columns no window reads
        dx.fill(0)
    for qy in range(s):
        for qx in range(s):
            # padded row qy + s*r is input row qy + s*r - pad
            r0, c0 = max(0, -(-(pad - qy) // s)), max(0, -(-(pad - qx) // s))
            y0, x0 = qy + s * r0 - pad, qx + s * c0 - pad
            rows, cols = len(range(y0, min(h, hp - pad), s)), len(range(x0, min(w, wp - pad), s))
            if rows > 0 and cols > 0:
                dx[:, :, y0:y0 + s * (rows - 1) + 1:s, x0:x0 + s * (cols - 1) + 1:s] = \
                    phases[qy][qx][:, :, r0:r0 + rows, c0:c0 + cols].transpose(1, 0, 2, 3)
    kernels.give_back(*(part for row in phases for part in row))
    return dx


def direct(p: dict, x: np.ndarray, matrix: np.ndarray, bias: np.ndarray | None, activation: str) -> np.ndarray:
    """A 1x1 stride-1 unpadded convolution: one matmul on the input as it is."""
    b, c, h, w = x.shape
    g, n = p.groups, p.n
    z = kernels.empty((b, g, n // g, h * w), x.dtype)
    kernels.matmul(matrix, np.ascontiguousarray(x).reshape(b, g, c // g, h * w), z)
    return activations.activate_inplace(activation, z.reshape(b, n, h, w), bias)


def convolve(p: dict, x: np.ndarray, weights: np.ndarray, oh: int, ow: int, geometry, direct_ok: bool,
             keep: list | None = None) -> np.ndarray:
    """The bare convolution of ``x`` with ``weights`` (n, c/groups, k, k): no bias, no
    activation. By Winograd, ``keep`` (if given) receives the transformed weights and input
    for the backward (:func:`input_gradient`, :func:`winograd_weights_gradient`)."""
    if winograd_ok(p, weights.shape[1]):
        u = winograd_weights(weights, temporary=True)
        y = winograd(x, u, None, "linear", p.pad, keep)
        if keep is None:
            kernels.give_back(u)
        else:
            keep.insert(0, u)
        return y
    if direct_ok:
        return direct(p, x, weights.reshape(p.groups, p.n // p.groups, -1), None, "linear")
    if tap_major_ok(p):
        return im2col_tap_major(p, x, tap_major(weights), None, "linear", oh, ow)
    return im2col(p, x, weights.reshape(p.groups, p.n // p.groups, -1), None, "linear",
                  oh, ow, geometry)


def input_gradient(p: dict, weights: np.ndarray, dz: np.ndarray, u: np.ndarray | None = None) -> np.ndarray | None:
    """dL/dx of a 3x3 stride-1 convolution by Winograd: the correlation of ``dz`` padded by
    ``2 - pad`` with the filters turned 180 degrees and transposed (``u``: the forward's
    transformed weights, if kept). None where it does not apply (use the matrix route)."""
    if not winograd_ok(p, weights.shape[0]) or not 0 <= p.pad <= 2:
        return None
    source_u = winograd_weights(weights, temporary=True) if u is None else u
    turned = kernels.empty(source_u.shape, source_u.dtype)
    for k, source in enumerate(_TURNED):
        turned[k] = source_u[source]
    if u is None:
        kernels.give_back(source_u)
    dx = winograd(dz, turned.transpose(0, 2, 1), None, "linear", 2 - p.pad)  # (16, c, n) per product
    kernels.give_back(turned)
    return dx
