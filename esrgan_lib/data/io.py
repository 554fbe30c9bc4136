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
                   are decoded by a small pure-Python PNG reader here and scaled with
                   ``round(v / 257)`` (correct but slow for very large files)
EXIF orientation   applied (photos from phones come out upright; not in the 16-bit PNG
                   fallback above)
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
# 16-bit colour PNG fallback (Pillow truncates these to their high byte)


def _png_header(path: Path) -> tuple[int, int, int, int, int] | None:
    """(width, height, bit_depth, colour_type, interlace) of a PNG file, or None if not a PNG."""
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) < 33 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    width, height, depth, ctype, _comp, _filt, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return width, height, depth, ctype, interlace


def _png_unfilter(data: bytes, height: int, stride: int, bpp: int) -> np.ndarray:
    """Undo PNG's per-row filters (None, Sub, Up, Average, Paeth) -> uint8 ``(height, stride)``."""
    out = np.empty((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    pos = 0
    for y in range(height):
        ftype = data[pos]
        row = np.frombuffer(data, dtype=np.uint8, count=stride, offset=pos + 1).copy()
        pos += stride + 1
        if ftype == 1:  # Sub: running sum of each byte position across pixels
            row = (row.reshape(-1, bpp).astype(np.int64).cumsum(axis=0) % 256).astype(np.uint8).ravel()
        elif ftype == 2:  # Up
            row = row + prev  # uint8 arithmetic wraps modulo 256, as PNG wants
        elif ftype in (3, 4):  # Average and Paeth depend on the decoded left byte: byte by byte
            cur, up = bytearray(row.tobytes()), prev.tobytes()
            for i in range(stride):
                left = cur[i - bpp] if i >= bpp else 0
                if ftype == 3:
                    cur[i] = (cur[i] + ((left + up[i]) >> 1)) & 0xFF
                else:
                    upleft = up[i - bpp] if i >= bpp else 0
                    p = left + up[i] - upleft
                    pa, pb, pc = abs(p - left), abs(p - up[i]), abs(p - upleft)
                    pred = left if (pa <= pb and pa <= pc) else (up[i] if pb <= pc else upleft)
                    cur[i] = (cur[i] + pred) & 0xFF
            row = np.frombuffer(bytes(cur), dtype=np.uint8)
        elif ftype != 0:
            raise ValueError(f"unknown PNG filter type {ftype} in row {y}")
        out[y] = row
        prev = out[y]
    return out


def _read_png16_colour(path: Path, width: int, height: int, ctype: int) -> np.ndarray:
    """Decode a non-interlaced 16-bit PNG of colour type 2 (RGB), 4 (LA) or 6 (RGBA) -> uint8 RGB."""
    channels = {2: 3, 4: 2, 6: 4}[ctype]
    idat = bytearray()
    with open(path, "rb") as f:
        f.read(8)
        while True:
            head = f.read(8)
            if len(head) < 8:
                raise ValueError("file ends before the IEND chunk (truncated PNG)")
            length, kind = struct.unpack(">I4s", head)
            body = f.read(length)
            f.read(4)  # CRC (zlib below still catches damaged image data)
            if len(body) < length:
                raise ValueError("file ends inside a chunk (truncated PNG)")
            if kind == b"IDAT":
                idat += body
            elif kind == b"IEND":
                break
    stride = width * channels * 2
    raw = zlib.decompress(bytes(idat))
    if len(raw) < height * (stride + 1):
        raise ValueError("image data is shorter than the header says (truncated PNG)")
    rows = _png_unfilter(raw, height, stride, channels * 2)
    samples = rows.view(">u2").reshape(height, width, channels)
    rgb = samples[..., :3] if channels >= 3 else np.repeat(samples[..., :1], 3, axis=2)
    return _scale16(rgb)


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
        header = _png_header(path)
        if header is not None and header[2] == 16 and header[3] in (2, 4, 6):
            width, height, _depth, ctype, interlace = header
            if interlace == 0:
                return _read_png16_colour(path, width, height, ctype)
            warnings.warn(
                f"{path}: interlaced 16-bit colour PNG; Pillow reads only the high byte of each sample",
                stacklevel=2,
            )
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            return to_rgb_array(img)
    except UnidentifiedImageError as e:
        raise ValueError(f"{path}: not an image file Pillow can read") from e
    except (OSError, ValueError, SyntaxError, zlib.error, struct.error) as e:
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
