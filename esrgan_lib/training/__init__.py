"""Training: the paper's two-stage recipe (PSNR-oriented, then GAN), resumable, multi-GPU via torchrun.

- ``loop``: ``Trainer``, the whole loop in one file: building the run, one optimisation step (the
  generator and discriminator terms written out), ``fit`` (losses read once per logged step, a time limit)
- ``meter``: ``LossMeter``, the loss terms summed on the device and THE SYNC POINT that reads them;
  ``TrainingDiverged``
- ``config``: ``TrainConfig``; ``presets``: the presets ``smoke``, ``cpu``, ``colab_t4``, ``paper`` and the
  GAN recipes' values, in one table, with the rule of which value wins
- ``checkpoints``: what a checkpoint holds, two slots (atomic, or in place on Drive), resuming, RNG states,
  ``log.jsonl``
- ``train_data``: the training images (sub-images cut before any process group); ``Batches``, the endless,
  resumable stream of batches
- ``evaluator``: validation images and PSNR, sample grids, export metadata
- ``callbacks``: the callback protocol and ``History``; ``interrupt``: Ctrl-C and SIGTERM stop after a
  checkpoint; ``ema``: ``ModelEMA``; ``sampler``: ``SeededBatchSampler``; ``distributed``: torchrun helpers
- ``budget``: the FLOPs of one step (counted on the meta device) and the steps a time budget buys

What a gan-stage step computes for each GAN: ``esrgan_lib.losses.GAN_RECIPES`` (the losses, as fields).

CLI: ``python -m esrgan_lib.train --help``.
"""

from .callbacks import Callback, History
from .checkpoints import latest_checkpoint
from .config import TrainConfig, gan_recipe
from .ema import ModelEMA
from .loop import Trainer
from .meter import TrainingDiverged
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
    "latest_checkpoint",
]
