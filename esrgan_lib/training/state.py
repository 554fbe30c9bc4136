"""Training checkpoints: atomic writes, ``weights_only`` loads, and the random number generators.

A checkpoint is a dict of tensors, numbers, strings and plain containers only, so it loads with
``torch.load(path, weights_only=True)`` (no arbitrary pickled code runs when resuming a file from
Google Drive or elsewhere).

A run folder holds two checkpoint slots, ``checkpoint-a.pt`` and ``checkpoint-b.pt``, written in turn,
and ``checkpoint.json`` naming the newest complete one. On a local disk each slot is written atomically
(temp file + rename); on Google Drive (``/content/drive``) a rename deletes the old file into Drive's
trash (hundreds of MB per checkpoint, counted against the quota), so slots are rewritten in place: a
write cut short spoils only that slot, and resuming takes the newest slot that loads.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import torch

from .._atomic import atomic_path

__all__ = [
    "rng_state",
    "set_rng_state",
    "save_checkpoint",
    "load_checkpoint",
    "seed_everything",
    "CHECKPOINT_SLOTS",
    "save_checkpoint_slot",
    "latest_checkpoint",
    "load_latest_checkpoint",
    "on_cloud_drive",
]

CHECKPOINT_SLOTS = ("checkpoint-a.pt", "checkpoint-b.pt")
POINTER_NAME = "checkpoint.json"  # {"latest": slot name, "step": n}: the newest complete slot
LEGACY_NAME = "checkpoint.pt"  # single-file checkpoints of older versions (still resumed)
CLOUD_MOUNTS = ("/content/drive",)  # Google Drive in Colab: deleted files fill its trash


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


def on_cloud_drive(path: str | os.PathLike) -> bool:
    """True for paths on a mounted Google Drive (``/content/drive/...``)."""
    resolved = str(Path(path).absolute())
    return any(resolved == m or resolved.startswith(m + "/") for m in CLOUD_MOUNTS)


def _read_pointer(out: Path) -> dict:
    try:
        pointer = json.loads((out / POINTER_NAME).read_text())
        return pointer if isinstance(pointer, dict) else {}
    except (OSError, ValueError):
        return {}


def save_checkpoint_slot(state: dict, out: str | os.PathLike, *, in_place: bool | None = None) -> Path:
    """Write ``state`` into the slot of ``out`` not holding the newest checkpoint, then point to it.

    ``in_place``: rewrite the slot file instead of replacing it (default: on Google Drive only).
    Returns the slot's path.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    latest = _read_pointer(out).get("latest")
    name = CHECKPOINT_SLOTS[1] if latest == CHECKPOINT_SLOTS[0] else CHECKPOINT_SLOTS[0]
    path = out / name
    pointer = json.dumps({"latest": name, "step": int(state["step"])})
    if in_place if in_place is not None else on_cloud_drive(out):
        with open(path, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        (out / POINTER_NAME).write_text(pointer)  # a few bytes, rewritten in place too
    else:
        save_checkpoint(state, path)
        with atomic_path(out / POINTER_NAME) as tmp:
            Path(tmp).write_text(pointer)
    return path


def _candidates(out: Path) -> list[Path]:
    """Checkpoint files of ``out``, the pointer's first, then the others newest first."""
    files = [out / n for n in (*CHECKPOINT_SLOTS, LEGACY_NAME) if (out / n).is_file()]
    files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    latest = _read_pointer(out).get("latest")
    files.sort(key=lambda p: p.name != latest)
    return files


def latest_checkpoint(out: str | os.PathLike) -> Path | None:
    """The checkpoint file a resume of run folder ``out`` tries first (None if there is none)."""
    files = _candidates(Path(out))
    return files[0] if files else None


def load_latest_checkpoint(out: str | os.PathLike, map_location="cpu") -> tuple[dict, Path] | None:
    """``(state, path)`` of the newest checkpoint of ``out`` that loads and holds finite generator
    weights (a slot cut short or already diverged is skipped, with a message); None if none."""
    for path in _candidates(Path(out)):
        try:
            state = load_checkpoint(path, map_location=map_location)
        except ValueError as e:
            print(f"skipping {path}: {e}", flush=True)
            continue
        if all(torch.isfinite(v).all() for v in state["generator"].values() if v.is_floating_point()):
            return state, path
        print(f"skipping {path}: its generator weights are not finite", flush=True)
    return None
