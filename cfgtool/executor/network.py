"""The runner: a whole network forward (inference or training) and backward, in numpy.

``Executor(network, shapes)`` checks that every layer can run (a kernel, nothing the spec
declares it cannot run or Darknet's CPU build crashes on, no unsupported feature: otherwise a
CfgError located at the layer's header), estimates
the activation memory and refuses above ``max_memory`` before allocating anything, then holds
the learnable tensors (Darknet-like random init from a seeded Generator, or loaded from a
.weights file). ``forward`` runs the layers in order and frees, in inference, every output no
later layer reads (reference counts), keeping the network's outputs and what ``keep`` asks
for; the freed buffers are reused by later layers and later runs (kernels.BufferPool), and
``peak_live_bytes`` records the widest point. ``backward`` propagates cotangents from any
layers back to the input, summing where an output feeds several layers. Each run records
per-layer time and output bytes in ``stats``.

A network with recurrent layers takes its batch as ``time_steps`` blocks of images, step-major
(:attr:`Executor.time_steps`; a batch that is not whole steps is X003 at the forward).

Files a layer option names (``tree=``) are read when the executor is built, looked for as
:func:`cfgtool.hierarchy.search_dirs` says (``data_dir``: the one directory to look in).

Errors codes (cfgtool/codes.py): X001 a layer that cannot run, X002 memory limit, X003 wrong input, X005 a layer
failed while running, X006 a missing or malformed file a layer option names.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..codes import diagnostic
from ..diagnostics import ERROR, CfgError
from ..hierarchy import find, search_dirs
from ..layers.base import LayerShape, Params, Tensor
from ..model import Layer, Network
from . import kernels
from .ops import op_for
from .threads import Threads

NETWORK_INPUT = -1  # the index standing for the network's input in wiring and gradients


@dataclass
class LayerStat:
    index: int
    type: str
    line: int
    seconds: float = 0.0
    backward_seconds: float = 0.0
    bytes: int = 0
    shape: tuple[int, ...] = ()


@dataclass
class Step:
    """One layer as the runner sees it."""

    layer: Layer
    shape: LayerShape
    op: ModuleType
    params: Params  # the layer's typed parameters with the run's batch and rng
    inputs: list[int]  # layer indices whose outputs are xs (NETWORK_INPUT for the input)
    owner: int  # the layer whose tensors it uses (share_index), usually itself
    tensors: list[Tensor]  # its own learnable tensors (spec.tensors)
    stat: LayerStat = field(init=False)

    def __post_init__(self):
        self.stat = LayerStat(self.layer.index, self.layer.type, self.layer.line)


def _proc_kib(path: str, key: str) -> int | None:
    """A ``key: N kB`` value of a /proc file in bytes (None where unknown)."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def available_memory() -> int:
    """MemAvailable from /proc/meminfo (8 GiB where unknown), and no more than the address space
    this process may still map when it runs under a limit (``ulimit -v``, RLIMIT_AS)."""
    avail = _proc_kib("/proc/meminfo", "MemAvailable:") or 8 * 2**30
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):  # pragma: no cover - not POSIX
        return avail
    if soft != resource.RLIM_INFINITY:
        avail = min(avail, max(0, soft - (_proc_kib("/proc/self/status", "VmSize:") or 0)))
    return avail


def layer_error(network: Network, layer: Layer, code: str, message: str, notes=()) -> CfgError:
    return CfgError([diagnostic(code, message, layer.section.header.span(), network.path, layer.index, notes)])


INIT_CHUNK = 1 << 20  # values drawn at a time: the only temporary of a random initialisation


def init_tensor(tensor: Tensor, p: dict, rng: np.random.Generator, dtype) -> np.ndarray:
    """Darknet-like initial values as ``tensor.init`` says: zeros, ones, fan-in scaled uniform,
    or normal with the layer's mean/std. Random values are drawn as float64 in chunks of
    INIT_CHUNK and stored straight into the result, so the peak is the tensor plus one chunk,
    and one seed gives the same values in float32 and float64 (the stream is the same as one
    draw of the whole tensor)."""
    dims = tensor.shape
    if tensor.init == "zeros":
        return np.zeros(dims, dtype)
    if tensor.init == "ones":
        return np.ones(dims, dtype)
    out = np.empty(dims, dtype)
    flat = out.reshape(-1)
    fan_in = int(np.prod(dims[1:])) if len(dims) > 1 else 1
    scale = np.sqrt(2.0 / max(fan_in, 1))
    for start in range(0, flat.size, INIT_CHUNK):
        part = flat[start:start + INIT_CHUNK]
        if tensor.init == "normal":
            part[...] = rng.normal(p.get("mean", 0.0), p.get("std", 0.2), part.size)
            continue
        draw = rng.random(part.size)  # uniform(-1, 1) is -1 + 2 * random(), as rng.uniform computes it
        draw *= 2
        draw -= 1
        draw *= scale
        part[...] = draw
    return out


