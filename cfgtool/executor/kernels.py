"""The buffer pool of a forward pass (inference or training) and its backward.

Allocating fresh memory costs a page fault per 4 KiB on first touch, here often more than
the arithmetic done on it (up to ~1 ms per MB measured on the 2-core benchmark machine).
:class:`BufferPool` recycles the large arrays instead: while a pool is active (:func:`using`),
:func:`empty` takes a free buffer of at least the size asked for and :func:`give_back`
returns a temporary; the runner returns a layer's output when no later layer reads it
(:meth:`BufferPool.release`, which keeps a buffer still viewed by a live output), and takes
back at the next run what the caller no longer holds (:meth:`BufferPool.reclaim`). Without an
active pool both are plain ``np.empty`` and a no-op.

Worker threads (:func:`split`, :func:`matmul`): while a pass may use more than one core
(:func:`workers`; the runner sets it in inference, from the thread choice of
:mod:`cfgtool.executor.threads`, and runs the BLAS on one thread meanwhile), matrix products,
copies and long elementwise passes are cut into one part per thread: the caller does the
first, pool threads the others, and they wait for each other by blocking (OpenBLAS's own
threads spin: beside them a second Python thread gained nothing, and a core taken by another
process stalls every product). numpy releases the GIL inside each loop, so the parts run at
once as long as each loop is long (a hand-over of the GIL costs tens of microseconds: mish
in blocks of 64k values gained nothing on 2 cores, in blocks of 128k-256k 1.6x). The parts
must not take buffers from the pool (it is not thread-safe) and must not overlap.
"""

from __future__ import annotations

import bisect
import contextvars
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np


def _root(a: np.ndarray) -> np.ndarray:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


class BufferPool:
    """Byte buffers handed out by :func:`empty` and returned for reuse."""

    def __init__(self):
        self.free: list[tuple[int, int, np.ndarray]] = []  # (size, id, uint8 buffer), smallest first
        self.lent: dict[int, np.ndarray] = {}  # id -> buffer handed out and not yet returned
        self.allocated = 0  # bytes of every buffer this pool created

    def empty(self, shape, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        k = bisect.bisect_left(self.free, (size,))  # the smallest that fits, if not much larger
        if k < len(self.free) and self.free[k][0] <= 2 * size + (1 << 16):
            buf = self.free.pop(k)[2]
        else:
            buf = np.empty(max(size, 1), np.uint8)
            self.allocated += buf.size
        self.lent[id(buf)] = buf
        return buf[:size].view(dtype).reshape(shape)

    def _put(self, buf: np.ndarray) -> None:
        bisect.insort(self.free, (buf.size, id(buf), buf))

    def give_back(self, *arrays: np.ndarray) -> None:
        """Return temporaries nothing else views."""
        for a in arrays:
            buf = self.lent.pop(id(_root(a)), None)
            if buf is not None:
                self._put(buf)

    def release(self, array: np.ndarray, live) -> None:
        """Return ``array``'s buffer unless one of the ``live`` arrays views it too (then the
        last of them returns it)."""
        root = _root(array)
        if id(root) not in self.lent or any(_root(o) is root for o in live if o is not array):
            return
        self._put(self.lent.pop(id(root)))

    def reclaim(self) -> None:
        """Take back every lent buffer nothing outside the pool references any more (results
        and caches of an earlier run that their holders dropped): a numpy view keeps its
        owner alive, so a buffer only the pool refers to has no view left."""
        for key in list(self.lent):
            if sys.getrefcount(self.lent[key]) == 2:  # the pool's reference and getrefcount's argument
                self._put(self.lent.pop(key))


_POOL: ContextVar[BufferPool | None] = ContextVar("cfgtool_buffer_pool", default=None)


@contextmanager
def using(pool: BufferPool | None):
    token = _POOL.set(pool)
    try:
        yield pool
    finally:
        _POOL.reset(token)


def empty(shape, dtype) -> np.ndarray:
    """An uninitialised array, from the active pool when there is one."""
    pool = _POOL.get()
    return np.empty(shape, dtype) if pool is None else pool.empty(shape, dtype)


def give_back(*arrays: np.ndarray) -> None:
    """Return temporaries from :func:`empty` to the active pool (no-op without one)."""
    pool = _POOL.get()
    if pool is not None:
        pool.give_back(*arrays)


_WORKERS: ContextVar[int] = ContextVar("cfgtool_workers", default=1)
_THREADS: ThreadPoolExecutor | None = None
_THREADS_SIZE = 0


def _forget_threads() -> None:
    """In a forked child: the parent's pool threads do not exist there (a task given to their
    pool would wait forever); the next split starts a new pool."""
    global _THREADS, _THREADS_SIZE
    _THREADS, _THREADS_SIZE = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_threads)


