"""``StepMonitor``: loss sums, divergence and GradScaler skips kept on the device between logs.

Reading a GPU tensor from Python (``.item()``, ``.tolist()``, ``if tensor:``) waits for the GPU to
finish: a host sync. The monitor adds each step's loss terms into device tensors, and ``read()`` (called
on logged steps and before checkpoints) is the only sync: one all-reduce over processes, one copy to
the host. It reports the mean of each term since the last read, which terms became NaN/Inf (and the
first step that did), the number of consecutive steps the fp16 GradScaler skipped, and the stop flag
(Ctrl-C / SIGTERM on any process).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist

from .distributed import DistInfo

__all__ = ["StepMonitor", "Readout"]


@dataclass
class Readout:
    means: dict[str, float]  # mean of each term over the steps since the last read (finite steps only)
    bad_terms: list[str]  # terms that were NaN/Inf at least once
    first_bad_step: int  # the first step with a NaN/Inf term (0: none)
    skipped_in_a_row: int  # consecutive steps the GradScaler skipped, up to the last one
    stop: bool  # a process asked to stop (Ctrl-C, SIGTERM)


class StepMonitor:
    """Accumulates loss terms of each step on ``device``; see the module docstring."""

    def __init__(self, device: torch.device, info: DistInfo):
        self.device, self.info = device, info
        self.names: list[str] | None = None
        self._zero()
        self.first_bad = torch.zeros((), device=device)
        self.skipped = torch.zeros((), device=device)

    def _zero(self) -> None:
        n = len(self.names) if self.names else 0
        self.sums = torch.zeros(n, device=self.device)
        self.counts = torch.zeros(n, device=self.device)
        self.bad = torch.zeros(n, device=self.device)

    def add(self, step: int, terms: dict[str, torch.Tensor], skipped: torch.Tensor | None = None) -> None:
        """Fold in step ``step``'s scalar ``terms``; ``skipped``: 1 if the GradScaler skipped it."""
        if self.names is None:
            self.names = list(terms)
            self._zero()
        values = torch.stack([t.detach().float().reshape(()) for t in terms.values()])  # (n_terms,)
        finite = torch.isfinite(values)
        self.sums += torch.where(finite, values, 0.0)
        self.counts += finite
        self.bad = torch.maximum(self.bad, (~finite).float())
        first = (self.first_bad == 0) & ~finite.all()
        self.first_bad = torch.where(first, torch.full_like(self.first_bad, step), self.first_bad)
        if skipped is not None:
            self.skipped = (self.skipped + 1) * skipped.float()

    def read(self, stop: bool = False, *, reset: bool = True) -> Readout:
        """The host sync: all-reduce over processes, copy to the host, reset the sums (``reset``)."""
        n = len(self.names or [])
        flag = torch.tensor([float(stop)], device=self.device)
        summed = torch.cat([self.sums, self.counts])  # (2 n,) averaged over processes
        maxed = torch.cat([self.bad, self.first_bad.reshape(1), self.skipped.reshape(1), flag])
        if self.info.enabled:
            dist.all_reduce(summed, op=dist.ReduceOp.SUM)
            dist.all_reduce(maxed, op=dist.ReduceOp.MAX)
        host = torch.cat([summed, maxed]).tolist()  # the one host sync
        sums, counts, bad, rest = host[:n], host[n : 2 * n], host[2 * n : 3 * n], host[3 * n :]
        if reset:
            self._zero()
        names = self.names or []
        return Readout(
            means={k: (s / c if c else float("nan")) for k, s, c in zip(names, sums, counts)},
            bad_terms=[k for k, b in zip(names, bad) if b > 0],
            first_bad_step=int(rest[0]),
            skipped_in_a_row=int(rest[1]),
            stop=rest[2] > 0,
        )
