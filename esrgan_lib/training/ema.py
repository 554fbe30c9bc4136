"""Exponential moving average (EMA) of a model's weights, used for validation and export.

After every optimiser step: ``ema = d * ema + (1 - d) * weights`` with
``d = min(decay, (1 + n) / (10 + n))`` (n = number of updates so far). The warm-up term keeps the first
hundreds of updates from being dominated by the random initial weights; for long runs ``d = decay``
(ESRGAN: 0.999). Buffers (BatchNorm statistics) are copied, not averaged. The update is one fused
``torch._foreach_lerp_`` over all parameters (not a Python loop of one kernel per tensor).
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
        self._pairs = None  # (model, EMA params, model params, EMA buffers, model buffers), built once

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the current weights of ``model`` (same architecture, not DDP-wrapped) in."""
        d = self.current_decay()
        self.updates += 1
        if self._pairs is None or self._pairs[0] is not model:
            params = dict(model.named_parameters())
            buffers = dict(model.named_buffers())
            self._pairs = (
                model,
                [p for _, p in self.module.named_parameters()],
                [params[n].detach() for n, _ in self.module.named_parameters()],
                [b for _, b in self.module.named_buffers()],
                [buffers[n] for n, _ in self.module.named_buffers()],
            )
        _, mine, theirs, my_buffers, their_buffers = self._pairs
        torch._foreach_lerp_(mine, theirs, 1.0 - d)  # p = d * p + (1 - d) * new, one fused call
        if my_buffers:
            torch._foreach_copy_(my_buffers, their_buffers)

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
