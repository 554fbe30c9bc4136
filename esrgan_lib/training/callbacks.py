"""Callbacks: how notebooks watch a run (live plots, progress widgets) without touching the loop.

A callback is either

- a function ``fn(trainer, event, logs)``, called for every event, or
- an object with any of the methods ``on_train_begin``, ``on_step``, ``on_validation``,
  ``on_checkpoint``, ``on_train_end``, each called as ``method(trainer, logs)``.

Events and their ``logs`` dicts (all values are plain Python numbers/strings):

=============== ==================================================================================
event           logs
=============== ==================================================================================
train_begin     ``step`` (0, or the resumed step), ``steps``, ``precision``, ``device``, ``world_size``
step            every ``log_every`` steps: ``step``, ``epoch``, ``lr``, ``it_per_s``, ``elapsed_s``, the
                mean of each loss term since the last log (``l1`` or ``mse``; gan stage: ``l_pix``,
                ``l_percep``, ``l_g_gan``, ``l_d``, ``gp``, ``d_real``, ``d_fake``)
validation      ``step``, ``psnr`` (EMA model, dB, Y channel), ``psnr_bicubic``, ``per_image`` dict
checkpoint      ``step``, ``path``
train_end       ``step``, ``generator`` (path of the exported EMA generator), ``seconds``
=============== ==================================================================================

Callbacks run on the main process only. ``History`` below keeps everything in lists.
"""

from __future__ import annotations

__all__ = ["Callback", "History", "dispatch"]

EVENTS = ("train_begin", "step", "validation", "checkpoint", "train_end")


class Callback:
    """Base class with no-op hooks; override the ones you need."""

    def on_train_begin(self, trainer, logs: dict) -> None: ...

    def on_step(self, trainer, logs: dict) -> None: ...

    def on_validation(self, trainer, logs: dict) -> None: ...

    def on_checkpoint(self, trainer, logs: dict) -> None: ...

    def on_train_end(self, trainer, logs: dict) -> None: ...


class History(Callback):
    """Collects ``step`` and ``validation`` logs: ``history.train`` and ``history.val`` (lists of dicts)."""

    def __init__(self):
        self.train: list[dict] = []
        self.val: list[dict] = []

    def on_step(self, trainer, logs: dict) -> None:
        self.train.append(dict(logs))

    def on_validation(self, trainer, logs: dict) -> None:
        self.val.append({k: v for k, v in logs.items() if k != "per_image"})


def dispatch(callbacks, trainer, event: str, logs: dict) -> None:
    """Call every callback for ``event`` (see the module docstring for the two accepted forms)."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    for cb in callbacks:
        method = getattr(cb, f"on_{event}", None)
        if method is not None:
            method(trainer, logs)
        elif callable(cb):
            cb(trainer, event, logs)
