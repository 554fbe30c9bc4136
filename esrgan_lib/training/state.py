"""Training checkpoints: atomic writes, ``weights_only`` loads, and the random number generators.

A checkpoint is a dict of tensors, numbers, strings and plain containers only, so it loads with
``torch.load(path, weights_only=True)`` (no arbitrary pickled code runs when resuming a file from
Google Drive or elsewhere).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from .._atomic import atomic_path

__all__ = ["rng_state", "set_rng_state", "save_checkpoint", "load_checkpoint", "seed_everything"]


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global RNG and torch (CPU and all GPUs)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """The state of every global RNG, as tensors and plain containers."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what ``rng_state`` captured (CUDA states only where GPUs are present)."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    random.setstate(_as_tuple(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda = list(state["cuda"])[: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda)


def _as_tuple(x):
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Write ``state`` to ``path`` atomically: a temp file in the same folder, then ``os.replace``.

    An interruption (Ctrl-C, a Colab disconnect, a full disk) leaves either the old file or the new one,
    never a truncated file.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a training checkpoint with ``weights_only=True``; clear error when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no training checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: not a readable training checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(state, dict) or "generator" not in state or "step" not in state:
        raise ValueError(
            f"{path}: not a training checkpoint written by esrgan_lib.training (no step/generator)"
        )
    return state
