"""Command line training: ``python -m esrgan_lib.train`` (console script ``esrgan-train``).

Examples::

    # stage 1 (PSNR-oriented) on the offline sample photos, ~15 min on 2 idle CPU cores
    python -m esrgan_lib.train --preset cpu --stage psnr --out runs/psnr_cpu --val-data ../shared/data/Set5
    # stage 2 (ESRGAN) from it; --set vgg_weights=none opts in to a RANDOM VGG (code test only)
    python -m esrgan_lib.train --preset cpu --stage gan --pretrained runs/psnr_cpu --out runs/gan_cpu
    # DIV2K on a Colab T4, checkpoint folder on Google Drive, continue after a disconnect
    python -m esrgan_lib.train --preset colab_t4 --data /content/DIV2K_train_HR \\
        --out /content/drive/MyDrive/esrgan/psnr --resume
    # SRGAN (Ledig et al.): SRResNet with MSE at HR 96, then VGG54 after ReLU + 1e-3 BCE GAN, BN discriminator
    python -m esrgan_lib.train --preset colab_t4 --arch srresnet --stage psnr --out runs/srresnet
    python -m esrgan_lib.train --preset colab_t4 --arch srresnet --stage gan --gan vanilla \\
        --pretrained runs/srresnet --out runs/srgan --max-minutes 30
    # several GPUs / nodes: PyTorch's own launcher; --batch is the global batch
    torchrun --nproc_per_node=4 -m esrgan_lib.train --preset paper --data DF2K_HR --set subimages=true

``--set key=value`` overrides any ``TrainConfig`` field (converted to the field's type); see
``esrgan_lib.training.config`` (and ``esrgan_lib.training.presets``: the presets, the GAN recipes and
which value wins). Settings are checked before anything is built or read. ``--max-minutes`` stops
cleanly once that much time has passed (checkpoint and generator written; continue with ``--resume``).

Exit codes: 0 done (or stopped by ``--max-minutes``); 2 invalid option or setting (one line naming the
field, nothing trained); 3 training diverged (a loss or the weights became NaN/Inf; names the last
checkpoint actually written); 4 a problem found when starting or running: data, files, pretrained
weights, devices (one line naming the file or field); 130 stopped by Ctrl-C or SIGTERM after saving a
checkpoint (continue with ``--resume``).
"""

from __future__ import annotations

import argparse
import shlex
import sys

from .training import TrainConfig, Trainer, TrainingDiverged
from .training.config import ARCHS, GANS, STAGES
from .training.distributed import cleanup_distributed

EXIT_OK, EXIT_USAGE, EXIT_DIVERGED, EXIT_DATA, EXIT_INTERRUPTED = 0, 2, 3, 4, 130


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="esrgan-train",
        description="Train ESRGAN / SRGAN generators (stage psnr, then stage gan). "
        "Multi-GPU: torchrun --nproc_per_node=N -m esrgan_lib.train ...",
    )
    p.add_argument(
        "--preset", choices=TrainConfig.PRESETS, default="cpu", help="named configuration (default cpu)"
    )
    p.add_argument("--stage", choices=STAGES, default="psnr",
                   help="psnr: the pixel loss only (L1; MSE for srresnet in colab_t4/paper); gan: stage 2")
    p.add_argument("--arch", choices=ARCHS, default="rrdbnet", help="generator (srresnet for SRGAN)")
    p.add_argument(
        "--gan",
        choices=GANS,
        default="ragan",
        help="ragan: ESRGAN paper; wgan-gp: the giakou4/gans ESRGAN README's recipe; vanilla: SRGAN "
        "(with --arch srresnet)",
    )
    p.add_argument("--data", help="folder of HR training images (default: scikit-image sample photos)")
    p.add_argument(
        "--val-data", help="folder of HR validation images, e.g. Set5 (default: 2 held-out photos)"
    )
    p.add_argument("--out", help="run folder: checkpoint-a/b.pt, generator.safetensors, log.jsonl, samples/")
    p.add_argument("--pretrained", help="stage-psnr generator for --stage gan (file or run folder)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in <out>")
    p.add_argument("--steps", type=int, help="total iterations (overrides the preset)")
    p.add_argument("--batch", type=int, help="global batch size (split over torchrun processes)")
    p.add_argument("--max-minutes", type=float, help="stop cleanly after this many minutes (checkpoint, "
                   "export; validation and checkpoint writing count); continue with --resume")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any TrainConfig field, e.g. --set lr_g=1e-4 --set milestones=1000,2000",
    )
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    return p


def config_from_args(args: argparse.Namespace, argv: list[str]) -> TrainConfig:
    fields = {
        "data": args.data,
        "val_data": args.val_data,
        "out": args.out,
        "pretrained": args.pretrained,
        "steps": args.steps,
        "batch_size": args.batch,
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    fields["extra"] = {"command": "python -m esrgan_lib.train " + shlex.join(argv)}
    config = TrainConfig.from_preset(args.preset, args.stage, gan=args.gan, arch=args.arch, **fields)
    return config.override(args.overrides)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args, argv)
    except ValueError as e:
        build_parser().error(str(e))
    if args.print_config:
        for key, value in config.to_dict().items():
            print(f"{key} = {value!r}")
        return 0
    finished = False
    try:
        code = run(config, resume=args.resume, max_minutes=args.max_minutes)
        finished = True
        return code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except TrainingDiverged as e:
        return _fail(e, EXIT_DIVERGED)
    except (ValueError, OSError, RuntimeError) as e:  # bad data, files, devices: one line
        return _fail(e, EXIT_DATA)
    finally:
        cleanup_distributed(wait=finished)


def run(config: TrainConfig, *, resume: bool = False, max_minutes: float | None = None) -> int:
    """Train ``config`` to the end (or for ``max_minutes``) and print a one-line summary (main process);
    returns 0."""
    trainer = Trainer(config, resume=resume)
    path = trainer.fit(max_seconds=None if max_minutes is None else 60 * max_minutes)
    if trainer.is_main:
        val = trainer.last_val
        extra = f"; validation Y-PSNR {val['psnr']:.2f} dB (bicubic {val['psnr_bicubic']:.2f})" if val else ""
        if trainer.step < config.steps:
            print(f"stopped by --max-minutes at step {trainer.step} of {config.steps}; EMA generator in "
                  f"{path}{extra}; continue with --resume")
        else:
            print(f"done: {trainer.step} steps; EMA generator in {path}{extra}")
    return EXIT_OK


def _fail(error: BaseException, code: int) -> int:
    message = " ".join(str(error).split()) or type(error).__name__
    print(f"esrgan-train: error: {message}", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