@contextmanager
def workers(count: int):
    """Within: :func:`split` cuts work into up to ``count`` parts run at once."""
    token = _WORKERS.set(max(1, int(count)))
    try:
        yield
    finally:
        _WORKERS.reset(token)


def parts(total: int, least: int = 1) -> int:
    """How many parts :func:`split` makes of ``total`` with parts of at least ``least``."""
    return max(1, min(_WORKERS.get(), total // max(least, 1)))


def split(fn, total: int, least: int = 1, count: int | None = None) -> None:
    """``fn(start, stop)`` over ``range(total)`` cut into one contiguous part per worker (see
    the module doc), none smaller than ``least`` (fewer parts then), or into ``count`` parts
    (at most one per worker) when given; each part runs in a copy of the caller's context,
    under its numpy error settings. Returns when every part is done; the first exception of
    a part is raised."""
    global _THREADS, _THREADS_SIZE
    count = parts(total, least) if count is None else max(1, min(count, _WORKERS.get(), total))
    if count == 1:
        fn(0, total)
        return
    if _THREADS is None or _THREADS_SIZE < count - 1:
        if _THREADS is not None:
            _THREADS.shutdown(wait=False)
        _THREADS, _THREADS_SIZE = ThreadPoolExecutor(count - 1, thread_name_prefix="cfgtool"), count - 1
    bounds = [total * k // count for k in range(count + 1)]
    errors = np.geterr()  # numpy 1.x keeps it per thread, not in the context
    futures = [_THREADS.submit(contextvars.copy_context().run, _alone, fn, bounds[k], bounds[k + 1], errors)
               for k in range(1, count)]
    try:
        _alone(fn, bounds[0], bounds[1], errors)
    finally:
        for f in futures:
            f.result()


def _alone(fn, start: int, stop: int, errors: dict) -> None:
    """One part of :func:`split`, under the caller's numpy error settings: a part splits
    nothing further (a pool thread waiting for parts queued behind itself would wait forever)."""
    with workers(1), np.errstate(**errors):
        fn(start, stop)


SPLIT_FLOPS = 10_000_000  # a matrix product is cut over threads in parts of at least this many flops


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``np.matmul(a, b, out=out)`` cut over the workers (:func:`split`): along the stacked
    axis of a 3-D product with as many matrices as parts, else along the wider of the
    output's rows and columns. Each part is one BLAS call on views: the same dot products
    as one call, up to float32 rounding (the BLAS may sum a part of another shape in
    another order)."""
    rows, cols, inner = out.shape[-2], out.shape[-1], a.shape[-1]
    flops = 2 * rows * cols * inner * (out.size // max(rows * cols, 1))
    count = parts(flops, SPLIT_FLOPS)
    if count == 1:
        return np.matmul(a, b, out=out)
    if out.ndim == 3 and a.ndim == 3 and b.ndim == 3 and out.shape[0] >= count:
        split(lambda i, j: np.matmul(a[i:j], b[i:j], out=out[i:j]), out.shape[0], count=count)
    elif cols >= rows:
        split(lambda i, j: np.matmul(a, b[..., i:j], out=out[..., i:j]), cols, count=count)
    else:
        split(lambda i, j: np.matmul(a[..., i:j, :], b, out=out[..., i:j, :]), rows, count=count)
    return out
