"""Reading images from disk and converting between uint8 arrays and float tensors.

Conventions used across ``esrgan_lib`` (defined in ``esrgan_lib.img_util``, which does the work):

- an *array* is a uint8 numpy image, ``(H, W, 3)`` RGB (or ``(H, W)`` grayscale), values 0..255;
- a *tensor* is a float32 torch image, ``(3, H, W)`` or ``(B, 3, H, W)``, values in [0, 1].

``read_image`` always returns an ``(H, W, 3)`` uint8 RGB array, whatever the file holds:

=================  ==============================================================
file mode          what happens
=================  ==============================================================
RGB                as is
L, 1, P, CMYK ...  converted to RGB (grayscale is repeated into 3 channels)
RGBA, LA, PA       **alpha is dropped** (not composited): SR training data wants the
                   colour values; use ``esrgan_lib.img_util.read_image`` to keep it
16-bit (I;16, I)   scaled to 8 bit with ``round(v / 257)`` (65535 -> 255), not clipped
16-bit RGB(A) PNG  Pillow keeps only the high byte of each sample (``v >> 8``), so these
                   are decoded with pypng instead (any colour type, interlaced too) and scaled with
                   ``round(v / 257)`` (correct but slow for very large files)
float TIFF         read with tifffile as [0, 1] and scaled with ``round(v * 255)``
EXIF orientation   applied (photos from phones come out upright; not in the 16-bit PNG
                   path above)
several frames     the first is used, with a warning naming the file
too many pixels    refused (``PIL.Image.MAX_IMAGE_PIXELS``, checked before decoding)
=================  ==============================================================
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .. import img_util
from ..img_util import IMAGE_EXTENSIONS

__all__ = [
    "IMAGE_EXTENSIONS",
    "read_image",
    "to_rgb_array",
    "list_images",
    "to_tensor",
    "to_uint8",
    "modcrop",
]


def to_rgb_array(img: Image.Image) -> np.ndarray:
    """A PIL image of any mode -> uint8 RGB array ``(H, W, 3)`` (see the module table)."""
    return img_util.to_rgb_uint8(img_util.pil_to_array(img))


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file -> uint8 RGB array ``(H, W, 3)``.

    Handles grayscale, palette, alpha (dropped), CMYK, 16-bit, float and EXIF-rotated files (see
    the module docstring). Raises ``FileNotFoundError`` for a missing file and ``ValueError``
    naming the file for an empty, non-image, truncated, corrupt or too large one.
    """
    return img_util.read_image(path, rgb=True)


def _is_readable_image(path: Path) -> bool:
    """Cheap check: the header is an image ``read_image`` takes (size, channels) and, for files
    Pillow decodes, the data passes ``verify()`` (PNG CRCs, etc.)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # size warnings come again when the file is read
            if img_util.probe_image(path).decoder == "tiff":  # tifffile data: checked when read
                return True
        with Image.open(path) as img:
            img.verify()
        if path.suffix.lower() in (".jpg", ".jpeg"):  # verify() does not read JPEG data: decode it
            with Image.open(path) as img:
                img.load()
        return True
    except Exception:
        return False


def list_images(folder: str | os.PathLike, *, check: bool = True) -> list[Path]:
    """Sorted image files in ``folder`` (not recursive; hidden and ``.tmp`` files are ignored).

    With ``check=True`` every file is opened and verified; files that are not readable images
    (text files, truncated or corrupt images) are skipped with ONE warning listing them.
    Raises ``FileNotFoundError`` if the folder does not exist and ``ValueError`` (naming the
    folder) if it holds no usable image.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and not p.name.startswith(".") and p.suffix.lower() != ".tmp")
    if not files:
        raise ValueError(f"image folder is empty: {folder}")
    if check:
        good = [p for p in files if _is_readable_image(p)]
    else:
        good = [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS]
    bad = [p.name for p in files if p not in good]
    if not good:
        raise ValueError(f"no readable image in {folder} (found only: {', '.join(bad)})")
    if bad:
        warnings.warn(
            f"skipping {len(bad)} file(s) in {folder} that are not readable images: {', '.join(bad)}",
            stacklevel=2,
        )
    return good


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 array ``(H, W, 3)`` or ``(H, W)`` -> float32 tensor ``(3, H, W)`` in [0, 1].

    A grayscale ``(H, W)`` array is repeated into 3 channels.
    """
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise TypeError(f"to_tensor expects a uint8 array, got dtype {img.dtype}")
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"to_tensor expects an (H, W, 3) or (H, W) array, got shape {tuple(img.shape)}")
    return img_util.to_batch(img, name="to_tensor", arrays=("uint8",))[0][0]


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """Float tensor ``(3, H, W)`` or ``(1, 3, H, W)`` in [0, 1] -> uint8 array ``(H, W, 3)``.

    Values are clamped to [0, 1] and rounded (not truncated). A 1-channel tensor gives ``(H, W)``.
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"to_uint8 expects a torch.Tensor, got {type(t).__name__}")
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise ValueError(f"to_uint8 takes one image; got a batch of shape {tuple(t.shape)}")
        t = t[0]
    if t.ndim != 3 or t.shape[0] not in (1, 3):
        raise ValueError(f"to_uint8 expects a (3, H, W) or (1, 3, H, W) tensor, got {tuple(t.shape)}")
    arr = t.detach().float().clamp(0, 1).mul(255.0).round().to(torch.uint8).cpu().numpy()
    return arr[0] if arr.shape[0] == 1 else np.ascontiguousarray(arr.transpose(1, 2, 0))


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
