"""The buffer pool of a forward pass (inference or training) and its backward.

Allocating fresh memory costs a page fault per 4 KiB on first touch, here often more than
the arithmetic done on it (up to ~1 ms per MB measured on the 2-core benchmark machine).
:class:`BufferPool` recycles the large arrays instead: while a pool is active (:func:`using`),
:func:`empty` takes a free buffer of at least the size asked for and :func:`give_back`
returns a temporary; the runner returns a layer's output when no later layer reads it
(:meth:`BufferPool.release`, which keeps a buffer still viewed by a live output), and takes
back at the next run what the caller no longer holds (:meth:`BufferPool.reclaim`). Without an
active pool both are plain ``np.empty`` and a no-op.

No worker threads: numpy's elementwise loops run on the calling thread while OpenBLAS keeps
its own threads (and its thread settings). Those spin for ~0.1 s after every matrix product,
so elementwise work split over Python threads measured slower, not faster, on 2 cores.
"""

from __future__ import annotations

import bisect
import sys
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
