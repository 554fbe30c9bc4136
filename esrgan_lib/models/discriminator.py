"""Discriminators (critics) for the GAN stage.

``VGGDiscriminator`` is the critic of the giakou4/gans ESRGAN README: eight 3x3 conv blocks, an
adaptive pool to 6x6 and two linear layers. It outputs an unbounded score (a logit or a WGAN
critic value), never a probability: the losses in ``esrgan_lib.losses`` apply the sigmoid where one belongs.

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
    """The giakou4/gans ESRGAN README's critic, with SRGAN's BatchNorm variant behind a flag.

    Eight conv 3x3 blocks with channels 64, 64, 128, 128, 256, 256, 512, 512 and strides
    1, 2, 1, 2, ..., each followed by LeakyReLU(0.2); AdaptiveAvgPool2d(6) -> flatten (18,432)
    -> Linear 1024 -> LeakyReLU(0.2) -> Linear 1.

    Args:
        in_ch: image channels.
        batch_norm: False (default, that README's code, required by WGAN-GP) or True (SRGAN:
            BatchNorm after every conv but the first).

    Shape: (B, in_ch, H, W) with H, W >= 96 -> (B, 1) raw scores.
    Without BatchNorm it has 23,561,793 parameters.
    """

    channels = (64, 64, 128, 128, 256, 256, 512, 512)
    min_size = 96

    def __init__(self, in_ch: int = 3, *, batch_norm: bool = False):
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

    conv0_0 3x3 (bias) -> LReLU, conv0_1 4x4 s2 -> bn0_1 -> LReLU, then for block ``i`` = 1..4
    (widths 2nf, 4nf, 8nf, 8nf; a fifth 8nf block for 256x256): conv{i}_0 3x3 -> bn{i}_0 -> LReLU,
    conv{i}_1 4x4 s2 -> bn{i}_1 -> LReLU; linear1 (8nf*4*4 -> 100) -> LReLU -> linear2 (100 -> 1).
    The parameter names are BasicSR's (``conv0_0 ... bn4_1, linear1, linear2``), so its
    ``VGGStyleDiscriminator`` weights load with ``load_state_dict``.
    ``input_size=128, nf=64`` has 14,499,401 parameters.

    Shape: (B, in_ch, input_size, input_size) -> (B, 1) raw scores.
    """

    def __init__(self, in_ch: int = 3, *, nf: int = 64, input_size: int = 128):
        super().__init__()
        if input_size not in (128, 256):
            raise ValueError(f"input_size must be 128 or 256, got {input_size}")
        self.input_size = input_size
        widths = [nf, nf * 2, nf * 4, nf * 8, nf * 8] + ([nf * 8] if input_size == 256 else [])
        self.num_blocks = len(widths)
        self.conv0_0 = nn.Conv2d(in_ch, nf, 3, 1, 1, bias=True)
        self.conv0_1 = nn.Conv2d(nf, nf, 4, 2, 1, bias=False)
        self.bn0_1 = nn.BatchNorm2d(nf, affine=True)
        for i in range(1, self.num_blocks):
            c_in, c_out = widths[i - 1], widths[i]
            setattr(self, f"conv{i}_0", nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False))
            setattr(self, f"bn{i}_0", nn.BatchNorm2d(c_out, affine=True))
            setattr(self, f"conv{i}_1", nn.Conv2d(c_out, c_out, 4, 2, 1, bias=False))
            setattr(self, f"bn{i}_1", nn.BatchNorm2d(c_out, affine=True))
        self.linear1 = nn.Linear(widths[-1] * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            raise ValueError(
                f"VGGStyleDiscriminator expects (B, C, {self.input_size}, {self.input_size}), "
                f"got {tuple(x.shape)}"
            )
        feat = self.lrelu(self.conv0_0(x))
        feat = self.lrelu(self.bn0_1(self.conv0_1(feat)))          # (B, nf, S/2, S/2)
        for i in range(1, self.num_blocks):                        # each block halves the size
            feat = self.lrelu(getattr(self, f"bn{i}_0")(getattr(self, f"conv{i}_0")(feat)))
            feat = self.lrelu(getattr(self, f"bn{i}_1")(getattr(self, f"conv{i}_1")(feat)))
        feat = feat.flatten(1)                                      # (B, 8nf * 4 * 4)
        return self.linear2(self.lrelu(self.linear1(feat)))        # (B, 1)


def _vgg_size(size: int, config) -> str | None:
    if size < VGGDiscriminator.min_size:
        return f"the 'vgg' discriminator needs HR patches of at least {VGGDiscriminator.min_size} pixels"
    return None


def _vgg128_size(size: int, config) -> str | None:
    if size not in (128, 256):
        return "the 'vgg128' discriminator takes HR patches of exactly 128 or 256 pixels"
    return None


def _detect_vgg(sd) -> bool:
    """``VGGDiscriminator``'s own keys (``features.*``, ``classifier.*``)."""
    return "features.0.weight" in sd and any(k.startswith("classifier.") for k in sd)


def _detect_vgg128(sd) -> bool:
    """BasicSR's ``VGGStyleDiscriminator`` keys (``conv0_0``, ``linear1``)."""
    return "conv0_0.weight" in sd and "linear1.weight" in sd


register(ArchSpec(
    name="vgg", cls=VGGDiscriminator, role="discriminator", detect_keys=_detect_vgg,
    summary="the giakou4/gans ESRGAN README's critic (batch_norm=True: SRGAN's); HR side >= 96",
    check_input_size=_vgg_size, uses_batchnorm=lambda config: bool(config.get("batch_norm", False)),
))
register(ArchSpec(
    name="vgg128", cls=VGGStyleDiscriminator, role="discriminator", detect_keys=_detect_vgg128,
    summary="BasicSR's VGG-style discriminator used to reproduce the paper (input 128 or 256, BatchNorm)",
    check_input_size=_vgg128_size, uses_batchnorm=lambda config: True,
))
