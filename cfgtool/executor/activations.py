"""Darknet's activation functions, forward and derivative, on numpy arrays.

``activate(name, x)`` returns ``(y, cache)``; ``gradient(name, dy, cache)`` returns dL/dx.
Every gradient is the true derivative of the forward implemented here, so numeric gradient
checks pass. Where Darknet differs (see src/activations.c):

- Darknet's CPU ``activate()`` has no case for relu6, swish, mish, hard_mish and the
  normalize_channels family, so an ``[activation]`` or ``[connected]`` layer using them outputs
  0 on CPU (convolutional layers call dedicated functions and are right). Here they compute
  the intended function everywhere.
- Darknet evaluates most derivatives from the layer's *output*; gelu's then is not the
  derivative of gelu, and stair's is 1 almost everywhere. normalize_channels and
  normalize_channels_softmax(_maxval) get ``delta * sum(out * delta)`` in Darknet, which is not
  the Jacobian-vector product; here the exact one is used.
- An unknown name is read as relu, like Darknet's ``get_activation`` (which prints a warning).

``x`` may be overwritten when ``inplace=True`` (the caller owns it and needs no cache).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..layers.common import ACTIVATIONS as NAMES  # get_activation's names: one list
from . import kernels

LEAKY = 0.1  # the slope of leaky (and revleaky) below 0, and of ramp's linear part

# Functions of the input alone: name -> (forward, derivative)
_SELU_L, _SELU_A = 1.0507, 1.6732
_GELU_A, _GELU_B = 0.797885, 0.035677
_NORM_EPS = 0.0001
_MISH_THRESHOLD = 20.0


def canonical(name: str | None) -> str:
    """Darknet's reading of an activation name (unknown names become relu)."""
    return name if name in NAMES else "relu"


def _sigmoid(x):
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def _mish_t(x):
    """tanh(softplus(x)) without overflow: e(e+2)/(e(e+2)+2) with e = exp(min(x, 20))."""
    e = np.exp(np.minimum(x, _MISH_THRESHOLD))
    n = e * (e + 2)
    return n / (n + 2)


def _gelu(x):
    return 0.5 * x * (1 + np.tanh(_GELU_A * x + _GELU_B * x**3))


def _gelu_d(x):
    t = np.tanh(_GELU_A * x + _GELU_B * x**3)
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * (_GELU_A + 3 * _GELU_B * x * x)


def _mish_d(x):
    t = _mish_t(x)
    return t + x * (1 - t * t) * _sigmoid(x)


def _one(x):
    return np.ones_like(x)


class BranchLog:
    """The piece of every piecewise function (leaky's sides of 0, a maxpool's argmax, ...)
    each element took, in call order.

    A gradient check records it at the base point, then replays it while it perturbs the
    input: the numeric derivative then never straddles a kink, and compares with the analytic
    one exactly (deep networks have so many units near a kink that some always cross).
    """

    def __init__(self):
        self.pieces: list[np.ndarray] = []
        self.replay = False
        self.position = 0

    def __call__(self, compute):
        if not self.replay:
            self.pieces.append(compute())
            return self.pieces[-1]
        self.position += 1
        return self.pieces[self.position - 1]


_LOG: BranchLog | None = None


@contextmanager
def branch_log(log: BranchLog):
    """Within: :func:`piece` records into ``log`` (or replays it when ``log.replay``)."""
    global _LOG
    previous, _LOG = _LOG, log
    log.position = 0
    try:
        yield log
    finally:
        _LOG = previous


def piece(compute):
    """``compute()`` -- which piece of a piecewise function each element is on -- or, inside
    :func:`branch_log`, the recorded choice."""
    return compute() if _LOG is None else _LOG(compute)


def _three(low, high):
    """Piece 0 below ``low``, 2 above ``high``, 1 between (kinks at low and high)."""
    return lambda x: 1 + (x > high).astype(np.int8) - (x < low).astype(np.int8)


