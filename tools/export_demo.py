"""Copy a run's EMA generator into esrgan_lib/weights/ with its metadata plus Set5/Set14 Y-PSNR.

A maintainer's script (not part of the package): it needs the benchmark images, which a learner's
clone does not have.

usage: python tools/export_demo.py RUN_DIR_OR_FILE DEST [key=value ...] [--data-root DIR]

``--data-root`` defaults to ``shared/data`` beside the repository or one of its parents
(``../shared/data`` from its root), or ``$ESRGAN_DATA`` where that holds Set5.

The PSNR is computed exactly as the trainer validates (``esrgan_lib.training.evaluator``: MATLAB
bicubic LR, Y channel, ``crop_border = scale``), so the numbers match the run's own log.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["benchmark_psnr", "export_demo", "main"]

BENCHMARKS = ("Set5", "Set14")
REPO = Path(__file__).resolve().parents[1]


def _default_data_root() -> Path:
    """``$ESRGAN_DATA`` or the ``shared/data`` beside the repository or one of its parents (a git
    worktree sits a level deeper); ``../shared/data`` where none has Set5."""
    from esrgan_lib.notebook import course_data_root

    return course_data_root("Set5", start=REPO) or REPO.parent / "shared" / "data"


DEFAULT_DATA_ROOT = _default_data_root()


def benchmark_psnr(model, name: str, root: str | Path, scale: int = 4) -> tuple[float, float]:
    """Mean Y-PSNR (dB) of ``model`` and of bicubic on benchmark ``name`` read from ``root``."""
    from esrgan_lib.data import load_benchmark
    from esrgan_lib.training.evaluator import psnr_on_images, validation_pairs

    pairs = validation_pairs(load_benchmark(name, root=str(root)), scale)
    sr = psnr_on_images(model, pairs, scale, device="cpu")
    return sum(sr.values()) / len(sr), sum(p[3] for p in pairs) / len(pairs)


def export_demo(run: str | Path, dest: str | Path, extra: dict | None = None, *, root=DEFAULT_DATA_ROOT):
    """Write ``dest`` (safetensors) from ``run`` (a run folder or a generator file) with the run's
    metadata, the Set5/Set14 Y-PSNR and ``extra``; returns the metadata written."""
    from esrgan_lib.checkpoint import load_generator, read_metadata, save_generator
    from esrgan_lib.training.checkpoints import GENERATOR_NAME

    run = Path(run)
    src = run if run.suffix == ".safetensors" else run / GENERATOR_NAME
    model = load_generator(src)
    meta = {k: v for k, v in read_metadata(src).items() if k != "format" and not k.startswith("esrgan_lib.")}
    scale = int(getattr(model, "scale", 4))
    for name in BENCHMARKS:
        sr, bicubic = benchmark_psnr(model, name, root, scale)
        meta[f"{name.lower()}_psnr_y"] = f"{sr:.3f}"
        meta[f"{name.lower()}_psnr_y_bicubic"] = f"{bicubic:.3f}"
    meta.update(extra or {})
    save_generator(model, dest, metadata=meta)
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="export_demo", description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run folder (its generator.safetensors) or a generator file")
    parser.add_argument("dest", help="the .safetensors file to write")
    parser.add_argument("extra", nargs="*", metavar="KEY=VALUE", help="more metadata")
    parser.add_argument("--data-root", default=str(DEFAULT_DATA_ROOT), help="folder holding Set5/ and Set14/")
    args = parser.parse_args(argv)
    bad = [a for a in args.extra if "=" not in a]
    if bad:
        parser.error(f"metadata must be KEY=VALUE, got {bad}")
    import torch

    torch.set_num_threads(1)
    meta = export_demo(args.run, args.dest, dict(a.split("=", 1) for a in args.extra), root=args.data_root)
    for k, v in meta.items():
        print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
