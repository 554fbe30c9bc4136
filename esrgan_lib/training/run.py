"""Building a run from a ``TrainConfig``: data first, then processes, device, models, optimisers, loader.

``build_run(config)`` returns a ``Run`` holding every object a training loop touches. Order matters
under ``torchrun``: the training data is prepared (sub-images cut) *before* the process group exists,
so no rank waits in a collective with a timeout while another cuts images for many minutes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from .. import runtime
from .builders import build_discriminator, build_generator, dataset_repeat, load_pretrained, training_images
from .config import TrainConfig
from .distributed import DistInfo, setup_distributed
from .ema import ModelEMA
from .sampler import SeededBatchSampler

__all__ = ["Run", "build_run", "prepare_training_data", "check_device_available"]

POLL_SECONDS = 2.0


@dataclass
class Run:
    """Everything a step touches. ``train_model`` is ``generator`` wrapped by DDP / torch.compile."""

    config: TrainConfig
    dist: DistInfo
    device: torch.device
    precision: str  # resolved: "bf16" | "fp16" | "fp32"
    memory_format: torch.memory_format
    generator: nn.Module
    train_model: nn.Module
    ema: ModelEMA | None
    opt_g: torch.optim.Optimizer
    sched_g: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    dataset: object
    sampler: SeededBatchSampler
    loader: DataLoader
    pretrained: str | None = None
    discriminator: nn.Module | None = None
    opt_d: torch.optim.Optimizer | None = None
    sched_d: torch.optim.lr_scheduler.LRScheduler | None = None
    perceptual: nn.Module | None = None
    vgg_weights: str = "none (stage psnr)"


def prepare_training_data(config: TrainConfig, *, rank: int | None = None, world_size: int | None = None):
    """The training images of ``config`` (see ``builders.training_images``), prepared once for all ranks.

    Call before the process group exists (torchrun's ``RANK``/``WORLD_SIZE`` by default). With
    ``subimages``, every rank cuts its share of the folder into 480x480 tiles and then waits, without a
    timeout, until all ranks are done (``esrgan_lib.data.prepare_subimages``): no barrier can time out.
    """
    rank = int(os.environ.get("RANK", "0")) if rank is None else rank
    world_size = int(os.environ.get("WORLD_SIZE", "1")) if world_size is None else world_size
    if not (config.data and config.subimages):
        return training_images(config)
    from ..data import prepare_subimages
    from .builders import subimage_folder

    folder = Path(config.data)
    if not folder.is_dir():
        raise FileNotFoundError(f"training data folder not found: {folder}")
    out = subimage_folder(folder, create=False)
    if rank == 0:
        print(f"cutting {folder} into 480x480 sub-images in {out} ({world_size} process(es))", flush=True)
    return prepare_subimages(folder, out, rank=rank, world_size=world_size, crop=480, step=240,
                             poll_s=POLL_SECONDS)


def check_device_available(device: torch.device) -> None:
    """``ValueError`` naming ``TrainConfig.device`` when that device is not present on this machine."""
    present = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not present.get(device.type, False):
        raise ValueError(f"TrainConfig.device={str(device)!r}: no such device on this machine (try 'auto')")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(
            f"TrainConfig.device={str(device)!r}: only {torch.cuda.device_count()} CUDA device(s) visible"
        )


def _device_and_processes(config: TrainConfig) -> tuple[torch.device, DistInfo]:
    device = torch.device(config.device) if config.device != "auto" else runtime.default_device()
    check_device_available(device)
    info = setup_distributed(device.type)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    return device, info


def _build_models(config: TrainConfig, device, memory_format) -> dict:
    """Generator (+ pretrained weights, EMA, Adam, MultiStepLR) and, for stage gan, the discriminator
    side and the perceptual loss."""
    parts: dict = {}
    generator = build_generator(config)
    if config.stage == "gan":
        if config.pretrained:
            parts["pretrained"] = load_pretrained(generator, config.pretrained)
        elif not config.allow_scratch:
            raise ValueError(
                "stage 'gan' starts from a stage-psnr generator: set config.pretrained "
                "(CLI: --pretrained runs/psnr/generator.safetensors)"
            )
    parts["generator"] = generator.to(device, memory_format=memory_format)
    parts["ema"] = ModelEMA(generator, config.ema_decay) if config.ema_decay > 0 else None
    parts["opt_g"], parts["sched_g"] = _adam(generator, config.lr_g, config.betas_g, config)
    if config.stage == "gan":
        d = build_discriminator(config).to(device, memory_format=memory_format)
        parts["discriminator"] = d
        parts["opt_d"], parts["sched_d"] = _adam(d, config.lr_d, config.betas_d, config)
        parts["perceptual"], parts["vgg_weights"] = _perceptual(config, device)
    return parts


def _adam(module: nn.Module, lr: float, betas, config: TrainConfig):
    opt = torch.optim.Adam(module.parameters(), lr=lr, betas=betas)
    return opt, torch.optim.lr_scheduler.MultiStepLR(opt, list(config.milestones), config.gamma)


def _perceptual(config: TrainConfig, device):
    if config.perceptual_weight <= 0:
        return None, "unused (perceptual_weight=0)"
    from ..losses import PerceptualLoss

    loss = PerceptualLoss(
        config.perceptual_layer,
        config.perceptual_before_activation,
        config.perceptual_criterion,
        weights=config.vgg_weights,
    ).to(device)
    return loss, loss.weights_source


def _data(config: TrainConfig, images, info: DistInfo, device) -> dict:
    from .. import data

    # a folder made by data.prepare_shards (uint8 arrays, LR precomputed) is read from memory maps
    shards = isinstance(images, (str, Path)) and (Path(images) / f"index.x{config.scale}.json").is_file()
    dataset = (data.ShardPatchDataset if shards else data.SRPatchDataset)(
        images,
        config.scale,
        config.hr_size,
        augment=True,
        color_augment=config.color_augment,
        seed=config.seed,
    )
    dataset.repeat = dataset_repeat(config, dataset.n_images)  # indexed once: no second scan
    sampler = SeededBatchSampler(
        len(dataset), config.batch_size, seed=config.seed, rank=info.rank, world_size=info.world_size
    )
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator(),
    )
    return dict(dataset=dataset, sampler=sampler, loader=loader)


def build_run(config: TrainConfig, train_images=None) -> Run:
    """Data (before any process group), processes and device, models, optimisers and the loader."""
    images = train_images if train_images is not None else prepare_training_data(config)
    device, info = _device_and_processes(config)
    precision = runtime.pick_precision(device, config.precision)
    channels_last = config.channels_last if config.channels_last is not None else device.type == "cuda"
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    parts = _build_models(config, device, memory_format)
    train_model = parts["generator"]
    if info.enabled:
        ids = [device.index] if device.type == "cuda" else None
        train_model = DistributedDataParallel(train_model, device_ids=ids)
    if config.compile:
        train_model = torch.compile(train_model)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    return Run(
        config=config,
        dist=info,
        device=device,
        precision=precision,
        memory_format=memory_format,
        train_model=train_model,
        scaler=scaler,
        **parts,
        **_data(config, images, info, device),
    )
