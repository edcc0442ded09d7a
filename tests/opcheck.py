"""Gradient checking for the executor's op modules (used by tests/test_ops_*.py)."""

from __future__ import annotations

import numpy as np

STEP = 1e-6
TOLERANCE = 1e-6


def numeric_gradient(loss, arr: np.ndarray, step: float = STEP) -> np.ndarray:
    """d loss / d arr by central differences, perturbing ``arr`` in place."""
    grad = np.zeros_like(arr)
    for idx in np.ndindex(arr.shape):
        old = arr[idx]
        arr[idx] = old + step
        up = loss()
        arr[idx] = old - step
        down = loss()
        arr[idx] = old
        grad[idx] = (up - down) / (2 * step)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    scale = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)


def typed(op, p):
    """Kernel ``op``'s typed params from a dict written in a test (the spec whose module is
    named like the kernel's); typed params pass through."""
    if not isinstance(p, dict):
        return p
    from cfgtool.layers import SPECS

    name = op.__name__.rsplit(".", 1)[-1]
    return next(spec for spec in SPECS if spec.module == name).Params(**p)


def check_gradients(op, p: dict, w: dict, xs: list, train: bool = False, learnable=(), seed: int = 0) -> None:
    """Backward against central differences (float64) for every input and learnable tensor.

    The loss is ``sum(out * R)`` with a fixed random ``R``, so ``dout = R``.
    """
    copies = [x.copy() for x in xs]
    p = typed(op, p)
    out, cache = op.forward(p, w, xs, train)
    for x, original in zip(xs, copies):
        assert np.array_equal(x, original), "forward modified its input"
    r = np.random.default_rng(seed).normal(size=out.shape)

    def loss() -> float:
        return float((op.forward(p, w, xs, train)[0] * r).sum())

    dxs, dws = op.backward(p, w, r, cache)
    assert len(dxs) == len(xs)
    assert set(dws) == set(learnable)
    for i, (x, dx) in enumerate(zip(xs, dxs)):
        num = numeric_gradient(loss, x)
        if dx is None:
            assert not num.any(), f"input {i} has a gradient but backward gave None"
            continue
        assert dx.shape == x.shape
        err = relative_error(dx, num)
        assert err < TOLERANCE, f"input {i}: relative error {err:.3g}"
    for name in learnable:
        assert dws[name].shape == w[name].shape
        err = relative_error(dws[name], numeric_gradient(loss, w[name]))
        assert err < TOLERANCE, f"{name}: relative error {err:.3g}"


def tensor_shapes(spec, p: dict, shape) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of the tensors ``spec`` declares for a layer of ``shape`` with params ``p``."""
    from dataclasses import replace

    return [(t.name, t.shape) for t in spec.tensors(replace(shape, params=p))]
