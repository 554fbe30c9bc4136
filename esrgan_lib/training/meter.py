"""The loss terms of a run, summed on the device, and THE SYNC POINT that brings them to the host.

Reading a GPU value from Python (``float(t)``, ``.tolist()``, ``if t:``) waits for the GPU. So
``LossMeter.add`` keeps, per term, the sum of its finite values, their count and the count of NaN/Inf
values on the device; ``LossMeter.read`` copies them to the host in one ``.tolist()``, after one
all-reduce under torchrun that also carries the stop flags (Ctrl-C, SIGTERM, the time limit), so every
process stops at the same step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist

__all__ = ["LossMeter", "Readout", "TrainingDiverged", "MAX_SKIPPED_STEPS"]

MAX_SKIPPED_STEPS = 25  # fp16: this many overflowing steps in a row is divergence, not a bad scale


class TrainingDiverged(RuntimeError):
    """A loss or the weights became NaN or Inf; the last good checkpoint on disk is left untouched."""


@dataclass
class Readout:  # what LossMeter.read brings to the host, combined over processes
    means: dict[str, float]  # mean of each loss term since the last reset (finite values only)
    bad_terms: list[str]  # terms that were NaN/Inf at least once
    first_bad_step: int  # the first step with a NaN/Inf term (0: none)
    skipped_in_a_row: int  # consecutive steps the fp16 GradScaler skipped, up to the last one
    stop: bool  # a process asked to stop (Ctrl-C, SIGTERM)
    out_of_time: bool  # a process passed fit's max_seconds

    def divergence(self, *, fp16: bool, step: int) -> str | None:
        """Why the run diverged, or None. fp16: GradScaler skipped ``MAX_SKIPPED_STEPS`` steps in a row
        (an overflow now and then is normal there); bf16/fp32: a loss term was NaN or Inf."""
        if fp16 and self.skipped_in_a_row >= MAX_SKIPPED_STEPS:
            return (f"step {step}: the fp16 GradScaler skipped the last {self.skipped_in_a_row} steps "
                    "(the gradients overflow every step)")
        if not fp16 and self.bad_terms:
            return f"step {self.first_bad_step}: loss term(s) {', '.join(self.bad_terms)} became NaN or Inf"
        return None


class LossMeter:
    """Device-side sums of the loss terms (the names come from the first ``add``)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.names: list[str] = []
        self.sums = torch.zeros(3, 0, device=device)  # (3, n_terms): sum of finite values, finite, non-finite
        self.first_bad, self.skipped = torch.zeros(2, device=device)  # first NaN step, skips in a row

    def add(self, terms: dict[str, torch.Tensor], step: int, skipped: torch.Tensor | None) -> None:
        """One step's terms (0-d tensors) and, under fp16, whether GradScaler skipped it (1.0 / 0.0)."""
        values = torch.stack([t.detach().float().reshape(()) for t in terms.values()])  # (n_terms,)
        if not self.names:
            self.names, self.sums = list(terms), torch.zeros(3, len(terms), device=self.device)
        finite = torch.isfinite(values)
        self.sums += torch.stack([torch.where(finite, values, 0.0), finite.float(), (~finite).float()])
        self.first_bad = torch.where((self.first_bad == 0) & ~finite.all(), step, self.first_bad)
        if skipped is not None:
            self.skipped = (self.skipped + 1) * skipped  # consecutive skipped steps

    def read(self, dist, *, reset: bool = True, stop: bool = False, out_of_time: bool = False) -> Readout:
        """THE SYNC POINT: the sums and the flags, combined over processes (``dist``: ``DistInfo``)."""
        n = len(self.names)
        sums = self.sums.clone()
        flags = torch.cat([torch.stack([self.first_bad, self.skipped]),
                           torch.tensor([float(stop), float(out_of_time)], device=self.device)])
        if dist.enabled:  # under torchrun: the sums over processes, the flags' maximum
            torch_dist.all_reduce(sums, op=torch_dist.ReduceOp.SUM)
            torch_dist.all_reduce(flags, op=torch_dist.ReduceOp.MAX)
        host = torch.cat([sums.flatten(), flags]).tolist()  # the one copy to the host
        total, count, bad = (host[k * n : (k + 1) * n] for k in range(3))
        first_bad, skipped, stop_any, late_any = host[3 * n :]
        if reset:
            self.sums.zero_()
        return Readout({k: s / m if m else math.nan for k, s, m in zip(self.names, total, count)},
                       [k for k, b in zip(self.names, bad) if b > 0], int(first_bad), int(skipped),
                       stop_any > 0, late_any > 0)
