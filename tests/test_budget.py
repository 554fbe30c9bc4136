"""``esrgan_lib.training.budget``: FLOPs of a training step counted on the meta device, and time budgets."""

from __future__ import annotations

import pytest

from esrgan_lib.training import TrainConfig
from esrgan_lib.training.budget import estimate_minutes, peak_tflops, plan_steps, step_tflop


def _rrdbnet_forward_flop(nf, nb, gc, lr_side, batch, scale=4):
    """Multiply-adds x 2 of every 3x3 convolution of RRDBNet, written out from the architecture."""
    def conv(c_in, c_out, side):
        return 2 * c_in * c_out * 9 * side * side

    rdb = sum(conv(nf + k * gc, gc, lr_side) for k in range(4)) + conv(nf + 4 * gc, nf, lr_side)
    total = conv(3, nf, lr_side) + nb * 3 * rdb + conv(nf, nf, lr_side)  # conv_first, trunk, conv_body
    side = lr_side
    for _ in range(scale // 2):
        side *= 2
        total += conv(nf, nf, side)  # conv_up1, conv_up2 after nearest x2
    return batch * (total + conv(nf, nf, side) + conv(nf, 3, side))  # conv_hr, conv_last


def test_psnr_step_is_forward_plus_backward_of_every_convolution():
    config = TrainConfig(stage="psnr", nf=64, nb=23, gc=32, batch_size=16, hr_size=128)
    forward = _rrdbnet_forward_flop(64, 23, 32, 32, 16)
    first_input_grad = 16 * 2 * 3 * 64 * 9 * 32 * 32  # the image needs no gradient
    expected = (3 * forward - first_input_grad) / 1e12
    assert step_tflop(config) == pytest.approx(expected, rel=1e-3)
    assert step_tflop(config) == pytest.approx(1.76, abs=0.01)  # the figure the course quotes


def test_gan_step_adds_vgg_and_discriminator():
    psnr = step_tflop(TrainConfig(stage="psnr", batch_size=16, hr_size=128))
    gan = step_tflop(TrainConfig(stage="gan", batch_size=16, hr_size=128, discriminator="vgg128"))
    assert 1.5 * psnr < gan < 2.5 * psnr


def test_budget_arithmetic_round_trips():
    steps = plan_steps(3.0, 60, peak=65.0, utilisation=0.3)
    assert steps == int(60 * 60 * 65.0 * 0.3 / 3.0)
    assert estimate_minutes(3.0, steps, peak=65.0, utilisation=0.3) == pytest.approx(60, rel=1e-3)
    with pytest.raises(ValueError):
        plan_steps(3.0, 60, peak=65.0, utilisation=0)


def test_peaks_are_found_by_name():
    assert peak_tflops("Tesla T4", "fp16") == 65.0
    assert peak_tflops("NVIDIA A100-SXM4-40GB", "bf16") == 312.0
    assert peak_tflops("Some CPU", "fp32") is None
