"""Helpers for the course notebooks.

- ``esrgan_lib.notebook.display``: matplotlib helpers (``show_images``, ``zoom_crops``,
  ``plot_history``, ``LivePlot``, ``show_figure``), re-exported here.
- ``esrgan_lib.notebook.course``: ``course_setup`` (the set-up cell's profile), ``course_benchmark``
  (Set5/Set14 wherever the course keeps them),
  ``runs_root`` (run folders: Google Drive on Colab).
- ``esrgan_lib.notebook.widgets``: ipywidgets-based comparison widgets; imported on first use
  (``esrgan_lib.notebook.widgets``), so the display helpers work where ipywidgets is missing.
"""

from __future__ import annotations

import importlib

from . import display as display  # re-exported (see the note on __all__ below)
from .course import course_benchmark, course_data_root, course_setup, runs_root
from .display import LivePlot, as_image, in_notebook, plot_history, show_figure, show_images, zoom_crops

# ``display`` (the module) is importable as esrgan_lib.notebook.display but left out of __all__:
# ``from esrgan_lib.notebook import *`` must not shadow IPython's ``display()`` function.
__all__ = [
    "widgets",
    "course_setup",
    "course_benchmark",
    "course_data_root",
    "runs_root",
    "as_image",
    "in_notebook",
    "show_figure",
    "show_images",
    "zoom_crops",
    "plot_history",
    "LivePlot",
]


def __getattr__(name: str):
    if name == "widgets":  # lazy: ipywidgets is only needed by notebooks that use the widgets
        return importlib.import_module(f"{__name__}.widgets")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
