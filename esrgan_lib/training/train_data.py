"""The training data of a run: which images, cut once into sub-images, and the loader over them.

``training_images(config)`` runs before any process group exists: under ``torchrun`` every rank cuts
its share of a folder into BasicSR's 480x480 sub-images and then waits, without a timeout, for the
others (cutting can take many minutes, and a collective would time out meanwhile).
``build_loader`` makes the patch dataset, the seeded batch order every process shares, and the loader.
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

__all__ = ["training_images", "subimage_folder", "dataset_repeat", "build_loader", "POLL_SECONDS"]

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


def build_loader(config: TrainConfig, images, dist: DistInfo, device: torch.device):
    """``(dataset, sampler, loader)``: random HR patches of ``images`` and their LR versions, in the
    resumable order of ``SeededBatchSampler`` (this process's share of every global batch)."""
    from .. import data

    # a folder made by data.prepare_shards (uint8 arrays, LR precomputed) is read from memory maps
    shards = isinstance(images, (str, Path)) and data.shard_index_path(images, config.scale).is_file()
    dataset = (data.ShardPatchDataset if shards else data.SRPatchDataset)(
        images, config.scale, config.hr_size, augment=True, color_augment=config.color_augment,
        seed=config.seed,
    )
    dataset.repeat = dataset_repeat(config, dataset.n_images)  # indexed once: no second scan
    sampler = SeededBatchSampler(len(dataset), config.batch_size, seed=config.seed, rank=dist.rank,
                                 world_size=dist.world_size)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=config.num_workers,
                        pin_memory=device.type == "cuda", generator=torch.Generator())
    return dataset, sampler, loader
