"""Training checkpoints: what one holds, two slots written in turn, resuming, the random generators.

A checkpoint is a dict of tensors, numbers, strings and plain containers only, so it loads with
``torch.load(path, weights_only=True)`` (no pickled code runs when resuming a file from Google Drive).

A run folder holds two checkpoint slots, ``checkpoint-a.pt`` and ``checkpoint-b.pt``, written in turn,
and ``checkpoint.json`` naming the newest complete one. On a local disk each slot is written atomically
(temp file + rename); on Google Drive (``/content/drive``) a rename deletes the old file into Drive's
trash (hundreds of MB per checkpoint, counted against the quota), so slots are rewritten in place: a
write cut short spoils only that slot, and resuming takes the newest slot that loads with finite weights.

A resume may change the learning-rate schedule (``lr_g``, ``lr_d``, ``milestones``, ``gamma``: applied
from the resumed step on) and the precision (fp16's GradScaler state is kept only when both runs use
it), but not the networks (``FIXED_ON_RESUME``: ``ValueError`` naming the field).
"""

from __future__ import annotations

import json
import math
import os
import random
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._atomic import atomic_path
from ..models.state_dict import TRAINING_FORMAT

__all__ = [
    "GENERATOR_NAME", "CHECKPOINT_SLOTS", "FIXED_ON_RESUME", "all_finite", "seed_everything", "rng_state",
    "set_rng_state", "save_checkpoint", "load_checkpoint", "on_cloud_drive", "save_checkpoint_slot",
    "latest_checkpoint", "load_latest_checkpoint", "run_state", "restore_run", "set_schedule",
    "append_log", "truncate_log", "where_to_resume", "load_pretrained",
]

GENERATOR_NAME = "generator.safetensors"  # a run folder's exported EMA generator
CHECKPOINT_SLOTS = ("checkpoint-a.pt", "checkpoint-b.pt")
POINTER_NAME = "checkpoint.json"  # {"latest": slot name, "step": n}: the newest complete slot
CLOUD_MOUNTS = ("/content/drive",)  # Google Drive in Colab: deleted files fill its trash
FORMAT = f"{TRAINING_FORMAT}/1"  # what esrgan_lib.checkpoint.load_generator recognises
FIXED_ON_RESUME = ("stage", "arch", "nf", "nb", "gc", "scale", "gan", "discriminator", "d_nf", "d_batch_norm")


def all_finite(tensors: Iterable[torch.Tensor]) -> bool:
    """True when every floating-point tensor holds only finite values (one host sync)."""
    checks = [torch.isfinite(t).all() for t in tensors if t.is_floating_point()]
    return bool(torch.stack(checks).all()) if checks else True


