"""SRResNet: SRGAN's generator (Ledig et al., 2017), the baseline ESRGAN improves on.

    x (B, in_ch, H, W)
    conv 9x9 -> PReLU                                   -> feat
    nb x [conv 3x3 -> BN -> PReLU -> conv 3x3 -> BN, + input]
    conv 3x3 -> BN, + feat (long skip)
    per x2 step: conv 3x3 (nf -> 4 nf) -> PixelShuffle(2) -> PReLU
    conv 9x9 -> out (B, out_ch, H * scale, W * scale)

SRGAN ended with tanh on [-1, 1] images; like BasicSR's MSRResNet we work on [0, 1] images with
no output activation, so every generator in this package has the same input/output convention.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn

from .registry import ArchSpec, register

__all__ = ["SRResNet", "ResidualBlockBN"]


class ResidualBlockBN(nn.Module):
    """SRGAN residual block: conv-BN-PReLU-conv-BN plus the input. (B, nf, H, W) -> same."""

    def __init__(self, nf: int = 64):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(nf, nf, 3, 1, 1),
            nn.BatchNorm2d(nf),
            nn.PReLU(nf),
            nn.Conv2d(nf, nf, 3, 1, 1),
            nn.BatchNorm2d(nf),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """SRGAN's generator.

    Args:
        in_ch, out_ch: image channels.
        nf: width (64 in the paper).
        nb: residual blocks (16 in the paper).
        scale: 2, 4 or 8 (one PixelShuffle x2 stage per factor of two).

    Shape: (B, in_ch, H, W) in [0, 1] -> (B, out_ch, H * scale, W * scale).
    Defaults (nf 64, nb 16, x4) have 1,550,659 parameters.
    """

    def __init__(self, in_ch: int = 3, out_ch: int = 3, *, nf: int = 64, nb: int = 16, scale: int = 4):
        super().__init__()
        if scale not in (2, 4, 8):
            raise ValueError(f"SRResNet supports scale 2, 4 or 8, got {scale}")
        self.in_ch, self.out_ch, self.nf, self.nb, self.scale = in_ch, out_ch, nf, nb, scale
        self.conv_first = nn.Sequential(nn.Conv2d(in_ch, nf, 9, 1, 4), nn.PReLU(nf))
        self.body = nn.Sequential(*[ResidualBlockBN(nf) for _ in range(nb)])
        self.conv_body = nn.Sequential(nn.Conv2d(nf, nf, 3, 1, 1), nn.BatchNorm2d(nf))
        ups = []
        for _ in range({2: 1, 4: 2, 8: 3}[scale]):
            ups += [nn.Conv2d(nf, nf * 4, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU(nf)]
        self.upsample = nn.Sequential(*ups)
        self.conv_last = nn.Conv2d(nf, out_ch, 9, 1, 4)

    @property
    def config(self) -> dict:
        """The constructor arguments: ``SRResNet(**model.config)`` rebuilds the architecture."""
        return dict(in_ch=self.in_ch, out_ch=self.out_ch, nf=self.nf, nb=self.nb, scale=self.scale)

    min_multiple = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_ch:
            raise ValueError(f"SRResNet expects input of shape (B, {self.in_ch}, H, W), got {tuple(x.shape)}")
        feat = self.conv_first(x)                    # (B, nf, H, W)
        feat = feat + self.conv_body(self.body(feat))
        return self.conv_last(self.upsample(feat))   # (B, out_ch, H*s, W*s)


def _detect(sd: Mapping) -> bool:
    """True for ``SRResNet``'s own keys (``conv_first.0``, ``upsample.*``)."""
    return "conv_first.0.weight" in sd and any(k.startswith("upsample.") for k in sd)


def _infer_config(sd: Mapping) -> dict:
    """SRResNet constructor arguments from tensor shapes (ValueError naming a missing layer)."""
    for key in ("conv_first.0.weight", "conv_last.weight"):
        if key not in sd:
            raise ValueError(f"incomplete SRResNet checkpoint ({len(sd)} tensors): missing {key}")
    first = sd["conv_first.0.weight"]
    nb = len({int(m.group(1)) for k in sd if (m := re.match(r"body\.(\d+)\.", k))})
    num_up = sum(1 for k in sd if re.match(r"upsample\.\d+\.bias$", k))
    return dict(in_ch=first.shape[1], out_ch=sd["conv_last.weight"].shape[0], nf=first.shape[0],
                nb=nb, scale=2**num_up)


register(ArchSpec(
    name="srresnet", cls=SRResNet, role="generator", scales=(2, 4, 8),
    summary="SRGAN's generator: residual blocks with BatchNorm and PReLU (Ledig et al. 2017)",
    detect_keys=_detect, infer_config=_infer_config,
))
