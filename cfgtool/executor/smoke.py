"""The smoke test: a training forward and backward on random data at a small size, checking
that every output and gradient is finite and has the expected shape, and optionally a float64
gradient check (central differences against the backward pass).

:func:`smoke` returns a :class:`SmokeResult`; ``cfgtool smoke`` renders it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..model import Network
from ..shapes import Shapes, infer_shapes
from .activations import BranchLog, branch_log
from .network import NETWORK_INPUT, Executor, dump_shape, network_time_steps

GRAD_TOLERANCE = 1e-4  # the largest relative error the gradient check accepts


@dataclass(frozen=True)
class Problem:
    phase: str  # "forward" or "backward"
    layer: int  # NETWORK_INPUT for the gradient w.r.t. the input
    why: str


@dataclass(frozen=True)
class GradCheck:
    worst: float  # the largest relative error
    where: tuple  # (what, index) of the worst sample, or (reason, ()) / () when there is none
    noise: float  # differences under this rounding noise are ignored

    @property
    def ok(self) -> bool:
        return self.worst <= GRAD_TOLERANCE


@dataclass
class SmokeResult:
    executor: Executor
    size: int
    problem: Problem | None  # the first bad value, if any
    grad: GradCheck | None  # with grad_check, when forward and backward were fine

    @property
    def ok(self) -> bool:
        return self.problem is None and (self.grad is None or self.grad.ok)


def downsampling(shapes: Shapes) -> int:
    """The network's downsampling factor: input width over its smallest feature map width
    (1x1 outputs such as global pooling and vectors left out), as a power of two. Not
    :func:`cfgtool.heads.total_stride`, the factor an input size must be a multiple of for
    the joins to align (1 for a chain without routes, whatever its downsampling)."""
    width = shapes.net.get("width") or 0
    ratios = [width / s.output[0] for s in shapes.layers
              if s is not None and s.output[0] > 0 and (s.output[0], s.output[1]) != (1, 1)]
    if not width or not ratios:
        return 1
    return 2 ** max(0, round(math.log2(max(ratios))))


def smoke_size(net: Network, shapes: Shapes, at_least: int) -> int:
    """The smallest multiple of the total stride >= ``at_least`` at which every shape is valid
    (tries a few multiples; the first when none is)."""
    stride = downsampling(shapes)
    first = max(stride, -(-at_least // stride) * stride)
    for size in range(first, first + 8 * stride, stride):
        if infer_shapes(net, size, size).ok:
            return size
    return first


def _rel_errors(pairs, noise: float) -> tuple[float, tuple]:
    """Max relative error over (what, analytic, numeric, scale) samples. Differences within
    the numeric derivative's rounding ``noise`` count as 0 (gradients that are exactly 0, e.g.
    a bias before a batch norm, are measured as noise); ``scale`` floors the denominator at 1%
    of the gradient tensor's RMS so entries near zero do not dominate."""
    worst, where = 0.0, ()
    for what, a, n, scale in pairs:
        err = max(abs(a - n) - noise, 0.0) / max(abs(a), abs(n), 0.01 * scale, 1e-300)
        if err > worst:
            worst, where = err, what
    return worst, where


def grad_check(exe: Executor, x: np.ndarray, seed: int, n_input: int, n_params: int,
               progress: Callable[[], None] = lambda: None) -> GradCheck:
    """Central differences of sum(output * cotangent) with every piecewise choice (leaky's
    side of 0, maxpool's argmax) held at the base point's, against the backward pass."""
    rng = np.random.default_rng(seed + 1)
    log = BranchLog()
    with branch_log(log):
        outs = exe.forward(x, train=True, seed=seed)
    cot = {i: rng.normal(size=outs[i].shape) for i in exe.output_layers}
    dx, grads = exe.backward(cot)
    log.replay = True
    h = 1e-6
    # rounding error of a central difference of the loss: an ulp of the sum of its terms, over h
    noise = np.finfo(np.float64).eps * float(sum(np.abs(outs[i] * g).sum() for i, g in cot.items())) / h

    def loss() -> float:
        with branch_log(log):
            o = exe.forward(x, train=True, seed=seed)
        return float(sum((o[i] * g).sum() for i, g in cot.items()))

    targets = [("input", None, x, dx, tuple(rng.integers(0, d) for d in x.shape)) for _ in range(n_input)]
    tensors = [(i, name) for i in sorted(grads) for name in grads[i]]
    for _ in range(n_params if tensors else 0):
        i, name = tensors[rng.integers(len(tensors))]
        arr = exe.weights[i][name]
        targets.append((f"layer {i} {name}", i, arr, grads[i][name], tuple(rng.integers(0, d) for d in arr.shape)))
    pairs = []
    for what, _, arr, grad, idx in targets:
        keep = arr[idx]
        arr[idx] = keep + h
        up = loss()
        arr[idx] = keep - h
        down = loss()
        arr[idx] = keep
        scale = float(np.sqrt(np.mean(np.square(grad))))
        pairs.append(((what, tuple(int(k) for k in idx)), float(grad[idx]), (up - down) / (2 * h), scale))
        progress()
    exe.invalidate()
    if all(a == 0 and n == 0 for _, a, n, _ in pairs):
        return GradCheck(0.0, ("only zero gradients sampled", ()), noise)
    return GradCheck(*_rel_errors(pairs, noise), noise)


