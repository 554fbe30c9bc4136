"""Training: the paper's two-stage recipe (PSNR-oriented, then GAN), resumable, multi-GPU via torchrun.

- ``config``: ``TrainConfig`` and its presets ``smoke``, ``cpu``, ``colab_t4``, ``paper``
- ``engine``: ``Trainer`` (the loop, validation, samples, checkpoints, export)
- ``callbacks``: the callback protocol and ``History``
- ``ema``: ``ModelEMA``; ``sampler``: ``SeededBatchSampler``; ``state``: checkpoint files and RNG states
- ``distributed``: torchrun / DistributedDataParallel helpers
- ``builders``: models and data from a config

CLI: ``python -m esrgan_lib.train --help``.
"""

from .callbacks import Callback, History
from .config import TrainConfig, gan_recipe
from .ema import ModelEMA
from .engine import Trainer, TrainingDiverged
from .sampler import SeededBatchSampler

__all__ = [
    "TrainConfig",
    "gan_recipe",
    "Trainer",
    "TrainingDiverged",
    "Callback",
    "History",
    "ModelEMA",
    "SeededBatchSampler",
]
