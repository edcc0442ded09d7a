"""[reorg3d]: space-to-depth (``reverse=0``) or depth-to-space (``reverse=1``) by ``stride``.

Both reorg layers move values with Darknet's ``reorg_cpu(x, w, h, c, batch, stride, forward,
out)`` index map (blas.c); :func:`reorg_map` reproduces that map on the whole flat buffer
(batch included, so non-divisible sizes read exactly the values Darknet reads). [reorg3d] calls
it with the layer's OUTPUT dims and ``forward = reverse``: with ``reverse=0`` that is the plain
space-to-depth ``out[b, (dy*s+dx)*C + c, y, x] = in[b, c, y*s+dy, x*s+dx]``. With
``reverse=1`` the map is taken for ``c/stride^2`` output channels and itself divides those by
``stride^2``: Darknet divides by zero below ``stride^4`` input channels (``ValueError`` here),
and when ``stride^4`` does not divide them the map is no permutation: some outputs are never
written (0 here) and some twice (the later write wins, as in the C loop). A map reaching outside
the buffers raises ``ValueError``.
"""

from __future__ import annotations

import numpy as np

from ._util import scatter_add


def reorg_map(batch: int, w: int, h: int, c: int, stride: int, forward: bool):
    """``(dst, src)`` flat indices of ``reorg_cpu``: it sets ``out[dst] = x[src]``."""
    in_c = c // (stride * stride)
    if in_c == 0:
        raise ValueError(f"reorg: {c} channels is fewer than stride*stride = {stride * stride} "
                         "(Darknet divides by zero)")
    b, k, j, i = np.meshgrid(np.arange(batch), np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    offset = k // in_c
    w2, h2 = i * stride + offset % stride, j * stride + offset // stride
    flat = (i + w * (j + h * (k + c * b))).ravel()
    spread = (w2 + w * stride * (h2 + h * stride * (k % in_c + in_c * b))).ravel()
    return (spread, flat) if forward else (flat, spread)


def apply_map(x: np.ndarray, out_shape: tuple[int, ...], dst: np.ndarray, src: np.ndarray):
    """``out[dst] = x[src]`` on flat buffers (later writes win, as in the C loop)."""
    size = int(np.prod(out_shape))
    if src.max() >= x.size or dst.max() >= size:
        raise ValueError("reorg: these sizes make Darknet index outside its buffers (use sizes divisible by stride)")
    out = np.zeros(size, x.dtype)
    out[dst] = x.reshape(-1)[src]
    # the last write to each destination is the one that counts (for the gradient)
    last = len(dst) - 1 - np.unique(dst[::-1], return_index=True)[1]
    return out.reshape(out_shape), (x.shape, dst[last], src[last])


def map_backward(dout: np.ndarray, cache):
    shape, dst, src = cache
    return scatter_add(int(np.prod(shape)), src, dout.reshape(-1)[dst], dout.dtype).reshape(shape)


def out_dims(p, c: int, h: int, w: int) -> tuple[int, int, int]:
    s = p.stride
    if p.reverse:
        return c // (s * s), h * s, w * s
    return c * s * s, h // s, w // s


def forward(p, w, xs, train):
    x = xs[0]
    oc, oh, ow = out_dims(p, *x.shape[1:])
    dst, src = reorg_map(x.shape[0], ow, oh, oc, p.stride, bool(p.reverse))
    return apply_map(x, (x.shape[0], oc, oh, ow), dst, src)


def backward(p, w, dout, cache):
    return [map_backward(dout, cache)], {}