# piecewise activations: name -> (piece of each element, value given the piece)
_PIECEWISE = {
    "relu": (lambda x: x > 0, lambda x, b: np.where(b, x, 0)),
    "leaky": (lambda x: x > 0, lambda x, b: np.where(b, x, LEAKY * x)),
    "revleaky": (lambda x: x > 0, lambda x, b: np.where(b, x, LEAKY * x)),
    "relie": (lambda x: x > 0, lambda x, b: np.where(b, x, 0.01 * x)),
    "ramp": (lambda x: x > 0, lambda x, b: x * b + LEAKY * x),
    "elu": (lambda x: x >= 0, lambda x, b: np.where(b, x, np.expm1(np.minimum(x, 0)))),
    "selu": (lambda x: x >= 0, lambda x, b: np.where(b, _SELU_L * x, _SELU_L * _SELU_A * np.expm1(np.minimum(x, 0)))),
    "relu6": (_three(0, 6), lambda x, b: np.choose(b, (0 * x, x, 0 * x + 6))),
    "hardtan": (_three(-1, 1), lambda x, b: np.choose(b, (0 * x - 1, x, 0 * x + 1))),
    "lhtan": (_three(0, 1), lambda x, b: np.choose(b, (0.001 * x, x, 0.001 * (x - 1) + 1))),
    "plse": (_three(-4, 4), lambda x, b: np.choose(b, (0.01 * (x + 4), 0.125 * x + 0.5, 0.01 * (x - 4) + 1))),
    "hard_mish": (lambda x: (x > -2).astype(np.int8) + (x > 0),
                  lambda x, b: np.choose(b, (0 * x, x * x / 2 + x, x))),
    # stair: floor(x) is the piece; even: floor(x/2) = n/2, odd: (x - n) + (n - 1)/2
    "stair": (np.floor, lambda x, n: np.where(np.mod(n, 2) == 0, n / 2, x - n + (n - 1) / 2)),
}


def _piecewise(name):
    which, value = _PIECEWISE[name]
    return lambda x: value(x, piece(lambda: which(x)))


_ELEMENTWISE = {
    "linear": (lambda x: x, _one),
    "logistic": (_sigmoid, lambda x: _sigmoid(x) * (1 - _sigmoid(x))),
    "loggy": (lambda x: 2 * _sigmoid(x) - 1, lambda x: 2 * _sigmoid(x) * (1 - _sigmoid(x))),
    "relu": (_piecewise("relu"), lambda x: (x > 0).astype(x.dtype)),
    "relu6": (_piecewise("relu6"), lambda x: ((x > 0) & (x < 6)).astype(x.dtype)),
    "elu": (_piecewise("elu"),
            lambda x: np.where(x >= 0, 1, np.exp(np.minimum(x, 0))).astype(x.dtype)),
    "selu": (_piecewise("selu"),
             lambda x: np.where(x >= 0, _SELU_L, _SELU_L * _SELU_A * np.exp(np.minimum(x, 0))).astype(x.dtype)),
    "gelu": (_gelu, _gelu_d),
    "relie": (_piecewise("relie"), lambda x: np.where(x > 0, 1, 0.01).astype(x.dtype)),
    "ramp": (_piecewise("ramp"), lambda x: np.where(x > 0, 1 + LEAKY, LEAKY).astype(x.dtype)),
    "leaky": (_piecewise("leaky"), lambda x: np.where(x > 0, 1, LEAKY).astype(x.dtype)),
    "revleaky": (_piecewise("revleaky"), lambda x: np.where(x > 0, 1, LEAKY).astype(x.dtype)),
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "plse": (_piecewise("plse"),
             lambda x: np.where((x < -4) | (x > 4), 0.01, 0.125).astype(x.dtype)),
    "stair": (_piecewise("stair"), lambda x: (np.mod(np.floor(x), 2) != 0).astype(x.dtype)),
    "hardtan": (_piecewise("hardtan"), lambda x: ((x > -1) & (x < 1)).astype(x.dtype)),
    "lhtan": (_piecewise("lhtan"),
              lambda x: np.where((x > 0) & (x < 1), 1, 0.001).astype(x.dtype)),
    "swish": (lambda x: x * _sigmoid(x), lambda x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x)))),
    "mish": (lambda x: x * _mish_t(x), _mish_d),
    "hard_mish": (_piecewise("hard_mish"),
                  lambda x: np.where(x > 0, 1, np.where(x > -2, x + 1, 0)).astype(x.dtype)),
}


CHUNK = 65536  # elements per block: in-place activations stay in the CPU cache


