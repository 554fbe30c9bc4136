"""The run state: what a checkpoint holds and how a resumed run takes it back.

A resume may change the learning-rate schedule (``lr_g``, ``lr_d``, ``milestones``, ``gamma``: applied
from the resumed step on) and the precision (fp16's GradScaler state is kept only when both runs use
it), but not the networks (``ValueError`` naming the field).
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from collections import Counter
from pathlib import Path

from .state import rng_state, set_rng_state

__all__ = ["run_state_dict", "restore_run", "set_schedule", "truncate_log", "FIXED_ON_RESUME"]

FIXED_ON_RESUME = ("stage", "arch", "nf", "nb", "gc", "scale", "gan", "discriminator", "d_nf", "d_batch_norm")


def _sd(module):
    return module.state_dict() if module is not None else None


def run_state_dict(run, counters: dict) -> dict:
    """Everything a resume needs (tensors, numbers, strings, plain containers); ``counters``:
    ``step``, ``epoch``, ``position``, ``best_psnr``, ``last_val``."""
    return {
        "format": "esrgan_lib.training/1",
        **counters,
        "config": run.config.to_dict(),
        "precision": run.precision,
        "generator": run.generator.state_dict(),
        "ema": run.ema.state_dict() if run.ema is not None else None,
        "opt_g": run.opt_g.state_dict(),
        "sched_g": run.sched_g.state_dict(),
        "discriminator": _sd(run.discriminator),
        "opt_d": _sd(run.opt_d),
        "sched_d": _sd(run.sched_d),
        "scaler": run.scaler.state_dict(),
        "rng": rng_state(),
    }


def restore_run(run, state: dict, path) -> dict:
    """Load ``state`` into ``run``; returns the counters (see ``run_state_dict``)."""
    old, config = state["config"], run.config
    for key in FIXED_ON_RESUME:
        if old.get(key) != getattr(config, key):
            raise ValueError(
                f"{path}: the checkpoint has {key}={old.get(key)!r} but the config says "
                f"{getattr(config, key)!r}; resume with the same settings"
            )
    run.generator.load_state_dict(state["generator"])
    if run.ema is not None and state["ema"] is not None:
        run.ema.load_state_dict(state["ema"])
    run.opt_g.load_state_dict(state["opt_g"])
    run.sched_g.load_state_dict(state["sched_g"])
    if run.discriminator is not None:
        run.discriminator.load_state_dict(state["discriminator"])
        run.opt_d.load_state_dict(state["opt_d"])
        run.sched_d.load_state_dict(state["sched_d"])
    if run.scaler.is_enabled() and state.get("scaler"):  # empty when the old run was bf16/fp32
        run.scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    step = int(state["step"])
    _apply_schedule(run, old, step)
    return {
        "step": step,
        "epoch": int(state["epoch"]),
        "position": int(state["position"]),
        "best_psnr": float(state["best_psnr"]),
        "last_val": dict(state.get("last_val") or {}),
    }


def _apply_schedule(run, old: dict, step: int) -> None:
    """A resume whose config changes ``lr_g``/``lr_d``/``milestones``/``gamma``: the optimisers and
    schedulers switch to the new schedule at ``step`` (so config.json records what runs)."""
    c = run.config
    same = [old.get(k) == getattr(c, k) for k in ("lr_g", "lr_d", "gamma")]
    if all(same) and list(old.get("milestones", [])) == list(c.milestones):
        return
    set_schedule(run.opt_g, run.sched_g, c.lr_g, c.milestones, c.gamma, step)
    if run.opt_d is not None:
        set_schedule(run.opt_d, run.sched_d, c.lr_d, c.milestones, c.gamma, step)
    if run.dist.is_main:
        print(f"resume: lr_g={c.lr_g:g}, lr_d={c.lr_d:g}, milestones={c.milestones}, gamma={c.gamma:g}")


def set_schedule(opt, sched, base_lr: float, milestones, gamma: float, step: int) -> None:
    """Make ``opt`` and its ``MultiStepLR`` ``sched`` follow ``base_lr * gamma ** (milestones passed)``
    from ``step`` on."""
    lr = base_lr * gamma ** bisect_right(sorted(milestones), step)
    sched.base_lrs = [base_lr] * len(opt.param_groups)
    sched.milestones, sched.gamma = Counter(milestones), gamma
    for group in opt.param_groups:
        group["initial_lr"], group["lr"] = base_lr, lr
    sched._last_lr = [lr] * len(opt.param_groups)


def _record_step(line: str) -> float:
    try:
        return float(json.loads(line).get("step", 0))
    except (ValueError, AttributeError):
        return math.inf  # a torn last line: dropped


def truncate_log(log: Path, step: int) -> None:
    """Drop ``log.jsonl`` records written after ``step`` (a crash between two checkpoints)."""
    if not log.is_file():
        return
    lines = log.read_text().splitlines()
    kept = [line for line in lines if _record_step(line) <= step]
    if len(kept) != len(lines):
        log.write_text("".join(line + "\n" for line in kept))