def bad_values(arr: np.ndarray, want: tuple[int, ...] | None) -> str | None:
    """What is wrong with an output or gradient: another shape, NaN or infinite values."""
    if want is not None and tuple(arr.shape) != want:
        return f"shape {tuple(arr.shape)}, expected {want}"
    finite = np.isfinite(arr)
    if not finite.all():
        nan = int(np.isnan(arr).sum())
        return f"{nan} NaN and {arr.size - int(finite.sum()) - nan} infinite values of {arr.size}"
    return None


def _forward_problem(exe: Executor, outs) -> Problem | None:
    for step in exe.steps:
        want = dump_shape(step.layer, step.shape, exe.batch)
        why = bad_values(outs[step.layer.index], want if len(want) == 4 else None)
        if why:
            return Problem("forward", step.layer.index, why)
    return None


def _backward_problem(exe: Executor, outs, seed: int, advance: Callable[[], None]) -> Problem | None:
    rng = np.random.default_rng(seed + 1)
    cot = {i: rng.normal(size=outs[i].shape).astype(exe.dtype) for i in exe.output_layers}
    found: list[Problem] = []

    def inspect(i, d):
        advance()
        why = bad_values(d, tuple(outs[i].shape))
        if why and not found:
            found.append(Problem("backward", i, f"gradient w.r.t. its output: {why}"))

    dx, grads = exe.backward(cot, inspect=inspect)
    if found:
        return found[0]
    for i in sorted(grads, reverse=True):
        for name, g in grads[i].items():
            why = bad_values(g, exe.weights[i][name].shape)
            if why:
                return Problem("backward", i, f"gradient w.r.t. {name}: {why}")
    why = bad_values(dx, exe.input_shape) if dx is not None else None
    return Problem("backward", NETWORK_INPUT, f"gradient w.r.t. the input: {why}") if why else None


def smoke(network: Network, shapes: Shapes, size: int | None = None, batch: int = 2, seed: int = 0,
          grad_samples: int | None = None, max_memory: int | None = None, threads: int | None = None,
          progress: Callable[[str, int], None] = lambda phase, total: None,
          advance: Callable[[], None] = lambda: None, started: Callable[[int, np.dtype], None] = lambda s, d: None,
          time_steps: int | None = None, data_dir=None) -> SmokeResult:
    """Smoke-test ``network`` (its ``shapes`` at [net]'s size) at ``size`` x ``size`` (default: the
    smallest multiple of its total stride >= 64, or >= twice the stride for a gradient check).
    ``grad_samples``: run the float64 gradient check on that many parameter entries (and a
    third as many input entries); ``max_memory``, ``threads``: the Executor's. ``started(size,
    dtype)`` is called before running, ``progress(phase, total)`` when a phase starts and
    ``advance()`` per step. ``time_steps`` overrides [net]'s: a recurrent network runs that many
    steps of ``batch`` images (``exe.time_steps``); ``data_dir``: the Executor's. Raises CfgError
    (a layer that cannot run, the memory limit, a layer failing)."""
    grad = grad_samples is not None
    if size is None:
        size = smoke_size(network, shapes, 2 * downsampling(shapes) if grad else 64)
    if shapes.net.get("width") or time_steps:
        shapes = infer_shapes(network, size if shapes.net.get("width") else None,
                              size if shapes.net.get("width") else None, time_steps)
    dtype = np.dtype(np.float64 if grad else np.float32)
    steps = network_time_steps(network, shapes)
    exe = Executor(network, shapes, dtype=dtype, batch=batch * steps, seed=seed, max_memory=max_memory,
                   threads=threads, data_dir=data_dir)
    started(size, dtype)
    x = np.random.default_rng(seed).normal(size=exe.input_shape).astype(dtype)
    progress("forward", len(exe.steps))
    outs = exe.forward(x, train=True, seed=seed, progress=lambda i: advance())
    problem = _forward_problem(exe, outs)
    if problem is None:
        progress("backward", len(exe.steps))
        problem = _backward_problem(exe, outs, seed, advance)
    check = None
    if grad and problem is None:
        n_input = max(1, grad_samples // 3)
        progress("gradient check", n_input + grad_samples)
        check = grad_check(exe, x, seed, n_input, grad_samples, advance)
    return SmokeResult(exe, size, problem, check)
