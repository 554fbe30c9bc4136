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


def _conv(c_in, c_out, k, side):
    """FLOPs (2 x multiply-adds) of a k x k convolution producing a side x side map."""
    return 2 * c_in * c_out * k * k * side * side


def _srresnet_forward_flop(nf, nb, lr_side, batch):
    """SRResNet written out: conv 9x9, nb blocks of two 3x3 convs, conv 3x3, two x2 upsamplings
    (conv nf -> 4 nf, pixel shuffle), conv 9x9 to RGB."""
    s = lr_side
    total = _conv(3, nf, 9, s) + nb * 2 * _conv(nf, nf, 3, s) + _conv(nf, nf, 3, s)
    total += _conv(nf, 4 * nf, 3, s) + _conv(nf, 4 * nf, 3, 2 * s) + _conv(nf, 3, 9, 4 * s)
    return batch * total, batch * _conv(3, nf, 9, s)  # (forward, the first conv's share)


def _vgg54_forward_flop(side, batch):
    """VGG19 up to conv5_4: blocks of 2, 2, 4, 4, 4 3x3 convs, a 2x2 max pool between blocks."""
    total, c_in = 0, 3
    for block, (n, c_out) in enumerate([(2, 64), (2, 128), (4, 256), (4, 512), (4, 512)]):
        for _ in range(n):
            total += _conv(c_in, c_out, 3, side // 2**block)
            c_in = c_out
    return batch * total


def _vgg_discriminator_forward_flop(side, batch):
    """The 'vgg' discriminator: 8 convs 3x3 (64 .. 512, strides 1, 2, 1, ...), pool 6x6, two linears."""
    total, c_in = 0, 3
    for i, c_out in enumerate((64, 64, 128, 128, 256, 256, 512, 512)):
        side = side // 2 if i % 2 else side
        total += _conv(c_in, c_out, 3, side)
        c_in = c_out
    return batch * (total + 2 * 512 * 6 * 6 * 1024 + 2 * 1024), batch * _conv(3, 64, 3, 96)


def test_srgan_steps_match_a_count_by_hand():
    """SRGAN (Ledig et al.) at HR 96, batch 16: a stage-1 step of SRResNet (MSE) and a stage-2 step (VGG54
    after ReLU on SR and HR, the BatchNorm 'vgg' discriminator, no pixel term, no D(real) in the G step)."""
    g_fwd, g_first = _srresnet_forward_flop(64, 16, 24, 16)
    stage1 = TrainConfig.colab_t4(stage="psnr", arch="srresnet")
    g_step = 3 * g_fwd - g_first  # forward, weight gradients, input gradients (not for the LR image)
    assert step_tflop(stage1) == pytest.approx(g_step / 1e12, rel=1e-3)
    stage2 = TrainConfig.colab_t4(stage="gan", arch="srresnet", gan="vanilla")
    vgg = _vgg54_forward_flop(96, 16)  # after its ReLU: ReLUs are not counted, the convs are the same
    d_fwd, d_first = _vgg_discriminator_forward_flop(96, 16)
    vgg_part = 2 * vgg + vgg  # VGG(sr) forward + input gradients (its weights are frozen); VGG(hr) forward
    d_in_g_step = 2 * d_fwd  # D(sr) with D frozen: forward + input gradients
    d_step = 2 * (3 * d_fwd - d_first)  # D(hr) and D(sr.detach()): forward + both gradients, no image grad
    expected = (g_step + vgg_part + d_in_g_step + d_step) / 1e12
    assert step_tflop(stage2) == pytest.approx(expected, rel=1e-3)
    esrgan = step_tflop(TrainConfig.colab_t4(stage="gan"))
    assert step_tflop(stage2) < esrgan / 3  # what notebook 09 prints side by side: ~0.7 vs ~3.0 TFLOP