def _blocks(shape: tuple[int, int], chunk: int | None = None):
    """(row slice, column slice) pairs covering a (rows, width) array in blocks of about
    ``chunk`` values (default :data:`CHUNK`: cache-sized)."""
    rows, width = shape
    chunk = chunk or CHUNK
    if width >= chunk:
        for r in range(rows):
            for s in range(0, width, chunk):
                yield slice(r, r + 1), slice(s, s + chunk)
    else:
        step = max(1, chunk // max(width, 1))
        for r in range(0, rows, step):
            yield slice(r, r + step), slice(None)


def _block_inplace(name: str, v: np.ndarray, e: np.ndarray, n: np.ndarray) -> None:
    """Apply ``name`` to the block ``v`` in place; ``e``, ``n`` are scratch blocks of v's shape."""
    one = v.dtype.type
    if name in ("leaky", "revleaky"):
        np.multiply(v, one(LEAKY), out=e)
        np.maximum(v, e, out=v)
    elif name == "relu":
        np.maximum(v, 0, out=v)
    elif name == "logistic":
        np.negative(v, out=v)
        np.exp(v, out=v)
        v += 1
        np.reciprocal(v, out=v)
    elif name == "mish":  # tanh(softplus(x)) = n / (n + 2) = 1 / (1 + 2/n), n = e(e+2), e = exp(x)
        np.exp(v, out=e)  # inf above ~88: 2/n = 0, y = x; 0 below ~-103: 2/n = inf, y = -0
        np.add(e, 2, out=n)
        n *= e
        np.divide(2, n, out=n)
        n += 1
        v /= n
    elif name == "swish":
        np.negative(v, out=e)
        np.exp(e, out=e)
        e += 1
        v /= e
    else:
        v[...] = _ELEMENTWISE[name][0](v)


SPLIT_CHUNK = 131072  # elements per block when the work is split over threads (see kernels.split)
# activations worth splitting over threads: the transcendental ones (leaky or relu are a pass or
# two over memory, which a second thread did not speed up)
_SPLIT = frozenset(("mish", "swish", "logistic"))


def rows_inplace(name: str, x2: np.ndarray, col: np.ndarray | None = None) -> None:
    """``x2 + col`` then the elementwise activation ``name`` (canonical), in place on the
    rows of a 2-D array with contiguous rows, block by block; ``col`` is (rows, 1) or None.
    mish, swish and logistic are cut into parts over the pass's threads (kernels.split)."""
    rows, width = x2.shape
    least = -(-SPLIT_CHUNK // max(width, 1))  # rows of a part: at least a block
    split = name in _SPLIT and kernels.parts(rows, least) > 1
    chunk = SPLIT_CHUNK if split else CHUNK

    def part(r0: int, r1: int) -> None:
        x, c = x2[r0:r1], None if col is None else col[r0:r1]
        scratch = np.empty(min(chunk, x.size) * 2, x.dtype)
        with np.errstate(over="ignore", under="ignore", divide="ignore"):
            for rs, cs in _blocks(x.shape, chunk):
                v = x[rs, cs]
                if c is not None:
                    v += c[rs]
                if name != "linear":
                    k = v.size
                    _block_inplace(name, v, scratch[:k].reshape(v.shape), scratch[k:2 * k].reshape(v.shape))

    if split:
        kernels.split(part, rows, least)
    else:
        part(0, rows)


def _rows(a: np.ndarray) -> np.ndarray:
    """(batch * channels, rest) view of a C-contiguous array."""
    return a.reshape(a.shape[0] * a.shape[1], -1) if a.ndim > 1 else a.reshape(1, -1)


# the activations with a blocked in-place forward (_block_inplace) and gradient (_gradient_block)
_FAST = frozenset(("leaky", "revleaky", "relu", "logistic", "mish", "swish"))


def _gradient_block(name: str, x: np.ndarray, dy: np.ndarray, out: np.ndarray, e: np.ndarray, n: np.ndarray):
    """``out = dy * name'(x)`` on one block; ``e``, ``n`` are scratch blocks."""
    one = x.dtype.type
    if name in ("leaky", "revleaky"):
        np.multiply(dy, one(LEAKY), out=out)
        np.copyto(out, dy, where=x > 0)
    elif name == "relu":
        np.multiply(dy, x > 0, out=out)
    elif name == "mish":  # t + x (1 - t^2) sigmoid(x), t = tanh(softplus(x)) = n / (n + 2), n = e(e+2)
        np.minimum(x, one(_MISH_THRESHOLD), out=e)
        np.exp(e, out=e)
        np.add(e, 1, out=n)
        np.divide(e, n, out=out)  # sigmoid(x)
        np.add(e, 2, out=n)
        n *= e
        np.add(n, 2, out=e)
        np.divide(n, e, out=n)  # t
        np.multiply(n, n, out=e)
        np.subtract(1, e, out=e)
        e *= x
        e *= out
        e += n
        np.multiply(e, dy, out=out)
    else:  # logistic, swish: s = sigmoid(x); s (1 - s) or s (1 + x (1 - s))
        np.negative(x, out=e)
        np.exp(e, out=e)
        e += 1
        np.reciprocal(e, out=e)
        np.subtract(1, e, out=n)
        if name == "swish":
            n *= x
            n += 1
        n *= e
        np.multiply(n, dy, out=out)


def _fast_gradient(name: str, x: np.ndarray, dy: np.ndarray) -> np.ndarray:
    out = kernels.empty(x.shape, x.dtype)
    x2, dy2, out2 = _rows(x), _rows(dy), _rows(out)
    scratch = np.empty(min(CHUNK, x2.size) * 2, x.dtype)
    with np.errstate(over="ignore", under="ignore"):
        for r, c in _blocks(x2.shape):
            xb = x2[r, c]
            k = xb.size
            _gradient_block(name, xb, dy2[r, c], out2[r, c], scratch[:k].reshape(xb.shape),
                            scratch[k:2 * k].reshape(xb.shape))
    return out


def activate_inplace(name: str, x: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """Inference: ``x + bias`` (one value per channel, axis 1) then the activation, in place
    and block by block where the activation is elementwise. ``x`` is C-contiguous (batch, channels, ...); returns the result (a new array for
    the normalize_channels family)."""
    name = canonical(name)
    if name.startswith("normalize_channels"):
        if bias is not None:
            x += bias.reshape((1, -1) + (1,) * (x.ndim - 2))
        return _channel_norm(x, name)
    if name == "linear" and bias is None:
        return x
    x2 = x.reshape(x.shape[0] * x.shape[1], -1)
    col = None if bias is None else np.tile(bias, x.shape[0]).reshape(-1, 1)
    rows_inplace(name, x2, col)
    return x


def _channel_norm(x: np.ndarray, name: str) -> np.ndarray:
    """normalize_channels(_softmax(_maxval)) over axis 1 of an NCHW (or (N, C)) array."""
    if name == "normalize_channels":
        pos = np.where(piece(lambda: x > 0), x, 0)
        return pos / (_NORM_EPS + pos.sum(axis=1, keepdims=True))
    shift = x.max(axis=1, keepdims=True) if name.endswith("maxval") else 0
    with np.errstate(over="ignore"):
        e = np.exp(x - shift)
    return e / (_NORM_EPS + e.sum(axis=1, keepdims=True))


def activate(name: str, x: np.ndarray, inplace: bool = False):
    """``(y, cache)``: Darknet's activation ``name`` applied to ``x``."""
    name = canonical(name)
    if name.startswith("normalize_channels"):
        y = _channel_norm(x, name)
        return y, (name, x, y)
    if inplace:
        return activate_inplace(name, x), None
    if name in _FAST and _LOG is None and x.flags.c_contiguous and x.ndim > 1:  # blocked, on a copy
        y = kernels.empty(x.shape, x.dtype)
        np.copyto(y, x)
        return activate_inplace(name, y), (name, x, None)
    y = _ELEMENTWISE[name][0](x)
    return np.asarray(y, dtype=x.dtype), (name, x, None)


def gradient(name: str, dy: np.ndarray, cache) -> np.ndarray:
    """dL/dx from dL/dy; ``cache`` is what :func:`activate` returned (not available in place)."""
    if cache is None:
        raise ValueError("activate(..., inplace=True) keeps no cache for the gradient")
    name, x, y = cache
    if name == "linear":
        return dy
    if (name in _FAST and x.ndim > 1 and dy.shape == x.shape and dy.dtype == x.dtype and x.flags.c_contiguous
            and dy.flags.c_contiguous):
        return _fast_gradient(name, x, dy)
    if name == "normalize_channels":
        pos = x > 0
        s = _NORM_EPS + np.maximum(x, 0).sum(axis=1, keepdims=True)
        return pos * (dy - (dy * y).sum(axis=1, keepdims=True)) / s
    if name.startswith("normalize_channels_softmax"):
        dx = y * (dy - (dy * y).sum(axis=1, keepdims=True))
        if name.endswith("maxval"):
            # the shift by the channel maximum changes the eps term: d y_k / d max = -y_k eps / S
            e = np.exp(x - x.max(axis=1, keepdims=True))
            s = _NORM_EPS + e.sum(axis=1, keepdims=True)
            dmax = -(dy * y).sum(axis=1, keepdims=True) * _NORM_EPS / s
            first = x.argmax(axis=1)[:, None]
            np.put_along_axis(dx, first, np.take_along_axis(dx, first, axis=1) + dmax, axis=1)
        return dx
    return dy * _ELEMENTWISE[name][1](x)
