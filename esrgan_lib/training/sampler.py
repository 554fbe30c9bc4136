"""A resumable, seeded batch order shared by all processes.

Epoch ``e`` visits the dataset in the order ``numpy.random.default_rng((seed, e)).permutation(n)``,
cut into global batches of ``batch_size`` (an incomplete last batch is dropped). Process ``rank`` of
``world_size`` takes the contiguous slice ``[rank * b, (rank + 1) * b)`` of every global batch
(``b = batch_size / world_size``), so N processes together see exactly the samples that one process
with the same global batch sees, step by step.

The state is ``(epoch, position)``: ``start(epoch, position)`` makes the next iteration begin at batch
``position`` of ``epoch``, which is how a resumed run continues with the same data order.
"""

from __future__ import annotations

import numpy as np
from torch.utils.data import Sampler

__all__ = ["SeededBatchSampler"]


class SeededBatchSampler(Sampler):
    """Yields lists of dataset indices, one list per step, for this process's share of the batch."""

    def __init__(self, n: int, batch_size: int, *, seed: int = 0, rank: int = 0, world_size: int = 1):
        if batch_size % world_size:
            raise ValueError(f"the global batch {batch_size} is not divisible by the {world_size} processes")
        if n < batch_size:
            raise ValueError(f"the dataset has {n} items, fewer than one batch of {batch_size}")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.local_batch = batch_size // world_size
        self.epoch, self.position = 0, 0

    def __len__(self) -> int:
        """Batches per epoch."""
        return self.n // self.batch_size

    def start(self, epoch: int, position: int = 0) -> None:
        """The next ``iter()`` yields epoch ``epoch`` from batch ``position`` on."""
        self.epoch, self.position = int(epoch), int(position)

    def __iter__(self):
        order = np.random.default_rng((self.seed, self.epoch)).permutation(self.n)
        lo = self.rank * self.local_batch
        for k in range(self.position, len(self)):
            batch = order[k * self.batch_size : (k + 1) * self.batch_size]
            yield batch[lo : lo + self.local_batch].tolist()
