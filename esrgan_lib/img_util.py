"""Image files and image conversions: the one place where ``esrgan_lib`` turns files, PIL images,
numpy arrays and tensors into each other (as BasicSR's ``utils/img_util.py`` does for BasicSR).

Conventions:

- an *array* is a numpy image ``(H, W)`` or ``(H, W, C)``: uint8 (0..255), uint16 (0..65535) or
  float in [0, 1]; C is 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA);
- a *batch* is a float torch tensor ``(B, C, H, W)`` with values in [0, 1];
- float inputs may overshoot [0, 1] by at most ``RANGE_TOL`` (float rounding); beyond that, or with
  NaN values, they are refused with a ``ValueError`` (``check_float_range``);
- PIL mode ``"F"`` holds 0..255 (Pillow's ``convert("F")``); float files and arrays hold [0, 1].

The module, in the order of a file's life:

- **probe** (``probe_image``): size, channels, depth and frames from the header only, nothing decoded;
  the one pixel limit (``check_pixel_limit``, Pillow's ``MAX_IMAGE_PIXELS``) for every decoder; a
  truncated PNG is caught here. Headers are remembered per (file, modification time, size), so a
  folder indexed twice is read once.
- **read** (``read_image``): by default the uint8 RGB ``(H, W, 3)`` view that training and metrics
  use; ``rgb=False`` keeps what the file holds (grey, alpha, 16 bits, float TIFF).
- **write** (``save_image``): atomic, 8 or 16 bits, alpha, float TIFF.
- **list a folder** (``list_images``): one scan, one warning naming the files it skips.
- **convert** (``to_batch`` and its ``restore``, ``to_tensor``/``to_uint8``, ``to_rgb_uint8``).

Every file that cannot be read raises ``ValueError("<file>: not a readable image (<why>)")``; a
missing file ``FileNotFoundError``; a refused one (too many pixels or channels, floats outside
[0, 1]) a ``ValueError`` naming the file and the rule.
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
import png  # pypng: Pillow keeps only the high byte of 16-bit colour PNG samples
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ._atomic import atomic_path

__all__ = [
    "IMAGE_EXTENSIONS", "RANGE_TOL", "ImageInfo", "check_pixel_limit", "probe_image", "read_image",
    "save_image", "list_images", "pil_to_array", "array_to_pil", "check_float_range", "to_rgb_uint8",
    "to_batch", "to_tensor", "to_uint8",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")
RANGE_TOL = 1e-3  # how far float images may leave [0, 1] (rounding) before they are refused

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # PNG colour type -> channels (3: palette, RGB)
_ROTATED = (5, 6, 7, 8)  # EXIF orientations that swap width and height
_EXIF_TEXT = b"Raw profile type exif"  # EXIF hex-encoded in a PNG text chunk (ImageMagick)
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, zlib.error, struct.error, png.Error, EOFError)


class ImageInfo(NamedTuple):
    """What a file holds, from its header: the size ``read_image(path, rgb=False)`` returns (EXIF
    orientation applied where the reader applies it), channels, sample dtype, frames and decoder."""

    width: int
    height: int
    channels: int
    dtype: np.dtype
    frames: int
    decoder: str  # "png16" (pypng), "tiff" (tifffile) or "pil"

    shape = property(lambda self: (self.height, self.width) + ((self.channels,) if self.channels > 1 else ()),
                     doc="The shape ``read_image(rgb=False)`` returns: ``(H, W)`` for one channel, "
                         "else ``(H, W, C)``.")
    ndim = property(lambda self: len(self.shape))


class _Refused(ValueError):
    """A readable file that a rule refuses (its message names the file)."""


def _unreadable(path, why: str) -> ValueError:
    return ValueError(f"{path}: not a readable image ({why})")


# ---------------------------------------------------------------------------------------------- probe


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
        raise _Refused(
            f"{name}: {width}x{height} = {n} pixels is more than twice PIL.Image.MAX_IMAGE_PIXELS "
            f"({limit}): refused as a possible decompression bomb; raise PIL.Image.MAX_IMAGE_PIXELS "
            "if you trust this file"
        )
    warnings.warn(f"{name}: {width}x{height} = {n} pixels is more than PIL.Image.MAX_IMAGE_PIXELS "
                  f"({limit})", Image.DecompressionBombWarning, stacklevel=3)


def _orientation(exif: bytes) -> int:
    """The EXIF orientation tag (1..8) of raw EXIF bytes; 1 when absent or unreadable."""
    parsed = Image.Exif()
    try:
        parsed.load(exif)
        return int(parsed.get(0x0112, 1))
    except Exception:
        return 1


def _png_info(f: BinaryIO) -> ImageInfo:
    """Walk the chunks of an open PNG (pixel data skipped with seeks) up to ``IEND``.

    ``IHDR`` gives size, depth and colour type, ``tRNS`` transparency, ``acTL`` the frames of an
    APNG, ``eXIf`` (or ImageMagick's EXIF text chunk) the orientation. A file that ends before
    ``IEND`` is truncated.
    """
    head = f.read(33)  # signature, IHDR length and type, 13 bytes of IHDR data, CRC
    if len(head) < 33 or head[12:16] != b"IHDR":
        raise ValueError("no IHDR header")
    width, height = struct.unpack(">II", head[16:24])
    depth, ctype = head[24], head[25]
    exif, exif_text, trns, frames = None, False, False, 1
    while True:
        chunk = f.read(8)
        if len(chunk) < 8:
            raise ValueError("truncated PNG file: it ends before its IEND chunk")
        length, kind = struct.unpack(">I4s", chunk)
        if kind == b"IEND":
            break
        if kind in (b"eXIf", b"acTL"):
            data = f.read(length)
            f.seek(4, os.SEEK_CUR)
            if kind == b"eXIf":
                exif = data
            elif len(data) >= 4:
                frames = struct.unpack(">I", data[:4])[0]
        elif kind in (b"tEXt", b"zTXt", b"iTXt") and length >= len(_EXIF_TEXT):
            exif_text |= f.read(len(_EXIF_TEXT)) == _EXIF_TEXT
            f.seek(length - len(_EXIF_TEXT) + 4, os.SEEK_CUR)
        else:
            trns |= kind == b"tRNS"
            f.seek(length + 4, os.SEEK_CUR)
    channels = _PNG_CHANNELS.get(ctype, 3)
    if depth == 16:  # pypng adds an alpha channel for tRNS; it applies no EXIF orientation
        channels += trns and ctype in (0, 2)
        return ImageInfo(width, height, channels, np.dtype(np.uint16), frames, "png16")
    channels = 4 if ctype == 3 and trns else channels  # palette with transparency -> RGBA
    if exif is None and exif_text:  # rare: only Pillow's decoder finds that EXIF
        f.seek(0)
        with Image.open(f) as img:
            exif = img.getexif().tobytes()
    rotated = exif is not None and _orientation(exif) in _ROTATED
    return ImageInfo(*((height, width) if rotated else (width, height)), channels, np.dtype(np.uint8), frames,
                     "pil")


def _tiff_info(f: BinaryIO, path: Path) -> ImageInfo | None:
    """TIFFs Pillow cannot read faithfully (not 8 bit, grey + alpha, > 4 channels) go to tifffile;
    None: Pillow reads it (8-bit grey/RGB(A) TIFFs, or not a TIFF despite its name)."""
    import tifffile

    try:
        tif = tifffile.TiffFile(f)
    except tifffile.TiffFileError:
        return None
    with tif:
        page, frames = tif.pages.first, len(tif.pages)
        c = int(page.samplesperpixel)
        if page.dtype == np.uint8 and c in (1, 3, 4):  # Pillow drops the alpha of grey + alpha TIFFs
            check_pixel_limit(page.imagewidth, page.imagelength, path)  # before Pillow's, which names no file
            return None
        if c <= 4 and (page.photometric not in (tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.RGB)
                       or page.dtype is None or page.dtype.kind not in "uif"):
            raise _Refused(f"{path}: a {page.dtype} TIFF with photometric {page.photometric.name} "
                           "is not supported (grey or RGB(A) samples only)")
        integer = np.uint8 if page.dtype == np.uint8 else np.uint16  # _read_tiff clips other ints to uint16
        dtype = np.dtype(np.float32 if page.dtype.kind == "f" else integer)
        return ImageInfo(page.imagewidth, page.imagelength, c, dtype, frames, "tiff")


_PIL_LAYOUT = {"1": 1, "L": 1, "I": 1, "F": 1, "LA": 2, "La": 2, "PA": 4, "RGBA": 4, "RGBa": 4}


def _pil_info(f: BinaryIO) -> ImageInfo:
    with Image.open(f) as img:
        mode = img.mode
        channels = _PIL_LAYOUT.get(mode, 1 if mode.startswith("I;16") else 3)
        if mode == "P" and "transparency" in img.info:
            channels = 4
        deep = mode == "I" or mode.startswith("I;16")
        dtype = np.dtype(np.float32 if mode == "F" else (np.uint16 if deep else np.uint8))
        rotated = img.getexif().get(0x0112, 1) in _ROTATED  # JPEG, WebP, TIFF: parsed with the header
        w, h = (img.height, img.width) if rotated else img.size
        return ImageInfo(w, h, channels, dtype, getattr(img, "n_frames", 1), "pil")


_HEADERS: dict[tuple[str, int, int], ImageInfo] = {}  # (file, mtime_ns, size) -> its header
_HEADERS_MAX = 1 << 17


def _header(path: Path) -> ImageInfo:
    """The header of ``path``, read once per version of the file (one ``open``); no limits applied."""
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key in _HEADERS:
        return _HEADERS[key]
    if st.st_size == 0:
        raise _unreadable(path, "the file is empty, 0 bytes")
    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # ours names the file
            is_png = f.read(8) == _PNG_SIGNATURE
            f.seek(0)
            info = _png_info(f) if is_png else None
            if info is None and path.suffix.lower() in (".tif", ".tiff"):
                info = _tiff_info(f, path)
                f.seek(0)
            info = info or _pil_info(f)
    except _Refused:
        raise
    except Image.DecompressionBombError as e:
        raise _Refused(f"{path}: {e}") from e
    except UnidentifiedImageError as e:
        raise _unreadable(path, "not an image file Pillow can read") from e
    except _DECODE_ERRORS as e:
        raise _unreadable(path, f"truncated or corrupt file? {e}") from e
    if len(_HEADERS) >= _HEADERS_MAX:
        _HEADERS.clear()
    _HEADERS[key] = info
    return info


def probe_image(path: str | os.PathLike) -> ImageInfo:
    """Only the header of an image file -> ``ImageInfo`` (no pixel is decoded).

    Applies the rules ``read_image`` applies before decoding: ``check_pixel_limit`` and at most 4
    channels. Errors are those of ``read_image`` (see the module docstring).
    """
    path = Path(path)
    info = _header(path)
    check_pixel_limit(info.width, info.height, path)
    if info.channels > 4:
        raise _Refused(f"{path}: {info.channels} channels; an image has 1 (grey), 2 (grey + alpha), "
                       "3 (RGB) or 4 (RGBA)")
    return info


# ----------------------------------------------------------------------------------------------- read


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


_DECODERS = {"png16": _read_png16, "tiff": _read_tiff, "pil": _read_pil}


def read_image(path: str | os.PathLike, *, rgb: bool = True) -> np.ndarray:
    """Read an image file (any format Pillow reads; 16-bit PNGs through pypng, non-8-bit TIFFs
    through tifffile).

    Args:
        path: the file.
        rgb: True (default): uint8 RGB ``(H, W, 3)``, the view training and metrics use: grey is
            repeated, **alpha dropped** (not composited), 16 bit scaled with ``round(v / 257)``,
            float with ``round(v * 255)`` (see ``to_rgb_uint8``). False: what the file holds, uint8
            or uint16 (float32 in [0, 1] for float TIFFs) ``(H, W)``, ``(H, W, 2)``, ``(H, W, 3)`` or
            ``(H, W, 4)``, palette images as RGB(A) (``ImageInfo.shape`` and ``.dtype`` of
            ``probe_image``).

    EXIF orientation is applied (not on the pypng and tifffile paths); a file with several frames
    (an animated GIF, a multi-page TIFF) warns, naming the file, and gives its first frame. Raises
    ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file for an empty,
    non-image, truncated, corrupt, too large (``check_pixel_limit``) or more-than-4-channel one.
    """
    path = Path(path)
    info = probe_image(path)
    if info.frames > 1:
        warnings.warn(f"{path}: the file holds {info.frames} frames (pages); only the first is used",
                      UserWarning, stacklevel=2)
    try:
        arr = _DECODERS[info.decoder](path)
    except _DECODE_ERRORS as e:
        raise _unreadable(path, f"truncated or corrupt file? {e}") from e
    return to_rgb_uint8(arr, name=path) if rgb else arr


# ---------------------------------------------------------------------------------------------- write


def _write_png16(arr: np.ndarray, f, compress_level: int | None) -> None:
    c = 1 if arr.ndim == 2 else arr.shape[2]
    writer = png.Writer(arr.shape[1], arr.shape[0], greyscale=c in (1, 2), alpha=c in (2, 4), bitdepth=16,
                        compression=compress_level)
    writer.write(f, arr.reshape(arr.shape[0], -1))


def save_image(arr: np.ndarray, path: str | os.PathLike, *, compress_level: int | None = None) -> Path:
    """Write an array to ``path`` atomically (temp file + rename: an old file survives a failed write);
    the format follows the suffix. Returns ``Path(path)``; the folder must exist.

    Args:
        arr: uint8, uint16 or float (in [0, 1]) ``(H, W)`` or ``(H, W, C)`` with C in 1..4, as
            ``read_image(path, rgb=False)`` returns. uint16 is written as 16-bit PNG or TIFF; float
            as float TIFF only (.tif/.tiff); JPEG drops alpha.
        compress_level: zlib level 0..9 for PNG (None: the encoder's default; lower is faster).
    """
    path = Path(path)
    arr = np.asarray(arr)
    ext = path.suffix.lower()
    tiff = ext in (".tif", ".tiff")
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and not 1 <= arr.shape[2] <= 4):
        raise ValueError(f"{path}: expected an (H, W) or (H, W, 1..4) image, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not tiff:
            raise ValueError(f"{path}: float images are saved as .tif")
        if arr.size:
            check_float_range(float(np.min(arr)), float(np.max(arr)), path)
    elif arr.dtype == np.uint16:
        if not tiff and ext != ".png":
            raise ValueError(f"{path}: 16-bit images are saved as .png or .tif")
    elif arr.dtype != np.uint8:
        raise TypeError(f"{path}: images are saved from uint8, uint16 or float arrays, got {arr.dtype}")
    fmt = Image.registered_extensions().get(ext)
    if fmt is None:
        raise ValueError(f"{path}: unknown image extension {ext!r}")
    with atomic_path(path, make_parents=False) as tmp, open(tmp, "wb") as f:
        if ext in (".tif", ".tiff"):
            import tifffile

            colour = arr.ndim == 3 and arr.shape[2] >= 3
            contig = {"planarconfig": "contig"} if arr.ndim == 3 else {}
            tifffile.imwrite(f, arr, photometric="rgb" if colour else "minisblack", **contig)
        elif arr.dtype == np.uint16:
            _write_png16(arr, f, compress_level)
        else:
            img = Image.fromarray(arr[:, :, 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr)
            if fmt == "JPEG" and img.mode not in ("L", "RGB"):
                img = img.convert("RGB")
            options = {"JPEG": {"quality": 95}, "PNG": {"compress_level": compress_level}}.get(fmt, {})
            img.save(f, format=fmt, **{k: v for k, v in options.items() if v is not None})
    return path


# ---------------------------------------------------------------------------------------- list a folder

_CHECKS = ("name", "header", "decode")


def _accepted(path: Path, check: str) -> bool:
    """``list_images``'s test of one file (see its ``check``). "decode": for files Pillow decodes, the
    data passes ``verify()`` (PNG CRCs, ...) and JPEG data, which ``verify()`` does not read, is
    decoded; tifffile data is checked when read."""
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        return False
    if check == "name":
        return True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # size warnings come again when the file is read
            if probe_image(path).decoder == "tiff" or check == "header":
                return True
            with Image.open(path) as img:
                img.verify()
            if path.suffix.lower() in (".jpg", ".jpeg"):
                with Image.open(path) as img:
                    img.load()
        return True
    except Exception:
        return False


def list_images(folder: str | os.PathLike, *, check: str = "decode") -> list[Path]:
    """Sorted image files of ``folder`` (not recursive; hidden and ``.tmp`` files are ignored).

    Args:
        check: how a file is accepted: "name" (its extension is in ``IMAGE_EXTENSIONS``), "header"
            (and ``probe_image`` accepts it: size, channels, pixel limit, a complete PNG; nothing is
            decoded and each header is read once), or "decode" (and its data passes Pillow's checks).

    Files that fail are skipped with ONE warning listing them. Raises ``FileNotFoundError`` if the
    folder does not exist and ``ValueError`` (naming the folder) if it holds no usable image.
    """
    if check not in _CHECKS:
        raise ValueError(f"check must be one of {', '.join(_CHECKS)}, got {check!r}")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and not p.name.startswith(".") and p.suffix.lower() != ".tmp")
    if not files:
        raise ValueError(f"image folder is empty: {folder}")
    good, bad = [], []
    for p in files:
        (good if _accepted(p, check) else bad).append(p)
    names = ", ".join(p.name for p in bad)
    if not good:
        raise ValueError(f"no readable image in {folder} (found only: {names})")
    if bad:
        warnings.warn(f"skipping {len(bad)} file(s) in {folder} that are not readable images: {names}",
                      stacklevel=2)
    return good


# ------------------------------------------------------------- PIL images <-> arrays, the uint8 RGB view

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
        raise _Refused(f"{name}: the image contains NaN values")
    if lo < -RANGE_TOL or hi > 1 + RANGE_TOL:
        raise _Refused(
            f"{name}: float images must be in [0, 1], got values in [{lo:.4g}, {hi:.4g}] "
            "(rescale [0, 255] or [-1, 1] data; clamp model outputs with .clamp(0, 1))"
        )


def to_rgb_uint8(arr, *, name="image") -> np.ndarray:
    """Any array (see the module conventions) or PIL image -> uint8 RGB ``(H, W, 3)``, the view
    training uses.

    Grey is repeated into 3 channels, alpha is dropped (not composited), uint16 and other integer
    samples are scaled with ``round(v / 257)`` (clipped to 0..65535 first), floats with
    ``round(v * 255)`` (refused outside [0, 1]).
    """
    arr = pil_to_array(arr) if isinstance(arr, Image.Image) else np.asarray(arr)
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


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 array ``(H, W, 3)`` or ``(H, W)`` -> float32 tensor ``(3, H, W)`` in [0, 1] (``v / 255``).

    A grey ``(H, W)`` array is repeated into 3 channels. Other dtypes raise ``TypeError``, other
    shapes ``ValueError``.
    """
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise TypeError(f"to_tensor expects a uint8 array, got dtype {img.dtype}")
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"to_tensor expects an (H, W, 3) or (H, W) array, got shape {tuple(img.shape)}")
    return to_batch(img, name="to_tensor", arrays=("uint8",))[0][0]


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """Float tensor ``(3, H, W)`` or ``(1, 3, H, W)`` in [0, 1] -> uint8 array ``(H, W, 3)`` (the
    inverse of ``to_tensor``).

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
