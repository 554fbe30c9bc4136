"""Exponential moving average (EMA) of a model's weights, used for validation and export.

After every optimiser step: ``ema = d * ema + (1 - d) * weights`` with
``d = min(decay, (1 + n) / (10 + n))`` (n = number of updates so far). The warm-up term keeps the first
hundreds of updates from being dominated by the random initial weights; for long runs ``d = decay``
(ESRGAN: 0.999). Buffers (BatchNorm statistics) are copied, not averaged.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["ModelEMA"]


class ModelEMA:
    """Holds ``self.module``, a frozen eval-mode copy of ``model`` whose weights track its EMA."""

    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        self.updates = 0
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the current weights of ``model`` (same architecture, not DDP-wrapped) in."""
        d = self.current_decay()
        self.updates += 1
        params = dict(model.named_parameters())
        for name, p in self.module.named_parameters():
            p.lerp_(params[name].detach(), 1.0 - d)  # p = d * p + (1 - d) * new
        buffers = dict(model.named_buffers())
        for name, b in self.module.named_buffers():
            b.copy_(buffers[name])

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
