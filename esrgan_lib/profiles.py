"""The course's run profiles: how much work a notebook does on the machine at hand.

- ``smoke``: seconds per notebook, tiny models; what CI runs.
- ``cpu``: minutes on a 2-core laptop, small models, real visible results.
- ``gpu``: the full run on a CUDA GPU (Colab T4 or better).

The profile comes from the ``ESRGAN_PROFILE`` environment variable, else ``gpu`` when CUDA is
available, else ``cpu``.
"""

from __future__ import annotations

import os

import torch

__all__ = ["PROFILES", "get_profile"]

PROFILES = ("smoke", "cpu", "gpu")


def get_profile(override: str | None = None) -> str:
    """Return the active profile name: ``override``, else $ESRGAN_PROFILE, else by hardware."""
    name = override or os.environ.get("ESRGAN_PROFILE", "").strip().lower()
    if not name:
        return "gpu" if torch.cuda.is_available() else "cpu"
    if name not in PROFILES:
        raise ValueError(f"ESRGAN_PROFILE must be one of {PROFILES}, got {name!r}")
    if name == "gpu" and not torch.cuda.is_available():
        raise RuntimeError("ESRGAN_PROFILE=gpu but no CUDA GPU is visible; use 'cpu' or 'smoke'")
    return name
