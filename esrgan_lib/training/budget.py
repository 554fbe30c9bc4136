"""How long a run takes before it runs: the arithmetic of one training step, and the steps a time budget buys.

``step_tflop(config)`` counts the floating-point operations of one training step (generator forward and
backward; in the GAN stage also the VGG19 feature extractor and both discriminator passes) with
``torch.utils.flop_counter.FlopCounterMode`` on the ``meta`` device: shapes only, no memory, no time.
``plan_steps`` turns a budget in minutes into a number of steps for a device's peak throughput and an
assumed share of it (``utilisation``), and ``estimate_minutes`` does the reverse. The peaks are the vendors'
dense tensor-core figures; what a run reaches is measured by ``benchmarks/gpu_check.sh``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models import discriminator_spec, generator_spec
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


def _vgg19_conv5_4() -> nn.Module:
    from torchvision.models import vgg19

    return vgg19(weights=None).features[:35]  # up to conv5_4, before its ReLU


def _count(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e12


def step_tflop(config: TrainConfig) -> float:
    """TFLOP of one training step of ``config`` (arch, sizes, global batch, stage), counted on ``meta``."""
    batch, hr = config.batch_size, config.hr_size
    with torch.device("meta"):
        g = generator_spec(config.arch).build(nf=config.nf, nb=config.nb, gc=config.gc, scale=config.scale)
        lr_batch = torch.empty(batch, 3, hr // config.scale, hr // config.scale)  # (B, 3, h, w)
        hr_batch = torch.empty(batch, 3, hr, hr)  # (B, 3, H, W)
        if config.stage == "psnr":
            return _count(lambda: (g(lr_batch) - hr_batch).abs().mean().backward())
        d = discriminator_spec(config.discriminator).build(
            nf=config.d_nf, input_size=hr, batch_norm=config.d_batch_norm
        )
        vgg = _vgg19_conv5_4().requires_grad_(False)

    def gan_step():
        sr = g(lr_batch)  # generator step: L1 + perceptual + adversarial, D frozen
        d.requires_grad_(False)
        loss = (sr - hr_batch).abs().mean() + (vgg(sr) - vgg(hr_batch)).abs().mean()
        (loss + d(sr).mean() + d(hr_batch).mean()).backward()
        d.requires_grad_(True)  # discriminator step on real and detached fake
        (d(hr_batch).mean() - d(sr.detach()).mean()).backward()

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
