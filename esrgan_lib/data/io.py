"""Reading images from disk and converting between uint8 arrays and float tensors.

Conventions used across ``esrgan_lib``:

- an *array* is a uint8 numpy image, ``(H, W, 3)`` RGB (or ``(H, W)`` grayscale), values 0..255;
- a *tensor* is a float32 torch image, ``(3, H, W)`` or ``(B, 3, H, W)``, values in [0, 1].

``read_image`` always returns an ``(H, W, 3)`` uint8 RGB array, whatever the file holds:

=================  ==============================================================
file mode          what happens
=================  ==============================================================
RGB                as is
L, 1, P, CMYK ...  converted to RGB (grayscale is repeated into 3 channels)
RGBA, LA, PA       **alpha is dropped** (not composited): SR training data wants the
                   colour values; use PIL yourself if you need the alpha channel
16-bit (I;16, I)   scaled to 8 bit with ``round(v / 257)`` (65535 -> 255), not clipped
16-bit RGB(A) PNG  Pillow keeps only the high byte of each sample (``v >> 8``), so these
                   are decoded with pypng instead (any colour type, interlaced too) and scaled with
                   ``round(v / 257)`` (correct but slow for very large files)
EXIF orientation   applied (photos from phones come out upright; not in the 16-bit PNG
                   path above)
32-bit I / F       ``I`` is treated as 16-bit data (``/ 257``); ``F`` as [0, 1] if its
                   maximum is <= 1, else as [0, 255]
=================  ==============================================================
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import png  # pypng: 16-bit colour PNGs, which Pillow truncates to 8 bits
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "IMAGE_EXTENSIONS",
    "read_image",
    "to_rgb_array",
    "list_images",
    "to_tensor",
    "to_uint8",
    "modcrop",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _scale16(values: np.ndarray) -> np.ndarray:
    """16-bit values (any integer/float dtype) -> uint8 with round(v / 257), clipped to 0..255."""
    return np.clip(np.rint(values.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)


def to_rgb_array(img: Image.Image) -> np.ndarray:
    """A PIL image of any mode -> uint8 RGB array ``(H, W, 3)`` (see the module table)."""
    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        return _gray_to_rgb(_scale16(np.asarray(img)))
    if mode == "F":
        values = np.asarray(img, dtype=np.float64)
        if values.size and np.nanmax(values) <= 1.0:  # float images in [0, 1]
            values = values * 255.0
        return _gray_to_rgb(np.clip(np.rint(np.nan_to_num(values)), 0, 255).astype(np.uint8))
    if mode != "RGB":
        img = img.convert("RGB")  # drops alpha; L/P/CMYK/YCbCr -> RGB
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


# ----------------------------------------------------------------------------------------------
# 16-bit PNGs: Pillow keeps only the high byte of 16-bit colour samples, so those go through pypng


def png_bit_depth(path: str | os.PathLike) -> int | None:
    """The bit depth stored in a PNG file's header, or None if the file is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(25)
    if len(head) < 25 or not head.startswith(_PNG_SIGNATURE):
        return None
    return head[24]


def read_png16(path: str | os.PathLike) -> np.ndarray:
    """Read a 16-bit PNG (any colour type, interlaced or not) -> uint16 ``(H, W)`` or ``(H, W, C)``."""
    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    planes = info["planes"]
    arr = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, planes)
    return arr[:, :, 0] if planes == 1 else arr


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file -> uint8 RGB array ``(H, W, 3)``.

    Handles grayscale, palette, alpha (dropped), CMYK, 16-bit and EXIF-rotated files (see the
    module docstring). Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming
    the file for an empty, non-image, truncated or corrupt one.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: the file is empty (0 bytes), not an image")
    try:
        if png_bit_depth(path) == 16:
            samples = read_png16(path)
            if samples.ndim == 2 or samples.shape[2] < 3:  # gray or gray + alpha
                gray = samples if samples.ndim == 2 else samples[:, :, 0]
                return _gray_to_rgb(_scale16(gray))
            return _scale16(samples[:, :, :3])
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            return to_rgb_array(img)
    except UnidentifiedImageError as e:
        raise ValueError(f"{path}: not an image file Pillow can read") from e
    except (OSError, ValueError, SyntaxError, zlib.error, struct.error, png.Error) as e:
        raise ValueError(f"{path}: cannot decode the image (truncated or corrupt file?): {e}") from e


def _is_readable_image(path: Path) -> bool:
    """Cheap check: Pillow recognises the file and its data passes ``verify()`` (PNG CRCs, etc.)."""
    try:
        if path.stat().st_size == 0:
            return False
        with Image.open(path) as img:
            img.verify()
        if path.suffix.lower() in (".jpg", ".jpeg"):  # verify() does not read JPEG data: decode it
            with Image.open(path) as img:
                img.load()
        return True
    except Exception:
        return False


def list_images(folder: str | os.PathLike, *, check: bool = True) -> list[Path]:
    """Sorted image files in ``folder`` (not recursive; hidden files are ignored).

    With ``check=True`` every file is opened and verified; files that are not readable images
    (text files, truncated or corrupt images) are skipped with ONE warning listing them.
    Raises ``FileNotFoundError`` if the folder does not exist and ``ValueError`` (naming the
    folder) if it holds no usable image.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
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
        img = _gray_to_rgb(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"to_tensor expects an (H, W, 3) or (H, W) array, got shape {tuple(img.shape)}")
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div_(255.0)


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
