"""Command line: upscale image files or folders with a generator checkpoint.

    python -m esrgan_lib.upscale photo.png more_photos/ -o out/ --weights esrgan_x4.safetensors
    esrgan-upscale big.jpg -o out/ --weights ESRGAN_SRx4_DF2KOST_official-ff704c30.pth --tile 256

Weights: any format ``esrgan_lib.checkpoint.load_generator`` reads. Folders are read one level
deep (image extensions only). A file that fails is reported and the others still run; the exit
code is 1 if any failed, 2 if nothing could start (bad weights, unwritable output folder, bad
options). Outputs are written atomically (temp file + rename) as ``<stem><suffix><ext>``; existing
outputs are skipped unless ``--overwrite``. 16-bit inputs give 16-bit PNGs; images with alpha keep
it (PNG unless the input format holds alpha: PNG, WebP, TIFF).

``read_image_any``/``save_image`` are the loader and saver used here: unlike
``esrgan_lib.data.read_image`` (uint8 RGB for training) they keep grey, alpha and 16 bits.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ._atomic import atomic_path
from .data.io import png_bit_depth, read_png16

__all__ = ["main", "read_image_any", "save_image", "output_path", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")
_ALPHA_EXTENSIONS = (".png", ".webp", ".tif", ".tiff")


# ----------------------------------------------------------------------------------------------
# image files keeping grey / alpha / 16 bit


def read_image_any(path: str | os.PathLike) -> np.ndarray:
    """Read an image keeping its channels and depth.

    Returns uint8 or uint16 ``(H, W)`` grey, ``(H, W, 2)`` grey+alpha, ``(H, W, 3)`` RGB or
    ``(H, W, 4)`` RGBA. Palette images become RGB(A); EXIF orientation is applied.
    Raises ``ValueError`` naming the file if it is not a readable image (truncated, not an image).
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".png" and png_bit_depth(path) == 16:
            return read_png16(path)
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            arr = tifffile.imread(path)
            layout_ok = arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] <= 4)
            if arr.dtype in (np.uint8, np.uint16) and layout_ok:
                return arr
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            from .inference import _pil_to_array

            arr, _ = _pil_to_array(img)
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, ImportError) as e:
        raise ValueError(f"{path}: not a readable image ({type(e).__name__}: {e})") from e
    if arr.dtype not in (np.uint8, np.uint16):  # float TIFFs etc.
        arr = np.rint(np.clip(arr, 0, 1) * 65535).astype(np.uint16)
    return arr


def _write_png16(arr: np.ndarray, f) -> None:
    import png

    c = 1 if arr.ndim == 2 else arr.shape[2]
    writer = png.Writer(arr.shape[1], arr.shape[0], greyscale=c in (1, 2), alpha=c in (2, 4), bitdepth=16)
    writer.write(f, arr.reshape(arr.shape[0], -1))


def save_image(arr: np.ndarray, path: str | os.PathLike) -> Path:
    """Write a uint8/uint16 array (layouts as ``read_image_any``) atomically; format from the suffix.

    uint16 arrays are written as 16-bit PNG (``path`` must end in .png) or TIFF.
    """
    path = Path(path)
    ext = path.suffix.lower()
    with atomic_path(path, make_parents=False) as tmp, open(tmp, "wb") as f:
        if ext in (".tif", ".tiff"):
            import tifffile

            tifffile.imwrite(f, arr)
        elif arr.dtype == np.uint16:
            if ext != ".png":
                raise ValueError(f"{path}: 16-bit images are saved as .png or .tif")
            _write_png16(arr, f)
        else:
            img = Image.fromarray(arr[:, :, 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr)
            fmt = Image.registered_extensions().get(ext)
            if fmt is None:
                raise ValueError(f"{path}: unknown image extension {ext!r}")
            if fmt == "JPEG" and img.mode not in ("L", "RGB"):
                img = img.convert("RGB")
            img.save(f, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return path


def output_path(src: Path, out_dir: Path, suffix: str, arr: np.ndarray) -> Path:
    """``out_dir/<stem><suffix><ext>``: the input's extension, or .png when it cannot hold the result."""
    ext = src.suffix.lower() if src.suffix.lower() in IMAGE_EXTENSIONS else ".png"
    has_alpha = arr.ndim == 3 and arr.shape[2] in (2, 4)
    if arr.dtype == np.uint16 and ext not in (".png", ".tif", ".tiff"):
        ext = ".png"
    if has_alpha and ext not in _ALPHA_EXTENSIONS:
        ext = ".png"
    if ext in (".gif", ".ppm", ".pgm"):
        ext = ".png"
    return out_dir / f"{src.stem}{suffix}{ext}"


# ----------------------------------------------------------------------------------------------
# command line


def _collect(inputs: list[str]) -> tuple[list[Path], list[str]]:
    files, errors = [], []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
        elif p.is_file():
            files.append(p)
        else:
            errors.append(f"{p}: no such file or folder")
    return files, errors


def _check_out_dir(out_dir: Path) -> str | None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=out_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        return f"cannot write to output folder {out_dir}: {e.strerror or e}"
    return None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="esrgan-upscale", description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="+", help="image files and/or folders")
    p.add_argument("-o", "--output", required=True, help="output folder (created if missing)")
    p.add_argument("--weights", required=True,
                   help="generator checkpoint: .safetensors or .pth, any key format")
    p.add_argument("--tile", type=int, default=None, help="tile size in input pixels (default: whole image)")
    p.add_argument("--tile-pad", type=int, default=10, help="context pixels around each tile (default 10)")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--scale", type=int, default=None, help="fail unless the model has this scale")
    p.add_argument("--alpha", default="bicubic", choices=("bicubic", "model"), help="how alpha is upscaled")
    p.add_argument("--suffix", default=None, help="added to output names (default: _x<scale>)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 some files failed, 2 could not start)."""
    args = build_parser().parse_args(argv)
    from tqdm.auto import tqdm

    from .checkpoint import load_generator
    from .inference import upscale
    from .runtime import default_device

    def err(msg):
        tqdm.write(f"esrgan-upscale: error: {msg}", file=sys.stderr)

    out_dir = Path(args.output)
    problem = _check_out_dir(out_dir)
    if problem:
        err(problem)
        return 2
    device = args.device or str(default_device())
    try:
        model = load_generator(args.weights, device=device)
    except (OSError, ValueError, TypeError) as e:
        err(f"could not load weights: {e}")
        return 2
    if args.scale is not None and args.scale != model.scale:
        err(f"--scale {args.scale} asked, but {args.weights} is an x{model.scale} model")
        return 2
    suffix = args.suffix if args.suffix is not None else f"_x{model.scale}"
    files, failures = _collect(args.inputs)
    for msg in failures:
        err(msg)
    done = skipped = 0
    for src in tqdm(files, desc="images", unit="img", disable=args.quiet or len(files) < 2):
        try:
            arr = read_image_any(src)
            dest = output_path(src, out_dir, suffix, arr)
            if dest.exists() and not args.overwrite:
                tqdm.write(f"skip {src}: {dest} exists (use --overwrite)")
                skipped += 1
                continue
            result = upscale(model, arr, tile=args.tile, tile_pad=args.tile_pad, precision=args.precision,
                             alpha=args.alpha, progress=not args.quiet)
            save_image(result, dest)
            done += 1
        except (ValueError, TypeError, OSError, RuntimeError) as e:
            err(str(e) if str(src) in str(e) else f"{src}: {e}")
            failures.append(str(src))
    print(f"{done} written, {skipped} skipped, {len(failures)} failed -> {out_dir}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
