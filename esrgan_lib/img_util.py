"""Image files and image conversions: the one place where ``esrgan_lib`` turns files, PIL images,
numpy arrays and tensors into each other (as BasicSR's ``utils/img_util.py`` does for BasicSR).

Conventions:

- an *array* is a numpy image ``(H, W)`` or ``(H, W, C)``: uint8 (0..255), uint16 (0..65535) or
  float in [0, 1]; C is 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA);
- a *batch* is a float torch tensor ``(B, C, H, W)`` with values in [0, 1];
- float inputs may overshoot [0, 1] by at most ``RANGE_TOL`` (float rounding); beyond that, or with
  NaN values, they are refused with a ``ValueError``;
- PIL mode ``"F"`` holds 0..255 (Pillow's ``convert("F")``); float files and arrays hold [0, 1].

``read_image(path)`` keeps what the file holds (grey, alpha, 16 bits, float);
``read_image(path, rgb=True)`` gives the uint8 RGB view that training uses (alpha dropped, grey
repeated, 16 bit scaled with ``round(v / 257)``, float with ``round(v * 255)``). Both apply EXIF
orientation, refuse files with more pixels than Pillow allows (``PIL.Image.MAX_IMAGE_PIXELS``,
checked from the header before decoding, for every decoder) and warn, naming the file, when it
holds several frames (an animated GIF, a multi-page TIFF): only the first is used.
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
import png  # pypng: Pillow keeps only the high byte of 16-bit colour PNG samples
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "IMAGE_EXTENSIONS", "RANGE_TOL", "ImageInfo", "probe_image", "check_pixel_limit", "read_image",
    "pil_to_array", "array_to_pil", "to_rgb_uint8", "check_float_range", "to_batch",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")
RANGE_TOL = 1e-3  # how far float images may leave [0, 1] (rounding) before they are refused

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # PNG colour type -> channels (3: palette)
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, zlib.error, struct.error, png.Error, EOFError)


class ImageInfo(NamedTuple):
    """What a file holds, read from its header: enough to plan outputs and check sizes."""

    width: int
    height: int
    channels: int
    dtype: np.dtype
    frames: int
    decoder: str  # "png16", "tiff" or "pil"

    shape = property(lambda self: (self.height, self.width) + ((self.channels,) if self.channels > 1 else ()),
                     doc="The shape ``read_image`` returns: ``(H, W)`` for one channel, else ``(H, W, C)``.")
    ndim = property(lambda self: len(self.shape))


# ----------------------------------------------------------------------------------------------
# headers: size, channels and depth before decoding anything


def check_pixel_limit(width: int, height: int, name) -> None:
    """Pillow's decompression-bomb rule for any decoder.

    Warns (``PIL.Image.DecompressionBombWarning``) above ``PIL.Image.MAX_IMAGE_PIXELS`` pixels and
    raises ``ValueError`` naming ``name`` above twice that; ``MAX_IMAGE_PIXELS = None`` disables it.
    """
    limit = Image.MAX_IMAGE_PIXELS
    n = int(width) * int(height)
    if limit is None or n <= limit:
        return
    if n > 2 * limit:
        raise ValueError(
            f"{name}: {width}x{height} = {n} pixels is more than twice PIL.Image.MAX_IMAGE_PIXELS "
            f"({limit}): refused as a possible decompression bomb; raise PIL.Image.MAX_IMAGE_PIXELS "
            "if you trust this file"
        )
    warnings.warn(f"{name}: {width}x{height} = {n} pixels is more than PIL.Image.MAX_IMAGE_PIXELS "
                  f"({limit})", Image.DecompressionBombWarning, stacklevel=3)


def _png_ihdr(path: Path) -> tuple[int, int, int, int] | None:
    """(width, height, bit depth, colour type) from a PNG header, or None if not a PNG."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or not head.startswith(_PNG_SIGNATURE):
        return None
    return (*struct.unpack(">II", head[16:24]), head[24], head[25])


def _too_many_channels(path, c: int) -> ValueError:
    return ValueError(f"{path}: {c} channels; an image has 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA)")


def _probe_tiff(path: Path) -> tuple[ImageInfo | None, bool]:
    """(info, size checked). TIFFs Pillow cannot read faithfully (not 8 bit, grey + alpha) get an
    info for tifffile; None: Pillow reads it (8-bit TIFFs, or not a TIFF despite its name)."""
    import tifffile

    try:
        tif = tifffile.TiffFile(path)
    except tifffile.TiffFileError:
        return None, False
    with tif:
        page, frames = tif.pages.first, len(tif.pages)
        check_pixel_limit(page.imagewidth, page.imagelength, path)
        c = int(page.samplesperpixel)
        if c > 4:
            raise _too_many_channels(path, c)
        if page.dtype == np.uint8 and c != 2:  # Pillow drops the alpha of grey + alpha TIFFs
            return None, True
        if page.photometric not in (tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.RGB) or \
                page.dtype is None or page.dtype.kind not in "uif":
            raise ValueError(f"{path}: a {page.dtype} TIFF with photometric {page.photometric.name} "
                             "is not supported (grey or RGB(A) samples only)")
        dtype = np.dtype(np.float32 if page.dtype.kind == "f" else page.dtype if c == 2 else np.uint16)
        return ImageInfo(page.imagewidth, page.imagelength, c, dtype, frames, "tiff"), True


