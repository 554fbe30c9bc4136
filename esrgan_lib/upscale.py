"""Command line: upscale image files or folders with a generator checkpoint.

    python -m esrgan_lib.upscale photo.png more_photos/ -o out/ --weights esrgan_x4.safetensors
    esrgan-upscale big.jpg -o out/ --weights ESRGAN_SRx4_DF2KOST_official-ff704c30.pth --tile 256

Weights: any format ``esrgan_lib.checkpoint.load_generator`` reads. Folders are read one level
deep (image extensions only). A file that fails is reported and the others still run; the exit
code is 1 if any failed, 2 if nothing could start (bad weights, unwritable output folder, bad
options, output names that clash). Outputs are written atomically (temp file + rename) as
``<stem><suffix><ext>``; existing outputs are skipped unless ``--overwrite``. Before anything is
written, the output names are planned from the file headers: if two inputs would give the same
output name (``a/x.png`` and ``b/x.png``, or ``x.png`` and ``x.gif``), or an output would replace an
input, the run stops with exit code 2 and names the clash. 16-bit inputs give 16-bit PNGs, float
TIFFs give float TIFFs; images with alpha keep it (PNG unless the input format holds alpha: PNG,
WebP, TIFF). Animated GIFs and multi-page TIFFs use their first frame, with a warning.

Images are read with ``esrgan_lib.img_util.read_image(path, rgb=False)`` (grey, alpha, 16 bits and
floats kept) and written with ``esrgan_lib.img_util.save_image``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from . import img_util
from .img_util import IMAGE_EXTENSIONS, read_image, save_image
from .runtime import PRECISIONS

__all__ = ["main", "output_path", "IMAGE_EXTENSIONS"]

_ALPHA_EXTENSIONS = (".png", ".webp", ".tif", ".tiff")


# ----------------------------------------------------------------------------------------------
# output names


def output_path(src: Path, out_dir: Path, suffix: str, arr) -> Path:
    """``out_dir/<stem><suffix><ext>``: the input's extension, or .png when it cannot hold the result.

    ``arr`` is the image read (or its ``esrgan_lib.img_util.ImageInfo``): alpha and 16 bits need
    PNG, WebP or TIFF; float images need TIFF.
    """
    ext = src.suffix.lower() if src.suffix.lower() in IMAGE_EXTENSIONS else ".png"
    if np.dtype(arr.dtype).kind == "f":
        return out_dir / f"{src.stem}{suffix}{ext if ext in ('.tif', '.tiff') else '.tif'}"
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
        if p.is_dir():  # its images by name; one warning lists the other files
            try:
                files += img_util.list_images(p, check="name")
            except ValueError as e:  # a folder with no image
                errors.append(str(e))
        elif p.is_file():
            files.append(p)
        else:
            errors.append(f"{p}: no such file or folder")
    return files, errors


def _plan(files: list[Path], out_dir: Path, suffix: str) -> tuple[dict[Path, Path], list[str]]:
    """Each readable input's output path, from the file headers; and the clashes that forbid the run.

    Two inputs whose outputs would have the same name, or an output that is an input, are clashes.
    Files whose header cannot be read get no output here (they are reported when read).
    """
    dests: dict[Path, Path] = {}
    for src in files:
        try:
            dests[src] = output_path(src, out_dir, suffix, img_util.probe_image(src))
        except (ValueError, OSError):
            continue
    inputs = {src.resolve(): src for src in files}
    by_dest: dict[Path, list[Path]] = {}
    for src, dest in dests.items():
        by_dest.setdefault(dest.resolve(), []).append(src)
    clashes = []
    for dest, srcs in by_dest.items():
        if len(srcs) > 1:
            clashes.append(f"{', '.join(map(str, srcs))} would all be written to {dest}")
        if dest in inputs:
            clashes.append(f"{srcs[0]} would be written over the input {inputs[dest]}")
    if clashes:
        clashes.append("use another output folder (-o), another --suffix, or upscale them separately")
    return dests, clashes


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
    p.add_argument("--precision", default="auto", choices=PRECISIONS)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--backend", default="auto", choices=("auto", "torch", "ncnn"),
                   help="ncnn: the model exported once (cached beside the weights) and run by Tencent's ncnn "
                        "runtime, on a Vulkan GPU if it sees one, else the CPU; auto (default): ncnn on a "
                        "CPU when installed and the model is an RRDBNet, else torch")
    p.add_argument("--scale", type=int, default=None, help="fail unless the model has this scale")
    p.add_argument("--alpha", default="bicubic", choices=("bicubic", "model"), help="how alpha is upscaled")
    p.add_argument("--suffix", default=None, help="added to output names (default: _x<scale>)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars (there are none either when stderr is not a terminal)")
    return p


def _say(msg: str, file=None) -> None:
    """One line through tqdm (the progress bar is cleared and redrawn around it), flushed at once."""
    from tqdm.auto import tqdm

    file = file or sys.stdout
    tqdm.write(msg, file=file)
    file.flush()


def _err(msg: str) -> None:
    _say(f"esrgan-upscale: error: {msg}", sys.stderr)


def _bad_options(args) -> str | None:
    if args.tile is not None and args.tile < 1:
        return f"--tile must be a positive number of pixels, got {args.tile}"
    if args.tile_pad < 0:
        return f"--tile-pad must be >= 0, got {args.tile_pad}"
    if args.scale is not None and args.scale < 1:
        return f"--scale must be >= 1, got {args.scale}"
    return None


def _load(args):
    """(model, None) or (None, the reason it cannot start)."""
    from .checkpoint import load_generator
    from .inference import pick_backend
    from .runtime import default_device

    problem = _bad_options(args) or _check_out_dir(Path(args.output))
    if problem:
        return None, problem
    device = args.device or ("cpu" if args.backend == "ncnn" else str(default_device()))
    try:
        model = load_generator(args.weights, device=device)
    except (OSError, ValueError, TypeError) as e:
        return None, f"could not load weights: {e}"
    if args.scale is not None and args.scale != model.scale:
        return None, f"--scale {args.scale} asked, but {args.weights} is an x{model.scale} model"
    try:
        pick_backend(model, args.backend, device=args.device, precision=args.precision)
    except (ValueError, ImportError) as e:
        return None, f"--backend {args.backend}: {e}"
    return model, None


def _upscale_one(model, src: Path, dest: Path | None, args) -> bool:
    """Read, upscale and write one file; False if it was skipped because its output exists."""
    from .inference import upscale

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        arr = read_image(src, rgb=False)
    for w in caught:
        _say(f"esrgan-upscale: warning: {w.message}", sys.stderr)
    dest = dest or output_path(src, Path(args.output), args.suffix, arr)
    if dest.exists() and not args.overwrite:
        _say(f"skip {src}: {dest} exists (use --overwrite)")
        return False
    result = upscale(model, arr, tile=args.tile, tile_pad=args.tile_pad, precision=args.precision,
                     alpha=args.alpha, progress=not args.quiet and sys.stderr.isatty(), backend=args.backend)
    save_image(result, dest)
    return True


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 some files failed, 2 could not start)."""
    args = build_parser().parse_args(argv)
    from tqdm.auto import tqdm

    model, problem = _load(args)
    if problem:
        _err(problem)
        return 2
    args.suffix = args.suffix if args.suffix is not None else f"_x{model.scale}"
    out_dir = Path(args.output)
    files, failures = _collect(args.inputs)
    dests, clashes = _plan(files, out_dir, args.suffix)
    if clashes:
        _err("output names clash, nothing was written:\n  " + "\n  ".join(clashes))
        return 2
    for msg in failures:
        _err(msg)
    done = skipped = 0
    bars = not args.quiet and sys.stderr.isatty()  # a log file gets no bar redraws mixed into its lines
    for src in tqdm(files, desc="images", unit="img", disable=not bars or len(files) < 2):
        try:
            if _upscale_one(model, src, dests.get(src), args):
                done += 1
            else:
                skipped += 1
        except (ValueError, TypeError, OSError, RuntimeError) as e:
            _err(str(e) if str(src) in str(e) else f"{src}: {e}")
            failures.append(str(src))
    _say(f"{done} written, {skipped} skipped, {len(failures)} failed -> {out_dir}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
