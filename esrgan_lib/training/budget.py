"""How long a run takes before it runs: the arithmetic of one training step, and the steps a time budget buys.

``step_tflop(config)`` counts the floating-point operations of one training step (generator forward and
backward; in the GAN stage also the VGG19 feature extractor and the discriminator passes of the recipe)
with ``torch.utils.flop_counter.FlopCounterMode`` on the ``meta`` device: shapes only, no memory, no time.
It counts convolutions and matrix products, the FLOPs that matter (not activations or BatchNorm).
``plan_steps`` turns a budget in minutes into a number of steps for a device's peak throughput and an
assumed share of it (``utilisation``), and ``estimate_minutes`` does the reverse. The peaks are the vendors'
dense tensor-core figures; what a run reaches is measured by ``benchmarks/gpu_check.sh``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses import GAN_RECIPES, VGG19_LAYERS
from .config import TrainConfig

__all__ = ["PEAK_TFLOPS", "step_tflop", "peak_tflops", "plan_steps", "estimate_minutes"]

# Vendor peak TFLOP/s (dense, no sparsity) by GPU name fragment and precision.
PEAK_TFLOPS = {
    "T4": {"fp16": 65.0, "fp32": 8.1},
    "L4": {"fp16": 121.0, "bf16": 121.0, "fp32": 30.3},
    "V100": {"fp16": 125.0, "fp32": 15.7},
    "A100": {"fp16": 312.0, "bf16": 312.0, "fp32": 19.5},
    "H100": {"fp16": 989.0, "bf16": 989.0, "fp32": 67.0},
}


def _count(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e12


def step_tflop(config: TrainConfig) -> float:
    """TFLOP of one training step of ``config`` (arch, sizes, global batch, stage, recipe), counted on
    ``meta``: the same passes as ``Trainer._step``. Stage gan: the generator step (G forward and
    backward, VGG19 ``features`` up to ``perceptual_layer``, after its ReLU when
    ``perceptual_before_activation`` is False, on SR and HR; D on SR, and on HR for RaGAN), then the
    discriminator step (D on HR and the detached SR). Not counted: WGAN-GP's gradient penalty (a double
    backward, which ``FlopCounterMode`` cannot follow; about four more D passes)."""
    from torchvision.models import vgg19

    c, batch, hr = config, config.batch_size, config.hr_size
    pixel = F.mse_loss if c.pixel_criterion == "mse" else F.l1_loss
    with torch.device("meta"):
        g = c.build_generator()
        lr_batch = torch.empty(batch, 3, hr // c.scale, hr // c.scale)  # (B, 3, h, w)
        hr_batch = torch.empty(batch, 3, hr, hr)  # (B, 3, H, W)
        if c.stage == "psnr":
            return _count(lambda: pixel(g(lr_batch), hr_batch).backward())
        d = c.build_discriminator()
        end = VGG19_LAYERS[c.perceptual_layer] + (1 if c.perceptual_before_activation else 2)
        vgg = vgg19(weights=None).features[:end].requires_grad_(False)
    recipe = GAN_RECIPES[c.gan]

    def gan_step():
        sr = g(lr_batch)  # generator step, D frozen
        d.requires_grad_(False)
        with torch.no_grad():
            hr_features = vgg(hr_batch)
        loss = pixel(sr, hr_batch) if c.pixel_weight > 0 else 0
        loss = loss + F.mse_loss(vgg(sr), hr_features) if c.perceptual_weight > 0 else loss
        real_out = d(hr_batch).detach() if recipe.g_uses_real else None
        (loss + recipe.g_loss(real_out, d(sr))).backward()
        d.requires_grad_(True)  # discriminator step on real and detached fake
        fake = sr.detach()
        recipe.d_loss(d(hr_batch), d(fake)).backward()

    return _count(gan_step)


def peak_tflops(device_name: str, precision: str) -> float | None:
    """The vendor peak for a GPU name such as ``"Tesla T4"``, or None when the card is not in the table."""
    for fragment, peaks in PEAK_TFLOPS.items():
        if fragment in device_name:
            return peaks.get(precision)
    return None


def plan_steps(tflop_per_step: float, minutes: float, *, peak: float, utilisation: float = 0.3) -> int:
    """Steps that fit in ``minutes`` at ``utilisation`` (0-1) of ``peak`` TFLOP/s."""
    if not (0 < utilisation <= 1) or peak <= 0 or tflop_per_step <= 0:
        raise ValueError("need tflop_per_step > 0, peak > 0 and 0 < utilisation <= 1")
    return int(minutes * 60 * peak * utilisation / tflop_per_step)


def estimate_minutes(tflop_per_step: float, steps: int, *, peak: float, utilisation: float = 0.3) -> float:
    """Minutes that ``steps`` steps take at ``utilisation`` of ``peak`` TFLOP/s."""
    if not (0 < utilisation <= 1) or peak <= 0:
        raise ValueError("need peak > 0 and 0 < utilisation <= 1")
    return steps * tflop_per_step / (peak * utilisation) / 60
