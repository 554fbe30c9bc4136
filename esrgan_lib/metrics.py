"""PSNR and SSIM under the published super-resolution protocol.

Protocol (ESRGAN, SRGAN, EDSR, BasicSR): compare on the luminance channel Y of MATLAB's ``rgb2ycbcr``,
Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 with RGB in [0, 255], after cropping ``crop_border``
pixels (= the scale, 4 for x4) from every side, in float64 on the [0, 255] scale. SSIM uses an 11x11
Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03 and "valid" filtering (no padding), as Wang et al.'s
MATLAB code and BasicSR do.

Accepted images (``sr`` and ``hr`` may be of different kinds but must have the same size):

- torch tensors, float in [0, 1]: (3, H, W), (B, 3, H, W), or 1 channel (grayscale);
- numpy uint8 arrays: (H, W, 3) RGB or (H, W) grayscale (used as is: no Y conversion).

They are converted by ``esrgan_lib.img_util.to_batch``: float values further than
``img_util.RANGE_TOL`` outside [0, 1], or NaN, raise ``ValueError``.

A batch returns the mean of the per-image values. Published numbers were computed on 8-bit images:
to match them exactly, round the model output to uint8 first (values here are not quantised).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .img_util import to_batch

_Y_WEIGHTS = (65.481, 128.553, 24.966)


def rgb_to_y(img):
    """Luminance Y of MATLAB's ``rgb2ycbcr`` (ITU-R BT.601, studio range).

    Args:
        img: torch tensor (..., 3, H, W) with RGB in [0, 1], or numpy uint8 array (..., H, W, 3).

    Returns:
        For a tensor: (..., 1, H, W), same dtype, on the [0, 1] scale, i.e.
        (16 + 65.481 R + 128.553 G + 24.966 B) / 255 with R, G, B in [0, 1]; values in
        [16/255, 235/255]. For a uint8 array: float64 (..., H, W) on the [0, 255] scale, i.e.
        16 + (65.481 R + 128.553 G + 24.966 B) / 255 with R, G, B in [0, 255]; values in [16, 235].
        Both are the same quantity, the tensor's divided by 255. No rounding.
    """
    if isinstance(img, torch.Tensor):
        if img.ndim < 3 or img.shape[-3] != 3:
            raise ValueError(f"rgb_to_y: expected a (..., 3, H, W) tensor, got shape {tuple(img.shape)}")
        r, g, b = img.unbind(-3)
        y = (16.0 + _Y_WEIGHTS[0] * r + _Y_WEIGHTS[1] * g + _Y_WEIGHTS[2] * b) / 255.0
        return y.unsqueeze(-3)
    if isinstance(img, np.ndarray):
        if img.dtype != np.uint8 or img.ndim < 3 or img.shape[-1] != 3:
            raise ValueError(f"rgb_to_y: expected a uint8 (..., H, W, 3) array, got {img.dtype} {img.shape}")
        rgb = img.astype(np.float64)
        return 16.0 + (rgb @ np.array(_Y_WEIGHTS)) / 255.0
    raise TypeError(f"rgb_to_y: expected a torch tensor or numpy array, got {type(img).__name__}")


def _as_batch_255(img, name: str) -> torch.Tensor:
    """Any accepted image -> float64 CPU tensor (N, C, H, W) on the [0, 255] scale."""
    x, _ = to_batch(img, name=name, dtype=torch.float64, device="cpu", arrays=("uint8",), tensors=("float",))
    if x.shape[1] not in (1, 3):
        raise ValueError(f"{name}: expected 1 or 3 channels, got an image of shape {tuple(x.shape)} "
                         "(as (N, C, H, W))")
    if 0 in x.shape:
        raise ValueError(f"{name}: empty image of shape {tuple(x.shape)} (as (N, C, H, W))")
    return x * 255.0


def _prepare(
    sr, hr, crop_border: int, y_channel: bool, min_size: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both images as float64 (N, C, h, w) on [0, 255], cropped, Y-converted when asked and RGB."""
    a, b = _as_batch_255(sr, "sr"), _as_batch_255(hr, "hr")
    if a.shape != b.shape:
        raise ValueError(
            f"sr and hr differ in shape: {tuple(a.shape)} vs {tuple(b.shape)} (as (N, C, H, W)); "
            "crop HR to a multiple of the scale (modcrop) before comparing"
        )
    if isinstance(crop_border, bool) or not isinstance(crop_border, int) or crop_border < 0:
        raise ValueError(f"crop_border must be a whole number of pixels >= 0, got {crop_border!r}")
    height, width = a.shape[-2:]
    if min(height, width) - 2 * crop_border < min_size:
        raise ValueError(
            f"image of {height}x{width} is too small for crop_border={crop_border}"
            + (f" and an {min_size}x{min_size} SSIM window" if min_size > 1 else "")
        )
    if crop_border:
        a = a[..., crop_border:-crop_border, crop_border:-crop_border]
        b = b[..., crop_border:-crop_border, crop_border:-crop_border]
    if y_channel and a.shape[1] == 3:
        a, b = rgb_to_y(a / 255.0) * 255.0, rgb_to_y(b / 255.0) * 255.0
    return a, b


def psnr(sr, hr, crop_border: int = 4, y_channel: bool = True) -> float:
    """Peak signal-to-noise ratio in dB, 10 log10(255^2 / MSE), on the [0, 255] scale.

    Args:
        sr, hr: images (see module docstring); same size.
        crop_border: pixels removed from each side before comparing (the scale factor).
        y_channel: compare the Y channel (the protocol); False compares all RGB channels at once.

    Returns:
        float; ``inf`` for identical images; for a batch, the mean of per-image PSNRs.
    """
    a, b = _prepare(sr, hr, crop_border, y_channel)
    mse = ((a - b) ** 2).flatten(1).mean(dim=1)
    values = [math.inf if m == 0 else 10.0 * math.log10(255.0**2 / m) for m in mse.tolist()]
    return float(sum(values) / len(values))


def _gaussian_1d(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Normalised 1-D Gaussian; its outer product is MATLAB's fspecial('gaussian', size, sigma)."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """'valid' 2-D filtering of (N, 1, H, W) with the separable window outer(g, g)."""
    return F.conv2d(F.conv2d(x, g.view(1, 1, -1, 1)), g.view(1, 1, 1, -1))


def ssim(sr, hr, crop_border: int = 4, y_channel: bool = True) -> float:
    """Structural similarity (Wang et al. 2004) with an 11x11 Gaussian window, sigma 1.5.

    Computed per channel with "valid" filtering on the [0, 255] scale (C1 = (0.01 * 255)^2,
    C2 = (0.03 * 255)^2) and averaged over the SSIM map; with ``y_channel=False`` the RGB channels'
    values are averaged. For a batch, the mean over images. Returns a float in [-1, 1] (1 if identical).
    """
    g = _gaussian_1d()
    a, b = _prepare(sr, hr, crop_border, y_channel, min_size=g.numel())
    n, c = a.shape[:2]
    a = a.reshape(n * c, 1, *a.shape[-2:])  # filter each channel separately
    b = b.reshape(n * c, 1, *b.shape[-2:])
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    var_a = _filter_valid(a * a, g) - mu_a**2
    var_b = _filter_valid(b * b, g) - mu_b**2
    cov = _filter_valid(a * b, g) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    per_image = ssim_map.flatten(1).mean(dim=1).reshape(n, c).mean(dim=1)
    return float(per_image.mean())
