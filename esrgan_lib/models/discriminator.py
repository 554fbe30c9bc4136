"""Discriminators (critics) for the GAN stage.

``VGGDiscriminator`` is the seed document's critic: eight 3x3 conv blocks, an adaptive pool to
6x6 and two linear layers. It outputs an unbounded score (a logit or a WGAN critic value), never a
probability: the losses in ``esrgan_lib.losses`` apply the sigmoid where one belongs.

``VGGStyleDiscriminator`` is BasicSR's discriminator used to reproduce the paper (128x128 input).
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import ArchSpec, register

__all__ = ["VGGDiscriminator", "VGGStyleDiscriminator", "has_batchnorm"]


def has_batchnorm(module: nn.Module) -> bool:
    """True if ``module`` contains any BatchNorm layer (which breaks the WGAN-GP penalty)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


class VGGDiscriminator(nn.Module):
    """The seed's critic, with SRGAN's BatchNorm variant behind a flag.

    Eight conv 3x3 blocks with channels 64, 64, 128, 128, 256, 256, 512, 512 and strides
    1, 2, 1, 2, ..., each followed by LeakyReLU(0.2); AdaptiveAvgPool2d(6) -> flatten (18,432)
    -> Linear 1024 -> LeakyReLU(0.2) -> Linear 1.

    Args:
        in_ch: image channels.
        batch_norm: False (default, the seed's code, required by WGAN-GP) or True (SRGAN:
            BatchNorm after every conv but the first).

    Shape: (B, in_ch, H, W) with H, W >= 96 -> (B, 1) raw scores.
    Without BatchNorm it has 23,561,793 parameters.
    """

    channels = (64, 64, 128, 128, 256, 256, 512, 512)
    min_size = 96

    def __init__(self, in_ch: int = 3, batch_norm: bool = False):
        super().__init__()
        self.batch_norm = batch_norm
        layers, c_in = [], in_ch
        for i, c_out in enumerate(self.channels):
            use_bn = batch_norm and i > 0
            layers.append(nn.Conv2d(c_in, c_out, 3, 1 + i % 2, 1, bias=not use_bn))
            if use_bn:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(6),
            nn.Flatten(),
            nn.Linear(512 * 6 * 6, 1024),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(1024, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[-1] < self.min_size or x.shape[-2] < self.min_size:
            raise ValueError(
                f"VGGDiscriminator expects (B, C, H, W) with H, W >= {self.min_size}, got {tuple(x.shape)}"
            )
        return self.classifier(self.features(x))  # (B, 1)


class VGGStyleDiscriminator(nn.Module):
    """BasicSR's VGG-style discriminator used to reproduce ESRGAN (input exactly 128x128 or 256x256).

    conv0_0 3x3 (bias) -> LReLU, conv0_1 4x4 s2 -> BN -> LReLU, then for widths 128, 256, 512,
    512: conv 3x3 -> BN -> LReLU, conv 4x4 s2 -> BN -> LReLU; Linear(512*4*4 -> 100) -> LReLU ->
    Linear(100 -> 1). ``input_size=128, nf=64`` has 14,499,401 parameters.

    Shape: (B, in_ch, input_size, input_size) -> (B, 1) raw scores.
    """

    def __init__(self, in_ch: int = 3, nf: int = 64, input_size: int = 128):
        super().__init__()
        if input_size not in (128, 256):
            raise ValueError(f"input_size must be 128 or 256, got {input_size}")
        self.input_size = input_size
        widths = [nf, nf * 2, nf * 4, nf * 8, nf * 8] + ([nf * 8] if input_size == 256 else [])
        act = nn.LeakyReLU(0.2, inplace=True)
        layers = [nn.Conv2d(in_ch, nf, 3, 1, 1), act,
                  nn.Conv2d(nf, nf, 4, 2, 1, bias=False), nn.BatchNorm2d(nf), act]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), act,
                       nn.Conv2d(c_out, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), act]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(widths[-1] * 4 * 4, 100), act, nn.Linear(100, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            raise ValueError(
                f"VGGStyleDiscriminator expects (B, C, {self.input_size}, {self.input_size}), "
                f"got {tuple(x.shape)}"
            )
        return self.classifier(self.features(x))


def _vgg_size(size: int, config) -> str | None:
    if size < VGGDiscriminator.min_size:
        return f"the 'vgg' discriminator needs HR patches of at least {VGGDiscriminator.min_size} pixels"
    return None


def _vgg128_size(size: int, config) -> str | None:
    if size not in (128, 256):
        return "the 'vgg128' discriminator takes HR patches of exactly 128 or 256 pixels"
    return None


register(ArchSpec(
    name="vgg", cls=VGGDiscriminator, role="discriminator",
    summary="the giakou4/gans ESRGAN README's critic (batch_norm=True: SRGAN's); HR side >= 96",
    check_input_size=_vgg_size, uses_batchnorm=lambda config: bool(config.get("batch_norm", False)),
))
register(ArchSpec(
    name="vgg128", cls=VGGStyleDiscriminator, role="discriminator",
    summary="BasicSR's VGG-style discriminator used to reproduce the paper (input 128 or 256, BatchNorm)",
    check_input_size=_vgg128_size, uses_batchnorm=lambda config: True,
))
