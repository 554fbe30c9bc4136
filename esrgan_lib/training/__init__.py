"""Training: the paper's two-stage recipe (PSNR-oriented, then GAN), resumable, multi-GPU via torchrun.

- ``config``: ``TrainConfig``; ``presets``: the presets ``smoke``, ``cpu``, ``colab_t4``, ``paper`` (data)
- ``engine``: ``Trainer``, the loop (``fit``) and one optimisation step
- ``run``: building a run (data before the process group, device, models, optimisers, DDP, loader)
- ``builders``: one model or data source from a config (through the model registry)
- ``monitor``: losses kept on the device, one host sync per logged step, divergence and fp16 skips
- ``evaluator``: validation PSNR, sample grids, export metadata
- ``resume`` / ``state``: what a checkpoint holds; two checkpoint slots, atomic or in place, RNG states
- ``interrupt``: Ctrl-C and SIGTERM stop after a checkpoint
- ``callbacks``: the callback protocol and ``History``
- ``ema``: ``ModelEMA``; ``sampler``: ``SeededBatchSampler``; ``distributed``: torchrun helpers

The GAN recipes (what a gan-stage step computes) are ``esrgan_lib.losses.gan.GAN_RECIPES``.

CLI: ``python -m esrgan_lib.train --help``.
"""

from .callbacks import Callback, History
from .config import TrainConfig, gan_recipe
from .ema import ModelEMA
from .engine import Trainer, TrainingDiverged
from .sampler import SeededBatchSampler
from .state import latest_checkpoint

__all__ = [
    "TrainConfig",
    "gan_recipe",
    "Trainer",
    "TrainingDiverged",
    "Callback",
    "History",
    "ModelEMA",
    "SeededBatchSampler",
    "latest_checkpoint",
]
