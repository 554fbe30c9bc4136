"""MATLAB-compatible bicubic resizing: how the LR inputs of SR benchmarks and DIV2K were made.

MATLAB's ``imresize(img, 1/s, 'bicubic')`` (used for every published ESRGAN/SRGAN number):

- cubic kernel with ``a = -0.5`` (Keys), support 4 input pixels;
- when shrinking (scale < 1) the kernel is stretched by ``1/scale`` (antialiasing): width ``4/scale``
  and ``h(x) = scale * cubic(scale * x)``;
- output pixel ``x`` (1-based) samples the input at ``u = x / scale + 0.5 * (1 - 1 / scale)``,
  using input pixels ``floor(u - width / 2) + (0 .. ceil(width) + 1)``, weights normalised to sum 1;
- indices outside the image are mirrored (symmetric padding: ``..., 2, 1, 1, 2, ...``).

The two image axes are resized one after the other. Here everything is computed in floating point
and rounded once at the end (MATLAB on uint8 inputs rounds after each axis as well; the difference
is at most one grey level on a few pixels). PIL's ``Image.resize(..., BICUBIC)`` uses the same kernel
but handles edges differently and rounds between the two passes, so it is close but not equal.
"""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np
import torch

from ..img_util import to_batch

__all__ = ["cubic", "resize_weights", "imresize", "bicubic_downsample", "modcrop"]


def modcrop(img, scale: int):
    """Trim the bottom/right so both sides are multiples of ``scale`` (the "GTmod" step).

    Works on arrays ``(H, W[, C])`` and tensors ``(..., H, W)``; returns a view of the input.
    """
    if isinstance(scale, bool) or int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale!r}")
    scale = int(scale)
    if isinstance(img, torch.Tensor):
        h, w = img.shape[-2:]
        return img[..., : h - h % scale, : w - w % scale]
    img = np.asarray(img)
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale, ...]


def cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = x.abs()
    ax2, ax3 = ax**2, ax**3
    near = (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))
    return near + far


@functools.lru_cache(maxsize=64)
def resize_weights(in_len: int, out_len: int, scale: float, antialias: bool = True):
    """MATLAB's ``contributions``: indices ``(out_len, P)`` (0-based, mirrored) and weights ``(out_len, P)``.

    Output pixel ``i`` is ``sum_k weights[i, k] * input[indices[i, k]]``. Cached (float64, CPU).
    """
    kernel_width = 4.0
    shrink = scale < 1 and antialias
    if shrink:
        kernel_width /= scale
    x = torch.arange(1, out_len + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]
    dist = u[:, None] - idx
    weights = scale * cubic(scale * dist) if shrink else cubic(dist)
    weights = weights / weights.sum(dim=1, keepdim=True)
    # symmetric padding: 1-based index k -> aux[(k - 1) mod 2n] with aux = [1..n, n..1]
    period = idx.sub(1).long().remainder(2 * in_len)
    idx0 = torch.where(period < in_len, period, 2 * in_len - 1 - period)
    keep = weights.abs().sum(dim=0) > 0  # drop taps that are zero for every output pixel
    return idx0[:, keep].contiguous(), weights[:, keep].contiguous()


_DENSE_LIMIT = 1 << 21  # weight matrices up to this many entries (16 MB in float64) are used densely


@functools.lru_cache(maxsize=8)
def _dense_weights(in_len: int, out_len: int, scale: float, antialias: bool) -> torch.Tensor:
    """The resize as an ``(out_len, in_len)`` matrix (mirrored taps summed), float64 on the CPU."""
    idx, w = resize_weights(in_len, out_len, scale, antialias)
    return torch.zeros(out_len, in_len, dtype=torch.float64).scatter_add_(1, idx, w)


def _resize_axis(x: torch.Tensor, dim: int, out_len: int, scale: float, antialias: bool) -> torch.Tensor:
    """Resize dimension ``dim`` (one of the last two) of a float tensor."""
    in_len = x.shape[dim]
    if out_len * in_len <= _DENSE_LIMIT:  # one matrix product (fast BLAS)
        mat = _dense_weights(in_len, out_len, float(scale), antialias).to(device=x.device, dtype=x.dtype)
        return mat @ x if dim == x.ndim - 2 else x @ mat.T
    idx, w = resize_weights(in_len, out_len, float(scale), antialias)  # huge images: gather per tap
    idx, w = idx.to(x.device), w.to(device=x.device, dtype=x.dtype)
    shape = [1] * x.ndim
    shape[dim] = out_len
    out = None
    for k in range(idx.shape[1]):
        term = x.index_select(dim, idx[:, k]) * w[:, k].view(shape)
        out = term if out is None else out + term
    return out