_PIL_LAYOUT = {"1": 1, "L": 1, "I": 1, "F": 1, "LA": 2, "La": 2, "PA": 4, "RGBA": 4, "RGBa": 4}


def _probe_pil(path: Path) -> ImageInfo:
    with warnings.catch_warnings():  # Pillow's warning does not name the file: ours below does
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(path)
        except Image.DecompressionBombError as e:
            raise ValueError(f"{path}: {e}") from e
    with img:
        mode = img.mode
        channels = _PIL_LAYOUT.get(mode, 1 if mode.startswith("I;16") else 3)
        if mode == "P" and "transparency" in img.info:
            channels = 4
        deep = mode == "I" or mode.startswith("I;16")
        dtype = np.float32 if mode == "F" else (np.uint16 if deep else np.uint8)
        return ImageInfo(img.width, img.height, channels, np.dtype(dtype), getattr(img, "n_frames", 1), "pil")


def probe_image(path: str | os.PathLike) -> ImageInfo:
    """Only the header of an image file -> ``ImageInfo`` (nothing is decoded); errors as ``read_image``.

    Applies ``check_pixel_limit``. The reader's result has ``info.shape`` and ``info.dtype``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: the file is empty (0 bytes), not an image")
    try:
        ihdr = _png_ihdr(path)
        if ihdr is not None:
            check_pixel_limit(ihdr[0], ihdr[1], path)  # before Pillow's own check, which names no file
            if ihdr[2] == 16:
                channels = _PNG_CHANNELS.get(ihdr[3], 3)
                return ImageInfo(ihdr[0], ihdr[1], channels, np.dtype(np.uint16), 1, "png16")
        info, checked = _probe_tiff(path) if path.suffix.lower() in (".tif", ".tiff") else (None, False)
        info = info or _probe_pil(path)
        if ihdr is None and not checked:  # PNG and TIFF headers were checked above
            check_pixel_limit(info.width, info.height, path)
        return info
    except UnidentifiedImageError as e:
        raise ValueError(f"{path}: not an image file Pillow can read") from e
    except _DECODE_ERRORS as e:
        if isinstance(e, ValueError) and str(path) in str(e):
            raise
        raise ValueError(f"{path}: cannot decode the image (truncated or corrupt file?): {e}") from e


# ------------------------------------------------------------------------------------------- decoding


def _read_png16(path: Path) -> np.ndarray:
    """A 16-bit PNG (any colour type, interlaced or not) -> uint16 ``(H, W)`` or ``(H, W, C)``."""
    with open(path, "rb") as f:
        width, height, rows, info = png.Reader(file=f).asDirect()
        planes = info["planes"]
        arr = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, planes)
    return arr[:, :, 0] if planes == 1 else arr


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        try:
            arr = page.asarray()
        except tifffile.TiffFileError as e:
            raise ValueError(str(e)) from e
        if arr.ndim == 3 and page.planarconfig == tifffile.PLANARCONFIG.SEPARATE:
            arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.dtype.kind == "f":
        return np.ascontiguousarray(arr, dtype=np.float32)
    return arr if arr.dtype in (np.uint8, np.uint16) else np.clip(arr, 0, 65535).astype(np.uint16)


def _read_pil(path: Path) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked, with the file name
        with Image.open(path) as img:
            img.load()
            return pil_to_array(ImageOps.exif_transpose(img))


def read_image(path: str | os.PathLike, *, rgb: bool = False) -> np.ndarray:
    """Read an image file.

    Args:
        path: the file (any format Pillow reads; 16-bit PNGs through pypng, non-8-bit TIFFs
            through tifffile).
        rgb: False keeps what the file holds: uint8 or uint16 (or float32 in [0, 1] for float
            TIFFs) ``(H, W)``, ``(H, W, 2)``, ``(H, W, 3)`` or ``(H, W, 4)``, palette images as
            RGB(A). True gives the uint8 RGB ``(H, W, 3)`` view (see ``to_rgb_uint8``).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file for an empty,
    non-image, truncated, corrupt, too large (``check_pixel_limit``) or more-than-4-channel one.
    """
    path = Path(path)
    info = probe_image(path)
    if info.frames > 1:
        warnings.warn(f"{path}: the file holds {info.frames} frames (pages); only the first is used",
                      UserWarning, stacklevel=2)
    decode = {"png16": _read_png16, "tiff": _read_tiff, "pil": _read_pil}[info.decoder]
    try:
        arr = decode(path)
    except _DECODE_ERRORS as e:
        raise ValueError(f"{path}: cannot decode the image (truncated or corrupt file?): {e}") from e
    if arr.ndim == 3 and arr.shape[2] > 4:
        raise _too_many_channels(path, arr.shape[2])
    return to_rgb_uint8(arr, name=path) if rgb else arr


# ----------------------------------------------------------------------------------------------
# PIL images <-> arrays, and the uint8 RGB view

_PIL_CONVERT = {"1": "L", "P": None, "PA": "RGBA", "CMYK": "RGB", "YCbCr": "RGB", "HSV": "RGB",
                "LAB": "RGB", "La": "LA", "RGBa": "RGBA", "RGBX": "RGB"}


def pil_to_array(img: Image.Image) -> np.ndarray:
    """A PIL image of any mode -> array (see the module conventions), keeping alpha and 16 bits.

    ``1`` becomes ``L``, palette images RGB (RGBA when they have transparency), CMYK/YCbCr/... RGB;
    ``I`` is clipped to uint16, ``I;16`` stays uint16, ``F`` (0..255) becomes float32 ``v / 255``.
    """
    mode = img.mode
    if mode in _PIL_CONVERT:
        target = _PIL_CONVERT[mode] or ("RGBA" if "transparency" in img.info else "RGB")
        return np.asarray(img.convert(target))
    if mode == "I":
        return np.clip(np.asarray(img), 0, 65535).astype(np.uint16)
    if mode == "F":
        return np.asarray(img, dtype=np.float32) / np.float32(255.0)
    return np.asarray(img)


def array_to_pil(arr: np.ndarray, mode: str | None = None) -> Image.Image:
    """An array -> PIL image; ``mode`` "I" or "F" gives those modes back (the inverse of ``pil_to_array``)."""
    if mode == "I":
        return Image.fromarray(arr.astype(np.int32), mode="I")
    if mode == "F" or np.issubdtype(arr.dtype, np.floating):
        return Image.fromarray((arr[..., 0] if arr.ndim == 3 else arr).astype(np.float32) * 255.0, mode="F")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    return Image.fromarray(arr)


def check_float_range(lo: float, hi: float, name) -> None:
    """Raise ``ValueError`` naming ``name`` unless [lo, hi] lies in [0, 1] (``RANGE_TOL`` allowed)."""
    if np.isnan(lo) or np.isnan(hi):
        raise ValueError(f"{name}: the image contains NaN values")
    if lo < -RANGE_TOL or hi > 1 + RANGE_TOL:
        raise ValueError(
            f"{name}: float images must be in [0, 1], got values in [{lo:.4g}, {hi:.4g}] "
            "(rescale [0, 255] or [-1, 1] data; clamp model outputs with .clamp(0, 1))"
        )


def to_rgb_uint8(arr: np.ndarray, *, name="image") -> np.ndarray:
    """Any array (see the module conventions) -> uint8 RGB ``(H, W, 3)``, the view training uses.

    Grey is repeated into 3 channels, alpha is dropped (not composited), uint16 and other integer
    samples are scaled with ``round(v / 257)`` (clipped to 0..65535 first), floats with
    ``round(v * 255)`` (refused outside [0, 1]).
    """
    arr = np.asarray(arr)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and not 1 <= arr.shape[2] <= 4):
        raise ValueError(f"{name}: expected an (H, W) or (H, W, 1..4) image, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if arr.size:
            check_float_range(float(np.min(arr)), float(np.max(arr)), name)
        arr = np.rint(np.clip(arr.astype(np.float64), 0, 1) * 255.0).astype(np.uint8)
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{name}: cannot read samples of dtype {arr.dtype} as an image")
        arr = np.rint(np.clip(arr.astype(np.float64), 0, 65535) / 257.0).astype(np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    arr = arr[:, :, :3] if arr.shape[2] >= 3 else arr[:, :, :1]
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr)


# --------------------------------------------------- any image <-> a float batch (B, C, H, W) in [0, 1]

_KIND_TEXT = {"uint8": "uint8", "uint16": "uint16", "float": "float in [0, 1]"}
_TOP = {"uint8": 255.0, "uint16": 65535.0}


def _checked(x: torch.Tensor, name, clip: bool) -> torch.Tensor:
    """Float values -> clamped to [0, 1]; with ``clip=False`` NaN or values past ``RANGE_TOL`` raise."""
    if clip:
        return torch.nan_to_num(x).clamp(0, 1)
    if x.numel():
        check_float_range(x.min().item(), x.max().item(), name)
    return x.clamp(0, 1)


def _array_batch(arr: np.ndarray, name, dtype, clip, kinds):
    kind = {"u1": "uint8", "u2": "uint16"}.get(arr.dtype.str[1:], "float" if arr.dtype.kind == "f" else None)
    if kind not in kinds:
        allowed = " or ".join(_KIND_TEXT[k] for k in kinds)
        raise TypeError(f"{name}: numpy images must be {allowed}, got dtype {arr.dtype}")
    if arr.ndim not in (2, 3):
        raise ValueError(f"{name}: numpy images must be (H, W) or (H, W, C), got shape {arr.shape}")
    chw = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    x = torch.from_numpy(chw.astype(np.float64 if dtype == torch.float64 else np.float32)).to(dtype)
    top = _TOP.get(kind)
    x = x.div_(top) if top else _checked(x, name, clip)

    def restore(y: torch.Tensor) -> np.ndarray:  # (1, C, H, W), changed in place
        y = y[0].clamp_(0, 1)
        y = y.mul_(top).round_() if top else y
        out = y.permute(1, 2, 0).cpu().numpy().astype(arr.dtype, copy=False)
        return np.ascontiguousarray(out[:, :, 0] if arr.ndim == 2 else out)

    return x[None], restore


def _tensor_batch(t: torch.Tensor, name, dtype, device, clip, kinds):
    kind = "uint8" if t.dtype == torch.uint8 else ("float" if t.is_floating_point() else None)
    if kind not in kinds:
        allowed = " or ".join(_KIND_TEXT[k] for k in kinds)
        raise TypeError(f"{name}: tensor images must be {allowed}, got dtype {t.dtype}")
    if t.ndim not in (3, 4):
        raise ValueError(f"{name}: tensor images must be (C, H, W) or (B, C, H, W), "
                         f"got shape {tuple(t.shape)}")
    x = t.detach().to(device if device is not None else t.device, dtype)
    x = x / 255.0 if kind == "uint8" else _checked(x, name, clip)

    def restore(y: torch.Tensor) -> torch.Tensor:  # (B, C, H, W), changed in place
        y = y.clamp_(0, 1) if t.ndim == 4 else y[0].clamp_(0, 1)
        return (y.mul_(255).round_() if kind == "uint8" else y).to(t.device, t.dtype)

    return (x if t.ndim == 4 else x[None]), restore


def to_batch(image, *, name="image", dtype: torch.dtype = torch.float32, device=None, clip: bool = False,
             arrays=("uint8", "uint16", "float"), tensors=("float", "uint8"), pil_modes=None):
    """Any image -> ``(x, restore)``: the one conversion to a float batch and back.

    Args:
        image: PIL image (any mode, through ``pil_to_array``), numpy array ``(H, W)``/``(H, W, C)``
            or tensor ``(C, H, W)``/``(B, C, H, W)`` (see the module conventions).
        name: how error messages call the image.
        dtype: dtype of ``x``. device: device of ``x`` for tensors (default: theirs); arrays give CPU.
        clip: clamp float values silently (for display) instead of refusing NaN or values that
            leave [0, 1] by more than ``RANGE_TOL``.
        arrays, tensors: the accepted kinds ("uint8", "uint16", "float"); pil_modes: accepted PIL
            modes (None: all). Other inputs raise ``TypeError`` (kind) or ``ValueError`` (shape, mode).

    Returns:
        ``x``: float ``(B, C, H, W)`` in [0, 1] (B = 1 for PIL images and arrays); ``restore(y)``
        turns a float batch ``y`` in [0, 1] (any H, W and C) back into the caller's kind, dtype,
        layout and device (PIL mode family; clamped and rounded for integer types). ``restore``
        may change ``y`` in place.
    """
    if isinstance(image, Image.Image):
        if pil_modes is not None and image.mode not in pil_modes:
            raise ValueError(f"{name}: PIL image mode {image.mode!r} not supported; convert to "
                             f"{' or '.join(map(repr, pil_modes))} first")
        mode = image.mode if image.mode in ("I", "F") else None
        x, back = _array_batch(pil_to_array(image), name, dtype, clip, tuple(_KIND_TEXT))
        return x, lambda y: array_to_pil(back(y), mode)
    if isinstance(image, np.ndarray):
        return _array_batch(image, name, dtype, clip, arrays)
    if isinstance(image, torch.Tensor):
        return _tensor_batch(image, name, dtype, device, clip, tensors)
    raise TypeError(f"{name}: expected a PIL image, numpy array or torch tensor, got {type(image).__name__}")
