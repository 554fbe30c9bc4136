"""What every course notebook does first, and where it finds the course's test images.

``course_setup()`` is the second half of every notebook's set-up cell (after the Colab install): it picks
the run profile (``smoke`` / ``cpu`` / ``gpu``, see ``esrgan_lib.profiles``), prints it and sets the figure
resolution the course's plots are made for. Importing this module does no I/O.


``course_benchmark("Set5")`` looks, in this order, in ``$ESRGAN_DATA`` (or the user cache,
``esrgan_lib.data.default_data_root``), then in a ``shared/data`` folder next to the repository (the
course maintainers' offline copy), and on Colab downloads the set (checked file by file). Where none of
these has it, it returns None and the notebook falls back to the scikit-image photos, saying so.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

__all__ = ["course_setup", "course_data_root", "course_benchmark", "runs_root", "DRIVE_RUNS", "FIGURE_DPI"]

DRIVE_RUNS = Path("/content/drive/MyDrive/esrgan-course/runs")  # Colab: run folders that outlive a session
FIGURE_DPI = 72  # matplotlib's figure.dpi in the notebooks: small stored PNGs (the notebooks stay < 2 MB)


def course_setup(profile: str | None = None) -> str:
    """Start a course notebook: return the run profile (``"smoke"``, ``"cpu"`` or ``"gpu"``).

    The profile is ``profile``, else ``$ESRGAN_PROFILE``, else ``gpu`` where CUDA is available and
    ``cpu`` otherwise (``esrgan_lib.profiles.get_profile``; an unknown name raises ``ValueError``).
    Prints ``profile: <name>`` and sets matplotlib's ``figure.dpi`` to ``FIGURE_DPI``.
    """
    from ..profiles import get_profile

    name = get_profile(profile)
    try:
        import matplotlib

        matplotlib.rcParams["figure.dpi"] = FIGURE_DPI
    except ImportError:  # the plain install has no matplotlib; the notebooks need the course extra
        pass
    print("profile:", name)
    return name


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