def _resize_tensor(x: torch.Tensor, out_hw: tuple[int, int], scales: tuple[float, float], antialias: bool):
    """Resize the last two dims of a float tensor. Axis order as MATLAB: the smaller scale first."""
    order = (0, 1) if scales[0] <= scales[1] else (1, 0)
    for axis in order:
        x = _resize_axis(x, x.ndim - 2 + axis, out_hw[axis], scales[axis], antialias)
    return x


def _as_float_tensor(img):
    """A supported image -> (float tensor (B, C, H, W), function restoring the input's kind).

    The conversion is ``esrgan_lib.img_util.to_batch``, restricted to what MATLAB's ``imresize``
    protocol uses: uint8 arrays and PIL ``RGB``/``L`` images (computed in float64), float tensors
    (computed in their own float32/float64, others in float64; same device).
    """
    keep = isinstance(img, torch.Tensor) and img.dtype in (torch.float32, torch.float64)
    return to_batch(img, name="image", dtype=img.dtype if keep else torch.float64, arrays=("uint8",),
                    tensors=("float",), pil_modes=("RGB", "L"))


def imresize(img, scale_or_size, *, antialias: bool = True):
    """MATLAB ``imresize(img, scale_or_size, 'bicubic')`` for up- or down-scaling.

    ``scale_or_size`` is a positive number (output sides ``ceil(side * scale)``) or an ``(H, W)``
    output size. ``img``: float tensor ``(B, C, H, W)``/``(C, H, W)`` in [0, 1], uint8 array
    ``(H, W, C)``/``(H, W)`` or PIL image (``RGB``/``L``); the result has the same kind. Float
    tensors are clamped to [0, 1]; uint8 outputs are rounded and clipped like MATLAB's.
    """
    x, back = _as_float_tensor(img)
    return back(_imresize_batch(x, scale_or_size, antialias))


def _imresize_batch(x: torch.Tensor, scale_or_size, antialias: bool) -> torch.Tensor:
    """``imresize`` of a float batch ``(B, C, H, W)`` -> float batch ``(B, C, H', W')``."""
    h, w = x.shape[-2:]
    if isinstance(scale_or_size, numbers.Real) and not isinstance(scale_or_size, bool):
        if not scale_or_size > 0:
            raise ValueError(f"scale must be positive, got {scale_or_size}")
        scales = (float(scale_or_size), float(scale_or_size))
        out_hw = (math.ceil(h * scales[0] - 1e-9), math.ceil(w * scales[1] - 1e-9))
    else:
        out_hw = tuple(int(v) for v in scale_or_size)
        if len(out_hw) != 2 or min(out_hw) < 1:
            raise ValueError(f"size must be (H, W) with positive sides, got {scale_or_size}")
        scales = (out_hw[0] / h, out_hw[1] / w)
    if h < 1 or w < 1:
        raise ValueError(f"cannot resize an empty image of size {h}x{w}")
    return _resize_tensor(x, out_hw, scales, antialias)


def bicubic_downsample(hr, scale: int = 4):
    """Make the LR image the standard way: trim HR to a multiple of ``scale``, then MATLAB bicubic 1/scale.

    Args:
        hr: float tensor ``(B, C, H, W)`` or ``(C, H, W)`` in [0, 1], uint8 array ``(H, W, C)`` or
            ``(H, W)``, or PIL image (``RGB``/``L``).
        scale: integer >= 1 (1 returns the trimmed input unchanged).

    Returns:
        the same kind as ``hr`` with sides ``H // scale`` and ``W // scale``. uint8/PIL outputs are
        rounded and clipped; float tensors are clamped to [0, 1] and keep their dtype and device.
    """
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or scale != int(scale) or scale < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale!r}")
    scale = int(scale)
    x, back = _as_float_tensor(hr)
    h, w = x.shape[-2:]
    if h < scale or w < scale:
        raise ValueError(f"image of size {h}x{w} is smaller than the scale factor {scale}")
    x = modcrop(x, scale)
    return back(x if scale == 1 else _imresize_batch(x, 1.0 / scale, True))
