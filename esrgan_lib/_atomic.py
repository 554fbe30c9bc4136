"""Atomic file writes: write to a temporary file beside the target, then ``os.replace`` it.

An interruption (Ctrl-C, a Colab disconnect, a full disk) leaves either the old file or the new one,
never half a file. Used by checkpoints, exported generators and upscaled images.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_path"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, make_parents: bool = True):
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    The file gets the usual permissions (0666 minus the umask), not ``mkstemp``'s 0600.
    """
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
