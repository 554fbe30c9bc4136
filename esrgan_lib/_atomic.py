"""Atomic file writes: write to a temporary file beside the target, then ``os.replace`` it.

An interruption (Ctrl-C, a Colab disconnect, a full disk) leaves either the old file or the new one,
never half a file. Used by checkpoints, exported generators, upscaled images and prepared data.

The temporary file is ``.<name>.<pid>.<random>.tmp`` in the target's folder: hidden, unique per
writer, and ignored by ``esrgan_lib.img_util.list_images``. A process killed outright (SIGKILL, the
OOM killer) cannot remove it; the next write to the same target removes such leftovers of
writers that no longer run.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_path"]


def _pid_alive(pid: int) -> bool:
    """True unless process ``pid`` surely does not exist (on Windows: always True, as
    ``os.kill`` there would end the process instead of probing it)."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    except (OverflowError, ValueError):  # not a pid this system can have
        return False
    return True


def _remove_stale_temps(path: Path) -> None:
    """Delete ``.<name>.<pid>.*.tmp`` files beside ``path`` whose writer process is gone."""
    prefix = f".{path.name}."
    for tmp in path.parent.glob(f"{glob.escape(prefix)}*.tmp"):
        pid = tmp.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                tmp.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, make_parents: bool = True):
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    The file gets the usual permissions (0666 minus the umask), not ``mkstemp``'s 0600.
    """
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
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
