"""RRDBNet: the ESRGAN generator (Wang et al., 2018), exactly as in the official code.

Layout (names follow BasicSR, so its checkpoints load without renaming)::

    x (B, in_ch, H, W)
    [pixel-unshuffle for scale 2 (x2) or 1 (x4)]
    conv_first 3x3                   -> feat   (no activation: the giakou4/gans README's PReLU is not there)
    body: nb x RRDB -> conv_body 3x3 -> + feat (long skip)
    per x2 step: nearest x2 -> conv_up{k} 3x3 -> LeakyReLU(0.2)
    conv_hr 3x3 -> LeakyReLU(0.2) -> conv_last 3x3   (no output activation)
    out (B, out_ch, H * scale, W * scale)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import rrdbnet_formats
from .registry import ArchSpec, SizeRequirements, register

__all__ = ["ResidualDenseBlock", "RRDB", "RRDBNet", "default_init_weights", "count_parameters",
           "unshuffle_factor", "upsampling_steps", "LRELU_SLOPE"]

SUPPORTED_SCALES = (1, 2, 4, 8)
LRELU_SLOPE = 0.2  # every LeakyReLU of the generator (dense blocks, upsampling, conv_hr)


@torch.no_grad()
def default_init_weights(modules, scale: float = 0.1) -> None:
    """Kaiming-normal init of every Conv2d/Linear in ``modules``, weights times ``scale``, bias 0.

    ESRGAN uses ``scale=0.1`` on the dense-block convs: a deep residual trunk starts close to
    the identity, which is what makes 23 blocks trainable without BatchNorm.
    """
    if isinstance(modules, nn.Module):
        modules = [modules]
    for module in modules:
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
                m.weight.mul_(scale)
                if m.bias is not None:
                    m.bias.zero_()


class ResidualDenseBlock(nn.Module):
    """Residual dense block: five 3x3 convs with dense connections, output scaled by 0.2.

    Conv ``k`` sees ``cat(x, x1, ..., x_{k-1})``: ``nf + (k-1) * gc`` channels in, ``gc`` out
    (the last conv maps back to ``nf``). LeakyReLU(0.2) follows conv1..conv4.

    Args:
        nf: channels in and out.
        gc: growth channels (what each of conv1..conv4 adds to the concatenation).

    Shape: (B, nf, H, W) -> (B, nf, H, W).  ``nf=64, gc=32`` has 239,808 parameters.
    """

    res_scale = 0.2

    def __init__(self, nf: int = 64, gc: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, gc, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, 1, 1)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, 1, 1)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, 1, 1)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(LRELU_SLOPE, inplace=True)
        default_init_weights([self.conv1, self.conv2, self.conv3, self.conv4, self.conv5], 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * self.res_scale + x


class RRDB(nn.Module):
    """Residual-in-residual dense block: three RDBs in a row, the sum scaled by 0.2, plus ``x``.

    Shape: (B, nf, H, W) -> (B, nf, H, W).  ``nf=64, gc=32`` has 719,424 parameters.
    """

    res_scale = 0.2

    def __init__(self, nf: int = 64, gc: int = 32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(nf, gc)
        self.rdb2 = ResidualDenseBlock(nf, gc)
        self.rdb3 = ResidualDenseBlock(nf, gc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rdb3(self.rdb2(self.rdb1(x)))
        return out * self.res_scale + x


class RRDBNet(nn.Module):
    """The ESRGAN generator.

    Args:
        in_ch: input channels (3 for RGB).
        out_ch: output channels.
        nf: trunk width (``num_feat`` in BasicSR).
        nb: number of RRDB blocks (23 in the paper).
        gc: growth channels inside each dense block.
        scale: 1, 2, 4 or 8. Scales 1 and 2 pixel-unshuffle the input first (BasicSR's
            convention, used by Real-ESRGAN x2), so the trunk always runs at 1/4 of the output
            size for scales 1, 2, 4; scale 8 adds a third upsampling step.

    Shape: (B, in_ch, H, W) in [0, 1] -> (B, out_ch, H * scale, W * scale), roughly in [0, 1]
    (no output activation: clamp before saving). For scale 2, H and W must be even; for scale 1,
    multiples of 4.

    The defaults (nf 64, nb 23, gc 32, x4) have 16,697,987 parameters.
    """

    def __init__(
        self,
        in_ch: int = 3,
        out_ch: int = 3,
        *,
        nf: int = 64,
        nb: int = 23,
        gc: int = 32,
        scale: int = 4,
    ):
        super().__init__()
        if scale not in SUPPORTED_SCALES:
            raise ValueError(f"RRDBNet supports scale in {SUPPORTED_SCALES}, got {scale}")
        self.in_ch, self.out_ch, self.nf, self.nb, self.gc, self.scale = in_ch, out_ch, nf, nb, gc, scale
        self.unshuffle = unshuffle_factor(scale)
        self.num_up = upsampling_steps(scale)

        self.conv_first = nn.Conv2d(in_ch * self.unshuffle**2, nf, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(nf, gc) for _ in range(nb)])
        self.conv_body = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(nf, nf, 3, 1, 1)
        if self.num_up == 3:
            self.conv_up3 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_hr = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_last = nn.Conv2d(nf, out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(LRELU_SLOPE, inplace=True)

    @property
    def config(self) -> dict:
        """The constructor arguments: ``RRDBNet(**model.config)`` rebuilds the architecture."""
        return dict(in_ch=self.in_ch, out_ch=self.out_ch, nf=self.nf, nb=self.nb, gc=self.gc,
                    scale=self.scale)

    @property
    def min_multiple(self) -> int:
        """Input height and width must be multiples of this (pixel-unshuffle factor)."""
        return self.unshuffle

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` with a clear message if ``x`` is not (B, in_ch, H, W) as required."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"RRDBNet expects a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 4 or x.shape[1] != self.in_ch:
            raise ValueError(
                f"RRDBNet expects input of shape (B, {self.in_ch}, H, W), got {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        if h == 0 or w == 0:
            raise ValueError(f"RRDBNet got an empty image of size {h}x{w}")
        m = self.unshuffle
        if h % m or w % m:
            raise ValueError(
                f"RRDBNet(scale={self.scale}) needs H and W divisible by {m}, got {h}x{w}; "
                "pad the input (esrgan_lib.inference.upscale does this for you)"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        feat = F.pixel_unshuffle(x, self.unshuffle) if self.unshuffle > 1 else x
        feat = self.conv_first(feat)                       # (B, nf, h, w)
        feat = feat + self.conv_body(self.body(feat))      # long skip
        for k in range(1, self.num_up + 1):                # (B, nf, 2h, 2w) ... per step
            conv = getattr(self, f"conv_up{k}")
            feat = self.lrelu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))  # (B, out_ch, H*s, W*s)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, nb={self.nb}, nf={self.nf}, gc={self.gc}"


def unshuffle_factor(scale: int) -> int:
    """Pixel-unshuffle factor of the input (BasicSR's convention): 4 for x1, 2 for x2, else 1."""
    return {1: 4, 2: 2}.get(scale, 1)


def upsampling_steps(scale: int) -> int:
    """Nearest x2 + conv steps after the trunk: 3 for x8, else 2 (x1 and x2 unshuffle first)."""
    return 3 if scale == 8 else 2


def _size_requirements(config) -> SizeRequirements:
    """x1 and x2 pixel-unshuffle the input by 4 and 2: its sides must be (at least and) multiples of that."""
    factor = unshuffle_factor(int(config["scale"]))
    return SizeRequirements(minimum=factor, multiple_of=factor)


register(ArchSpec(
    name="rrdbnet", cls=RRDBNet, role="generator", scales=SUPPORTED_SCALES,
    summary="ESRGAN's generator: residual-in-residual dense blocks, no BatchNorm (Wang et al. 2018)",
    detect_keys=rrdbnet_formats.detect, to_canonical=rrdbnet_formats.to_basicsr,
    infer_config=rrdbnet_formats.infer_config, size_requirements=_size_requirements,
    key_formats=rrdbnet_formats.FORMATS, from_canonical=rrdbnet_formats.from_basicsr, ncnn_graph="rrdbnet",
))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
