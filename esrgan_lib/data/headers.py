"""Image sizes from file headers only: no pixel is decoded, every file is read at most once.

Building a dataset needs each image's size (after EXIF rotation, as ``read_image`` returns it).
Pillow gives a PNG's EXIF only after decoding the whole image (``getexif()`` calls ``load()``), so
PNGs are read here chunk by chunk: the ``IHDR`` header gives the size, an ``eXIf`` chunk the
orientation, and every other chunk (the pixel data too) is skipped with a seek. Walking to the
``IEND`` chunk also detects a truncated file. Other formats (JPEG, WebP, TIFF, ...) keep their EXIF
in the header, which Pillow parses when it opens the file.

Sizes are remembered per (path, modification time, file size), so a second dataset over the same
files (a probe, a resumed run) reads nothing again.
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

from PIL import Image

from .io import IMAGE_EXTENSIONS

__all__ = ["image_size", "index_images"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ROTATED = (5, 6, 7, 8)  # EXIF orientations that swap width and height
_EXIF_TEXT = b"Raw profile type exif"  # EXIF hex-encoded in a PNG text chunk (ImageMagick)
_CACHE: dict[tuple[str, int, int], tuple[int, int]] = {}


def _orientation(exif: bytes) -> int:
    """The EXIF orientation tag (1..8) of raw EXIF bytes; 1 when absent or unreadable."""
    parsed = Image.Exif()
    try:
        parsed.load(exif)
        return int(parsed.get(0x0112, 1))
    except Exception:
        return 1


def _png_header(f) -> tuple[int, int, int, bytes | None, bool]:
    """(width, height, bit depth, eXIf payload or None, has EXIF in a text chunk) of an open PNG."""
    head = f.read(33)  # signature, IHDR length and type, 13 bytes of IHDR data, CRC
    if len(head) < 33 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        raise ValueError("not a PNG file (no IHDR header)")
    width, height = struct.unpack(">II", head[16:24])
    depth, exif, exif_text = head[24], None, False
    while True:
        chunk = f.read(8)
        if len(chunk) < 8:
            raise ValueError("truncated PNG file (it ends before its IEND chunk)")
        length, kind = struct.unpack(">I4s", chunk)
        if kind == b"IEND":
            return width, height, depth, exif, exif_text
        if kind == b"eXIf":
            exif = f.read(length)
            f.seek(4, os.SEEK_CUR)
        elif kind in (b"tEXt", b"zTXt", b"iTXt") and length >= len(_EXIF_TEXT):
            exif_text |= f.read(len(_EXIF_TEXT)) == _EXIF_TEXT
            f.seek(length - len(_EXIF_TEXT) + 4, os.SEEK_CUR)
        else:
            f.seek(length + 4, os.SEEK_CUR)


def _read_size(path: Path) -> tuple[int, int]:
    """(H, W) as ``read_image`` returns the image (EXIF rotation applied), from the header only."""
    with open(path, "rb") as f:
        is_png = f.read(8) == _PNG_SIGNATURE
        f.seek(0)
        if is_png:
            width, height, depth, exif, exif_text = _png_header(f)
            if depth == 16:  # read_image decodes 16-bit PNGs with pypng, without EXIF rotation
                return height, width
            if exif_text:  # rare: let Pillow decode the file to find that EXIF
                with Image.open(f) as img:
                    exif = img.getexif().tobytes()
            rotated = exif is not None and _orientation(exif) in _ROTATED
        else:
            with Image.open(f) as img:  # JPEG, WebP, TIFF ...: EXIF is parsed with the header
                (width, height), rotated = img.size, img.getexif().get(0x0112, 1) in _ROTATED
    return (width, height) if rotated else (height, width)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(H, W)`` of an image file as ``read_image`` would return it, reading its header only.

    EXIF orientation is applied (a portrait photo stored sideways gives its upright size).
    Raises ``ValueError`` naming the file when the header cannot be read or a PNG is truncated.
    """
    path = Path(path)
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
        if key not in _CACHE:
            if st.st_size == 0:
                raise ValueError("the file is empty")
            _CACHE[key] = _read_size(path)
        return _CACHE[key]
    except FileNotFoundError:
        raise
    except Exception as e:
        raise ValueError(f"{path}: cannot read the image header: {e}") from e


def index_images(folder: str | os.PathLike) -> tuple[list[Path], list[tuple[int, int]]]:
    """Image files of ``folder`` (sorted, not recursive, hidden files ignored) and their ``(H, W)``.

    One pass over the headers (see the module doc). Files with an unknown extension or an
    unreadable header are skipped with ONE warning listing them. Raises ``FileNotFoundError`` for
    a missing folder and ``ValueError`` when no image is left.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    paths, sizes, bad = [], [], []
    for p in files:
        try:
            if p.suffix.lower() not in IMAGE_EXTENSIONS:
                raise ValueError("not an image file name")
            sizes.append(image_size(p))
            paths.append(p)
        except ValueError:
            bad.append(p.name)
    if not paths:
        found = f" (found only: {', '.join(bad)})" if bad else ""
        raise ValueError(f"no readable image in {folder}{found}")
    if bad:
        warnings.warn(
            f"skipping {len(bad)} file(s) in {folder} that are not readable images: {', '.join(bad)}",
            stacklevel=2,
        )
    return paths, sizes