# -- random number generators -------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global RNG and torch (CPU and all GPUs)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """The state of every global RNG, as tensors and plain containers."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    numpy = dict(kind=kind, keys=torch.from_numpy(keys.astype(np.int64)), pos=int(pos),
                 has_gauss=int(has_gauss), gauss=float(gauss))
    state = {"torch": torch.get_rng_state(), "numpy": numpy, "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what ``rng_state`` captured (CUDA states only where GPUs are present)."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["gauss"]))
    random.setstate(_as_tuple(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"])[: torch.cuda.device_count()])


def _as_tuple(x):
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


# -- files --------------------------------------------------------------------------------------------
def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Write ``state`` to ``path`` atomically (a temp file in the same folder, then ``os.replace``):
    an interruption leaves either the old file or the new one, never a truncated file."""
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
        raise ValueError(f"{path}: not a training checkpoint of esrgan_lib.training (no step/generator)")
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
    newest = _read_pointer(out).get("latest")
    name = CHECKPOINT_SLOTS[1] if newest == CHECKPOINT_SLOTS[0] else CHECKPOINT_SLOTS[0]
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
    """Checkpoint files of ``out``, the pointer's first, then the other newest first."""
    files = sorted((out / n for n in CHECKPOINT_SLOTS if (out / n).is_file()),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    latest = _read_pointer(out).get("latest")
    return sorted(files, key=lambda p: p.name != latest)


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
        if all_finite(state["generator"].values()):
            return state, path
        print(f"skipping {path}: its generator weights are not finite", flush=True)
    return None


# -- a trainer's state --------------------------------------------------------------------------------
def _sd(obj):
    return obj.state_dict() if obj is not None else None


def run_state(trainer) -> dict:
    """Everything a resume of ``trainer`` (a ``Trainer``) needs, as tensors, numbers, strings, containers."""
    t = trainer
    return {
        "format": FORMAT, "step": t.step, "epoch": t.batches.epoch, "position": t.batches.position,
        "best_psnr": t.best_psnr, "last_val": t.last_val, "config": t.config.to_dict(),
        "precision": t.precision, "generator": t.generator.state_dict(), "ema": _sd(t.ema),
        "opt_g": t.opt_g.state_dict(), "sched_g": t.sched_g.state_dict(),
        "discriminator": _sd(t.discriminator), "opt_d": _sd(t.opt_d), "sched_d": _sd(t.sched_d),
        "scaler": t.scaler.state_dict(), "rng": rng_state(),
    }


def restore_run(trainer, state: dict, path) -> None:
    """Load ``state`` (from ``run_state``, read from ``path``) into ``trainer``: networks, optimisers,
    RNGs, data position; ``log.jsonl`` is cut back to the checkpoint's step."""
    t, old = trainer, state["config"]
    for key in FIXED_ON_RESUME:
        if old.get(key) != getattr(t.config, key):
            raise ValueError(f"{path}: the checkpoint has {key}={old.get(key)!r} but the config says "
                             f"{getattr(t.config, key)!r}; resume with the same settings")
    t.generator.load_state_dict(state["generator"])
    if t.ema is not None and state["ema"] is not None:
        t.ema.load_state_dict(state["ema"])
    t.opt_g.load_state_dict(state["opt_g"])
    t.sched_g.load_state_dict(state["sched_g"])
    if t.discriminator is not None:
        t.discriminator.load_state_dict(state["discriminator"])
        t.opt_d.load_state_dict(state["opt_d"])
        t.sched_d.load_state_dict(state["sched_d"])
    if t.scaler.is_enabled() and state.get("scaler"):  # empty when the old run was bf16/fp32
        t.scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    t.step, t.batches.epoch, t.batches.position = (int(state[k]) for k in ("step", "epoch", "position"))
    t.best_psnr, t.last_val = float(state["best_psnr"]), dict(state.get("last_val") or {})
    _apply_schedule(t, old)
    if t.dist.is_main:
        truncate_log(t.out / "log.jsonl", t.step)  # records after the checkpoint (a crash) are dropped
        print(f"resumed from {path} at step {t.step}", flush=True)


def _apply_schedule(t, old: dict) -> None:
    """A resume whose config changes ``lr_g``/``lr_d``/``milestones``/``gamma``: the optimisers and
    schedulers switch to the new schedule at the resumed step (so config.json records what runs)."""
    c = t.config
    same = [old.get(k) == getattr(c, k) for k in ("lr_g", "lr_d", "gamma")]
    if all(same) and list(old.get("milestones", [])) == list(c.milestones):
        return
    set_schedule(t.opt_g, t.sched_g, c.lr_g, c.milestones, c.gamma, t.step)
    if t.opt_d is not None:
        set_schedule(t.opt_d, t.sched_d, c.lr_d, c.milestones, c.gamma, t.step)
    if t.dist.is_main:
        print(f"resume: lr_g={c.lr_g:g}, lr_d={c.lr_d:g}, milestones={c.milestones}, gamma={c.gamma:g}")


def set_schedule(opt, sched, base_lr: float, milestones, gamma: float, step: int) -> None:
    """Make ``opt`` and its ``MultiStepLR`` ``sched`` follow ``base_lr * gamma ** (milestones passed)``
    from ``step`` on."""
    lr = base_lr * gamma ** bisect_right(sorted(milestones), step)
    sched.base_lrs = [base_lr] * len(opt.param_groups)
    sched.milestones, sched.gamma = Counter(milestones), gamma
    for group in opt.param_groups:
        group["initial_lr"], group["lr"] = base_lr, lr


def _record_step(line: str) -> float:
    try:
        return float(json.loads(line).get("step", 0))
    except (ValueError, AttributeError):
        return math.inf  # a torn last line: dropped


def append_log(log: Path, record: dict) -> None:
    """Add one record (a line of JSON) to ``log.jsonl``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:
        f.write(json.dumps(record) + "\n")


def truncate_log(log: Path, step: int) -> None:
    """Drop ``log.jsonl`` records written after ``step`` (a crash between two checkpoints)."""
    if not log.is_file():
        return
    lines = log.read_text().splitlines()
    kept = [line for line in lines if _record_step(line) <= step]
    if len(kept) != len(lines):
        log.write_text("".join(line + "\n" for line in kept))


def where_to_resume(out: Path, last_checkpoint: tuple[Path, int] | None, *, diverged: bool = False) -> str:
    """The end of a stop message: names only a checkpoint that was written (``(path, step)``)."""
    where = (f"no checkpoint was written in {out}" if last_checkpoint is None else
             "the last good checkpoint is {} (step {})".format(*last_checkpoint))
    if not diverged:
        return f"{where}; resume with --resume / Trainer(config, resume=True)"
    return (f"Training stopped; {where}. Try a lower learning rate, precision=fp32 or a smaller "
            "adversarial weight.")


def load_pretrained(model: nn.Module, path: str | os.PathLike) -> str:
    """Load a stage-psnr result into ``model``; returns the path used (for the metadata).

    ``path``: a run folder (its ``generator.safetensors``), a generator file in any format
    ``esrgan_lib.checkpoint.load_generator`` reads, or a training checkpoint ``*.pt`` (which that
    function opens to its EMA weights). The architecture must match ``model`` exactly (else
    ``ValueError`` naming both configurations).
    """
    from ..checkpoint import load_generator

    path = Path(path) / GENERATOR_NAME if Path(path).is_dir() else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained generator not found: {path}")
    source = load_generator(path, device="cpu")
    if type(source) is not type(model):
        raise ValueError(f"{path} holds a {type(source).__name__}, but the config builds a "
                         f"{type(model).__name__}")
    try:
        model.load_state_dict(source.state_dict())
    except RuntimeError as e:
        raise ValueError(
            f"{path}: its generator ({source.config}) does not match the configured one ({model.config}); "
            "set nf/nb/gc/scale to the stage-psnr values (--set nf=...)"
        ) from e
    return str(path)
