"""ESRGAN's network interpolation between a PSNR-oriented and a GAN-trained generator."""

from __future__ import annotations

import copy

import torch
from torch import nn

from .load import load_generator

__all__ = ["interpolate"]


@torch.no_grad()
def interpolate(psnr_model: nn.Module, gan_model: nn.Module, alpha: float) -> nn.Module:
    """ESRGAN's network interpolation: ``theta = (1 - alpha) * theta_PSNR + alpha * theta_GAN``.

    ``alpha=0`` gives the PSNR-oriented model, ``1`` the GAN model, values between trade
    smoothness for texture. Both must have the same architecture and config; either may also be
    a checkpoint path (loaded on the best available device). Returns a new model in eval mode,
    on ``psnr_model``'s device; the inputs are not modified.
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    a = psnr_model if isinstance(psnr_model, nn.Module) else load_generator(psnr_model)
    b = gan_model if isinstance(gan_model, nn.Module) else load_generator(gan_model)
    if type(a) is not type(b) or getattr(a, "config", None) != getattr(b, "config", None):
        raise ValueError(
            f"cannot interpolate different architectures: {type(a).__name__}{getattr(a, 'config', '')} "
            f"vs {type(b).__name__}{getattr(b, 'config', '')}"
        )
    out = copy.deepcopy(a)
    if isinstance(getattr(out, "metadata", None), dict):  # a new model: no longer the file ``a`` came from
        out.metadata = {**out.metadata, "source": None, "interpolation_alpha": float(alpha)}
    sd_b = b.state_dict()
    for k, v in out.state_dict().items():
        if v.is_floating_point():
            v.copy_((1 - alpha) * v + alpha * sd_b[k].to(v.device, v.dtype))
    return out.eval()
