"""Where the notebooks find the course's test images: one call instead of a search in every notebook.

``course_benchmark("Set5")`` looks, in this order, in ``$ESRGAN_DATA`` (or the user cache,
``esrgan_lib.data.default_data_root``), then in a ``shared/data`` folder next to the repository (the
course maintainers' offline copy), and on Colab downloads the set (checked file by file). Where none of
these has it, it returns None and the notebook falls back to the scikit-image photos, saying so.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

__all__ = ["course_data_root", "course_benchmark", "runs_root", "DRIVE_RUNS"]

DRIVE_RUNS = Path("/content/drive/MyDrive/esrgan-course/runs")  # Colab: run folders that outlive a session


def course_data_root(name: str = "Set5", start: str | Path | None = None) -> Path | None:
    """The folder holding ``<name>/``: the data root (``$ESRGAN_DATA``) or ``shared/data`` in
    ``start`` (default: the working directory) or one of its parents; None where neither has it."""
    from ..data import default_data_root

    start = Path(start) if start is not None else Path.cwd()
    for root in [default_data_root(), *(base / "shared" / "data" for base in [start, *start.parents])]:
        if (root / name).is_dir():
            return root
    return None


def course_benchmark(name: str = "Set5", *, download: bool | None = None) -> dict[str, np.ndarray] | None:
    """``{stem: uint8 (H, W, 3)}`` of benchmark ``name`` found by ``course_data_root``, downloaded when
    ``download`` (default: on Colab only); None when it is nowhere to be had."""
    from ..data import load_benchmark

    if download is None:
        download = "google.colab" in sys.modules
    root = course_data_root(name)
    if root is None and not download:
        return None
    return load_benchmark(name, root=root, download=download)


def runs_root(use_drive: bool = True) -> Path:
    """The folder that holds the notebooks' run folders (created): on Colab with ``use_drive``, Google
    Drive's ``DRIVE_RUNS`` (mounting Drive asks the user once), so notebooks 05, 09 and 10 hand models
    to each other across sessions; elsewhere ``runs/`` in the working directory."""
    root = Path("runs")
    if use_drive and "google.colab" in sys.modules:
        from google.colab import drive

        drive.mount("/content/drive")
        root = DRIVE_RUNS
    root.mkdir(parents=True, exist_ok=True)
    return root
