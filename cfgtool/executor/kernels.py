"""Plumbing for fast inference: worker threads for elementwise work and a buffer pool.

:func:`parallel` runs ``fn(i)`` for ``i in range(n)`` on this thread and up to ``WORKERS - 1``
pool threads, each taking the next index (numpy releases the GIL inside its loops, so
elementwise work on separate chunks runs on separate cores). BLAS keeps its own threads and
settings; only numpy's single-threaded loops are split here.

:class:`BufferPool` recycles the large arrays of a forward pass: allocating fresh memory costs
a page fault per 4 KiB on first touch, often more than the arithmetic on it. While a pool is
active (:func:`using`), :func:`empty` takes a free buffer of at least the size asked for and
:func:`give_back` returns a temporary; the runner returns a layer's output when no later layer
reads it (:meth:`BufferPool.release`, which keeps a buffer still viewed by a live output),
and takes back at the next run what the caller no longer holds (:meth:`BufferPool.reclaim`).
Without an active pool both are plain ``np.empty`` and a no-op.
"""

from __future__ import annotations

import bisect
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


WORKERS = max(1, min(_cpus(), 8))
_threads: ThreadPoolExecutor | None = None


def parallel(fn, n: int) -> None:
    """``fn(i)`` for every ``i`` in ``range(n)``, spread over the worker threads. Floating-point
    warnings are silenced in every thread (the runner's ``errstate`` does not reach them)."""
    global _threads
    indices = iter(range(n))  # shared: each thread takes the next index

    def work():
        with np.errstate(all="ignore"):
            for i in indices:
                fn(i)

    if WORKERS == 1 or n < 2:
        work()
        return
    if _threads is None:
        _threads = ThreadPoolExecutor(WORKERS - 1, thread_name_prefix="cfgtool")
    futures = [_threads.submit(work) for _ in range(min(WORKERS, n) - 1)]
    try:
        work()
    finally:
        for f in futures:
            f.result()


def chunks(total: int, unit: int, target: int = 1 << 16, parts: int = 0) -> list[tuple[int, int]]:
    """``range(total)`` cut into (start, stop) pieces of about ``target // unit`` items (``unit``
    elements per item), at least ``parts`` pieces (default: one per worker) when there are as
    many items."""
    per = max(1, min(target // max(unit, 1), -(-total // max(parts or WORKERS, 1))))
    return [(s, min(s + per, total)) for s in range(0, total, per)]


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