def network_time_steps(network: Network, shapes) -> int:
    """[net] time_steps when a layer is recurrent (1 otherwise): a batch is that many steps of
    batch/time_steps images each, step-major, as in Darknet."""
    if not any(layer.spec is not None and layer.spec.recurrent for layer in network.layers):
        return 1
    return max(int(shapes.net.get("time_steps", 1)), 1)


def dump_shape(layer: Layer, shape: LayerShape, batch: int) -> tuple[int, ...]:
    """The shape ``run --dump`` (and ``export``) give a layer's output: ``(batch, c, h, w)``, or
    ``(batch, n)`` where Darknet's output is a plain vector (the spec says so, or w*h*c is not
    the output size)."""
    w, h, c = shape.feeds or shape.output
    values = w * h * c if shape.feeds else shape.outputs  # antialiasing: the blur layer's output
    return (batch, values) if layer.spec.vector_output or w * h * c != values else (batch, c, h, w)


class Executor:
    def __init__(self, network: Network, shapes, dtype=np.float32, batch: int = 1, seed: int = 0,
                 max_memory: int | None = None, threads: int | None = None, data_dir: str | Path | None = None):
        """``threads``: threads for every pass (the BLAS's in training, the kernels' own in
        inference); None chooses them before each pass from the usable cores and the
        machine's load (:mod:`cfgtool.executor.threads`). ``data_dir``:
        where files that layer options name (``tree=``) are, Darknet's working directory
        (default: the current directory, the cfg's directory, the one above it)."""
        self.network = network
        self.search_dirs = search_dirs(network.path, data_dir)
        self.threads = Threads(threads)
        self.shapes = shapes
        self.dtype = np.dtype(dtype)
        self.batch = int(batch)
        self.rng = np.random.default_rng(seed)
        self.max_memory = available_memory() if max_memory is None else int(max_memory)
        errors = [d for d in getattr(shapes, "diagnostics", []) if d.severity == ERROR]
        if errors:
            raise CfgError(errors)
        self.steps = [self._plan(layer, shapes.layers[layer.index]) for layer in network.layers]
        if not self.steps:
            raise CfgError([diagnostic("X001", "the cfg has no layers to run", None, network.path)])
        self.time_steps = network_time_steps(network, shapes)
        # the network's results: detection heads, the last layer, and what a loss layer scores
        self.output_layers = sorted({s.layer.index for s in self.steps if s.layer.spec.is_head}
                                    | {self.steps[-1].layer.index}
                                    | {j for s in self.steps if s.layer.spec.scores_inputs for j in s.inputs if j >= 0})
        self.check_memory(train=False)
        self.weights: dict[int, dict[str, np.ndarray]] = {}
        for step in self.steps:
            i = step.layer.index
            tensors = step.tensors
            if tensors:
                with self._memory_guard(step):
                    self.weights[i] = {t.name: init_tensor(t, step.params, self.rng, self.dtype) for t in tensors}
        self._prepared: dict[int, dict] = {}
        self._caches: dict[int, Any] | None = None
        self._outputs: dict[int, np.ndarray] = {}
        self._pool = kernels.BufferPool()  # inference buffers, reused across layers and runs
        self.peak_live_bytes = 0  # the last forward's widest point: bytes of the outputs held at once

    # -- construction ---------------------------------------------------------------------

    def _plan(self, layer: Layer, shape: LayerShape | None) -> Step:
        net = self.network
        if layer.spec is None:
            raise layer_error(net, layer, "X001",
                              f"{layer.section.name} is not a layer type Darknet knows; it cannot run")
        if shape is None:
            raise layer_error(net, layer, "X001", f"layer {layer.index} has no valid shape")
        if layer.spec.cannot_run:
            raise layer_error(net, layer, "X001", f"[{layer.type}] {layer.spec.cannot_run}")
        op = op_for(layer.spec)
        if op is None:
            raise layer_error(net, layer, "X001",
                              f"the numpy executor has no implementation of [{layer.type}] layers")
        crash = layer.spec.cpu_crash(shape.params)
        why = crash[1] if crash else getattr(op, "unsupported", lambda p: None)(shape.params)
        if why:
            raise layer_error(net, layer, "X001", f"[{layer.type}]: {why}")
        params = replace(layer.spec.read_files(shape, partial(self._read_file, layer)), batch=self.batch, rng=self.rng)
        owner = shape.params.get("share_index")
        return Step(layer, shape, op, params, layer.spec.sources(shape.params, layer.index),
                    layer.index if owner is None else owner, layer.spec.tensors(shape))

    def _read_file(self, layer: Layer, key: str, parse):
        """``parse`` of the text of the file that ``key`` of ``layer`` names (see read_files)."""
        value = layer.section.get(key)
        span = layer.section.value_span(key)
        path = find(value, self.search_dirs)
        if path is None:
            raise CfgError([diagnostic(
                "X006", f"{key}={value}: no such file in {', '.join(str(d) for d in self.search_dirs)}", span,
                self.network.path, layer.index,
                ["Darknet opens it relative to its working directory: run from that directory, "
                 "or give it with --data-dir DIR"])])
        try:
            return parse(path.read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            message = f"{path}: {exc.strerror or exc}"
        except ValueError as exc:
            message = f"{path}: {exc}"
        raise CfgError([diagnostic("X006", f"{key}={value}: {message}", span, self.network.path, layer.index)])

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """(batch, c, h, w) the network takes (a flat (batch, inputs, 1, 1) for non-image nets)."""
        net = self.shapes.net
        w, h, c = net.get("width", 0), net.get("height", 0), net.get("channels", 0)
        if w and h and c:
            return (self.batch, c, h, w)
        return (self.batch, net.get("inputs", 0), 1, 1)

    # -- memory ---------------------------------------------------------------------------

    @staticmethod
    def _workspace(step: Step) -> int:
        """Elements of the temporaries a layer needs beyond its output (e.g. im2col)."""
        hook = getattr(step.op, "workspace", None)
        return hook(step.params, step.shape) if hook else 0

    def estimate_memory(self, train: bool = False) -> int:
        """Bytes of activations (and, training, caches and gradients) a forward needs at peak,
        plus the learnable tensors and the chunk their random initialisation draws. An estimate:
        numpy temporaries inside the ops are not all counted (running out of memory there is
        still an X002, at the layer)."""
        item, b = self.dtype.itemsize, self.batch
        init = INIT_CHUNK * 8  # one float64 chunk of init_tensor
        weights = sum(t.count for st in self.steps for t in st.tensors)
        outs = [st.shape.outputs for st in self.steps]
        if train:
            caches = sum(self._workspace(st) + 2 * st.shape.outputs for st in self.steps)
            grads = 2 * max(outs)
            return (weights * 2 + (sum(outs) + caches + grads) * b) * item + init
        readers = self._readers(keep=())
        live: dict[int, int] = {}
        peak = 0
        for st, n in zip(self.steps, outs):
            i = st.layer.index
            peak = max(peak, sum(live.values()) + n + self._workspace(st))
            live[i] = n
            for j in st.inputs:
                readers[j] -= 1
                if readers[j] == 0 and j in live:
                    del live[j]
        return (2 * weights + peak * b) * item + init  # the weights, and their batch-norm-folded copies

    @contextmanager
    def _memory_guard(self, step: Step):
        """A MemoryError while allocating for ``step`` becomes the X002 refusal, located at the layer."""
        try:
            yield
        except MemoryError:
            net = self.network
            raise layer_error(net, step.layer, "X002",
                              f"ran out of memory at layer {step.layer.index} ([{step.layer.type}]): the estimate "
                              f"({_size(self.estimate_memory())}) was within the limit of {_size(self.max_memory)} "
                              "but numpy needed more",
                              ("use a smaller width/height or batch, or lower --max-memory",)) from None

    def check_memory(self, train: bool = False) -> None:
        need = self.estimate_memory(train)
        if need > self.max_memory:
            mode = "training" if train else "inference"
            net = self.network
            span = net.net.header.span() if net.net is not None else None
            w, h = self.shapes.net.get("width"), self.shapes.net.get("height")
            raise CfgError([diagnostic(
                "X002",
                f"{mode} at {w}x{h}, batch {self.batch}, {self.dtype.name} needs about {_size(need)}, above the "
                f"limit of {_size(self.max_memory)}", span, net.path, None,
                ("use a smaller width/height or batch, or raise the limit (--max-memory)",))])

    def _readers(self, keep) -> dict[int, int]:
        """How many later layers read each output; kept outputs count one extra reader."""
        readers = {NETWORK_INPUT: 0}
        for st in self.steps:
            readers[st.layer.index] = 0
        for st in self.steps:
            for j in st.inputs:
                readers[j] += 1
        for j in set(self.output_layers) | set(keep):
            readers[j] += 1
        return readers

    # -- tensors --------------------------------------------------------------------------

    def load(self, tensors: dict[int, dict[str, np.ndarray]]) -> list[int]:
        """Take learnable tensors (e.g. from :func:`cfgtool.weights.read_weights`); returns the
        layers filled. Shapes must match the layer's."""
        filled = []
        for i, named in tensors.items():
            mine = self.weights.get(i)
            if mine is None:
                continue
            for name, arr in named.items():
                if name in mine:
                    if tuple(arr.shape) != mine[name].shape:
                        raise ValueError(f"layer {i}: {name} has shape {arr.shape}, expected {mine[name].shape}")
                    mine[name] = np.ascontiguousarray(arr, dtype=self.dtype)
            filled.append(i)
        self.invalidate()
        return filled

    def invalidate(self) -> None:
        """Forget derived tensors (folded batch norm); call after changing weights in place."""
        self._prepared.clear()

    def _weights_for(self, step: Step, train: bool) -> dict:
        w = self.weights.get(step.owner, {})
        if train or not hasattr(step.op, "prepare") or not w:
            return w
        i = step.layer.index
        if i not in self._prepared:
            self._prepared[i] = {**w, "_prepared": step.op.prepare(step.params, w)}
        return self._prepared[i]

    # -- running --------------------------------------------------------------------------

    def _check_input(self, x: np.ndarray) -> np.ndarray:
        net = self.network
        if self.batch % self.time_steps:
            raise CfgError([diagnostic(
                "X003",
                f"a batch of {self.batch} is not a whole number of time steps: [net] time_steps={self.time_steps}, "
                "and the recurrent layers read the batch as time_steps blocks of batch/time_steps images",
                net.net.header.span() if net.net is not None else None, net.path, None,
                (f"give {self.time_steps} x N images (N per step), or run with another time_steps",))])
        want = self.input_shape
        if x.ndim == 2 and want[2:] == (1, 1):
            x = x.reshape(x.shape + (1, 1))
        if tuple(x.shape) != want:
            b, c, h, w = want
            raise CfgError([diagnostic(
                "X003",
                f"the input is {tuple(x.shape)}, the network takes (batch, channels, height, width) = {want}",
                net.net.header.span() if net.net is not None else None, net.path, None,
                (f"[net] width={w} height={h} channels={c}; batch {b}",))])
        return np.ascontiguousarray(x, dtype=self.dtype)

    def _run_op(self, step: Step, fn, *args):
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"), \
                    self._memory_guard(step):
                return fn(*args)
        except NotImplementedError as exc:
            raise layer_error(self.network, step.layer, "X001", f"[{step.layer.type}]: {exc}")
        except (ValueError, IndexError, KeyError, TypeError, ZeroDivisionError) as exc:
            raise layer_error(self.network, step.layer, "X005",
                              f"[{step.layer.type}] failed: {type(exc).__name__}: {exc}")

    def forward(self, x: np.ndarray, train: bool = False, keep=(), seed: int | None = None,
                progress=None) -> dict[int, np.ndarray]:
        """Run every layer on ``x`` (batch, c, h, w). Returns {layer index: output}: in inference
        the output layers and ``keep`` (every layer with ``keep="all"``); in training every layer
        (and caches are kept for :meth:`backward`). ``seed`` fixes the random draws of the
        layers (dropout) for this run: two runs with one seed compute the same function.
        ``progress(index)`` is called after each layer."""
        x = self._check_input(x)
        if train:
            self.check_memory(train=True)
        if seed is not None:
            for step in self.steps:
                step.params = replace(step.params, rng=np.random.default_rng([seed, step.layer.index]))
        keep_all = keep == "all"
        readers = self._readers(() if keep_all else keep)
        outs: dict[int, np.ndarray] = {NETWORK_INPUT: x}
        caches: dict[int, Any] = {}
        self._caches, self._outputs = None, {}
        self._pool.reclaim()  # the buffers of earlier runs nobody holds any more
        # inference: the kernels cut their work over the threads themselves (kernels.split),
        # the BLAS runs one thread per call; training: the BLAS gets the threads
        with kernels.using(self._pool), self.threads.limit(blas=train) as choice, \
                kernels.workers(1 if train else choice.threads):
            self._forward_steps(outs, caches, readers, train, keep_all, progress)
        outs.pop(NETWORK_INPUT, None)
        self._caches = caches if train else None
        self._outputs = outs if train else {}
        if not train and not keep_all:
            wanted = set(self.output_layers) | set(keep)
            outs = {i: o for i, o in outs.items() if i in wanted}
        return outs

    def _forward_steps(self, outs, caches, readers, train, keep_all, progress) -> None:
        held = self.peak_live_bytes = outs[NETWORK_INPUT].nbytes
        for step in self.steps:
            i = step.layer.index
            xs = [outs[j] for j in step.inputs]
            with self._memory_guard(step):
                w = self._weights_for(step, train)
            t0 = time.perf_counter()
            out, cache = self._run_op(step, step.op.forward, step.params, w, xs, train)
            step.stat.seconds = time.perf_counter() - t0
            step.stat.bytes, step.stat.shape = out.nbytes, tuple(out.shape)
            values = int(np.prod(step.shape.feeds)) if step.shape.feeds else step.shape.outputs  # antialiasing
            if out.size != self.batch * values:
                raise layer_error(self.network, step.layer, "X005",
                                  f"[{step.layer.type}] produced {out.shape}, Darknet's layer has "
                                  f"{values} values per image")
            outs[i] = out
            held += out.nbytes
            self.peak_live_bytes = max(self.peak_live_bytes, held)
            if progress is not None:
                progress(i)
            if train:
                caches[i] = cache
            elif not keep_all:
                for j in step.inputs:
                    readers[j] -= 1
                    if readers[j] == 0 and j in outs:
                        done = outs.pop(j)
                        held -= done.nbytes
                        self._pool.release(done, outs.values())

    def backward(self, douts: dict[int, np.ndarray], inspect=None
                 ) -> tuple[np.ndarray | None, dict[int, dict[str, np.ndarray]]]:
        """Cotangents at some layers' outputs -> (gradient w.r.t. the input, {layer: {tensor: grad}}).
        Needs a ``forward(..., train=True)`` before. ``inspect(index, grad)`` sees the summed
        gradient w.r.t. each layer's output before that layer propagates it."""
        if self._caches is None:
            raise RuntimeError("backward needs forward(x, train=True) first")
        deltas = {i: np.asarray(d, dtype=self.dtype).reshape(self._outputs[i].shape) for i, d in douts.items()}
        grads: dict[int, dict[str, np.ndarray]] = {}
        self._pool.reclaim()
        with kernels.using(self._pool), self.threads.limit():
            self._backward_steps(deltas, grads, inspect)
        return deltas.get(NETWORK_INPUT), grads

    def _backward_steps(self, deltas, grads, inspect) -> None:
        for step in reversed(self.steps):
            i = step.layer.index
            d = deltas.pop(i, None)
            if d is None:
                continue
            if inspect is not None:
                inspect(i, d)
            w = self.weights.get(step.owner, {})
            t0 = time.perf_counter()
            dxs, dws = self._run_op(step, step.op.backward, step.params, w, d, self._caches[i])
            step.stat.backward_seconds = time.perf_counter() - t0
            for j, dx in zip(step.inputs, dxs):
                if dx is None:
                    continue
                ref = self._outputs[j].shape if j != NETWORK_INPUT else self.input_shape
                dx = dx.reshape(ref)
                deltas[j] = np.add(deltas[j], dx, out=kernels.empty(dx.shape, dx.dtype)) if j in deltas else dx
            if dws:
                mine = grads.setdefault(step.owner, {})
                for name, g in dws.items():
                    mine[name] = mine[name] + g if name in mine else g

    @property
    def stats(self) -> list[LayerStat]:
        return [s.stat for s in self.steps]


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"
