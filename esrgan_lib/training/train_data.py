"""The training data of a run: which images, cut once into sub-images, and the loader over them.

``training_images(config)`` runs before any process group exists: under ``torchrun`` every rank cuts
its share of a folder into BasicSR's 480x480 sub-images and then waits, without a timeout, for the
others (cutting can take many minutes, and a collective would time out meanwhile).
``Batches`` is the data stream of ``fit``: the patch dataset, the seeded batch order every process shares,
the loader, and where in it the run is (``epoch``, ``position``: what a checkpoint stores).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from .config import TrainConfig
from .distributed import DistInfo
from .evaluator import VAL_SAMPLE_NAMES
from .sampler import SeededBatchSampler

__all__ = ["training_images", "subimage_folder", "dataset_repeat", "Batches", "POLL_SECONDS"]

POLL_SECONDS = 2.0  # how often a rank that has cut its share looks whether the others are done


def subimage_folder(folder: Path) -> Path:
    """``<folder>_sub480``: where the sub-images of ``folder`` go (``data.SUBIMAGE_SIZE`` tiles)."""
    from ..data import SUBIMAGE_SIZE

    return folder.with_name(f"{folder.name}_sub{SUBIMAGE_SIZE}")


def training_images(config: TrainConfig, *, rank: int | None = None, world_size: int | None = None):
    """What the patch dataset reads: ``config.data`` (a folder of HR images, a ``prepare_shards``
    folder, or with ``subimages`` its 480x480 tiles, cut here once for all ranks), else the
    scikit-image sample photos minus ``VAL_SAMPLE_NAMES``. ``rank``/``world_size``: torchrun's
    ``RANK``/``WORLD_SIZE`` by default."""
    from ..data import SAMPLE_IMAGE_NAMES, SUBIMAGE_SIZE, prepare_subimages, sample_images

    if config.data is None:
        return sample_images([n for n in SAMPLE_IMAGE_NAMES if n not in VAL_SAMPLE_NAMES])
    folder = Path(config.data)
    if not folder.is_dir():
        raise FileNotFoundError(f"training data folder not found: {folder}")
    if not config.subimages:
        return folder
    rank = int(os.environ.get("RANK", "0")) if rank is None else rank
    world_size = int(os.environ.get("WORLD_SIZE", "1")) if world_size is None else world_size
    out = subimage_folder(folder)
    if rank == 0:
        side = f"{SUBIMAGE_SIZE}x{SUBIMAGE_SIZE}"
        print(f"cutting {folder} into {side} sub-images in {out} ({world_size} process(es))", flush=True)
    return prepare_subimages(folder, out, rank=rank, world_size=world_size, poll_s=POLL_SECONDS)


def dataset_repeat(config: TrainConfig, n_images: int) -> int:
    """``config.repeat``, or (0) enough repeats for at least 100 global batches per epoch."""
    if config.repeat > 0:
        return config.repeat
    return max(1, math.ceil(100 * config.batch_size / n_images))


class Batches:
    """Endless ``(lr, hr)`` batches on ``device``: random HR patches of ``images`` and their LR versions
    (``(B, 3, h, w)``, ``(B, 3, s h, s w)`` in [0, 1]), this process's share of every global batch of
    ``SeededBatchSampler``. ``epoch`` and ``position`` (batches done in it) are where the next batch
    comes from: set them before ``iter()`` to resume."""

    def __init__(self, config: TrainConfig, images, dist: DistInfo, device: torch.device,
                 memory_format: torch.memory_format = torch.contiguous_format):
        from .. import data

        # a folder made by data.prepare_shards (uint8 arrays, LR precomputed) is read from memory maps
        shards = isinstance(images, (str, Path)) and data.shard_index_path(images, config.scale).is_file()
        self.dataset = (data.ShardPatchDataset if shards else data.SRPatchDataset)(
            images, config.scale, config.hr_size, augment=True, color_augment=config.color_augment,
            seed=config.seed,
        )
        self.dataset.repeat = dataset_repeat(config, self.dataset.n_images)  # indexed once: no second scan
        self.sampler = SeededBatchSampler(len(self.dataset), config.batch_size, seed=config.seed,
                                          rank=dist.rank, world_size=dist.world_size)
        self.loader = DataLoader(self.dataset, batch_sampler=self.sampler, num_workers=config.num_workers,
                                 pin_memory=device.type == "cuda", generator=torch.Generator())
        self.device, self.memory_format = device, memory_format
        self.epoch = self.position = 0

    def __iter__(self):
        while True:
            self.dataset.set_epoch(self.epoch)  # the epoch's augmentations and patch positions
            self.sampler.start(self.epoch, self.position)  # the epoch's order, from this batch on
            for batch in self.loader:
                self.position += 1
                if self.position == len(self.sampler):
                    self.epoch, self.position = self.epoch + 1, 0
                yield [t.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
                       for t in batch]
