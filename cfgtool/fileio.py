"""Atomic file writes: a temporary file beside the target, then a rename."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    Text is written as UTF-8 with its line endings untouched (bytes a cfg had that are not
    UTF-8, kept as lone surrogates, are written back as they were); an existing file's mode
    is kept.
    """
    path = Path(path)
    raw = data.encode("utf-8", errors="surrogateescape") if isinstance(data, str) else data
    if path.exists() and not path.is_file():  # /dev/null, a FIFO ...: write through, never replace it
        with open(path, "wb") as fh:
            fh.write(raw)
        return
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
