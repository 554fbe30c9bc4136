"""The GPU check of issue 13: full-size ESRGAN steps in every precision the card offers, in minutes.

For stage psnr and stage gan (RRDBNet nf 64, nb 23, batch 16, HR 128; ``Trainer.train_step``) and
each precision (fp32; fp16 with a GradScaler; bf16 where the GPU has it natively) it reports:

- iterations per second on a batch already on the GPU (CUDA-synchronised, warm-up excluded), and the
  share of the card's vendor peak those FLOPs reach (``esrgan_lib.training.budget``);
- peak memory (``torch.cuda.max_memory_allocated``) and the GradScaler scale after warm-up;
- the share of time spent waiting for data when a ``ShardPatchDataset`` DataLoader (2 workers,
  shards made here from DIV2K-like 480x480 tiles) feeds the steps;
- the precision ``auto`` picks (``esrgan_lib.runtime.pick_precision``);
- with 2 or more GPUs: a 2-process ``torchrun -m esrgan_lib.train`` run of a few steps.

The perceptual loss uses a RANDOM VGG19 (no network on a lent machine): the same cost, meaningless
values. The last line printed is one JSON summary. Run it through ``benchmarks/gpu_check.sh``;
``--tiny --device cpu`` runs the same code at toy sizes on a CPU (what the tests do).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

FULL = {"nf": 64, "nb": 23, "gc": 32, "batch_size": 16, "hr_size": 128, "d_nf": 64}
TINY = {"nf": 8, "nb": 1, "gc": 8, "batch_size": 2, "hr_size": 128, "d_nf": 8}
RANDOM_VGG_NOTE = "perceptual loss uses a RANDOM VGG19 (timing only; no ImageNet weights offline)"


def offered_precisions(device: torch.device) -> list[str]:
    """fp32, plus fp16 (CUDA) and bf16 where the device runs it natively."""
    from esrgan_lib.runtime import cpu_has_bf16, pick_precision

    if device.type != "cuda":
        return ["fp32"] + (["bf16"] if cpu_has_bf16() else [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        native_bf16 = pick_precision(device, "bf16") == "bf16"
    return ["fp32", "fp16"] + (["bf16"] if native_bf16 else [])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _trainer(stage: str, precision: str, device: torch.device, sizes: dict, out: Path):
    from esrgan_lib.training import TrainConfig, Trainer

    config = TrainConfig.paper(
        stage, **sizes, vgg_weights=None, allow_scratch=True, out=str(out), precision=precision,
        device=str(device), num_workers=0, progress=False, subimages=False,
    )  # fmt: skip
    image = (torch.rand(160, 160, 3) * 255).to(torch.uint8).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random-VGG warning: stated in the output instead
        return Trainer(config, train_images=[image], val_images={"x": image[:64, :64]})


def _timed_loop(trainer, batches, iters: int) -> tuple[float, float]:
    """(seconds in total, seconds waiting for ``next(batches)`` incl. the copy to the device)."""
    device, fmt = trainer.device, trainer.memory_format
    wait, start = 0.0, time.perf_counter()
    for _ in range(iters):
        t = time.perf_counter()
        lr, hr = next(batches)
        lr = lr.to(device, non_blocking=True).contiguous(memory_format=fmt)
        hr = hr.to(device, non_blocking=True).contiguous(memory_format=fmt)
        wait += time.perf_counter() - t
        trainer.train_step(lr, hr)
    _sync(device)
    return time.perf_counter() - start, wait


def measure(stage: str, precision: str, *, device, sizes: dict, shards: Path, workers: int,
            warmup: int, iters: int, out: Path) -> dict:  # fmt: skip
    """One stage/precision: iterations/s, peak memory, scaler scale, data-wait share (see module doc)."""
    from torch.utils.data import DataLoader

    from esrgan_lib.data import ShardPatchDataset

    device = torch.device(device)
    trainer = _trainer(stage, precision, device, sizes, out)
    b, hr_size = sizes["batch_size"], sizes["hr_size"]
    fixed = (torch.rand(b, 3, hr_size // 4, hr_size // 4, device=device),
             torch.rand(b, 3, hr_size, hr_size, device=device))  # fmt: skip
    _timed_loop(trainer, iter(lambda: fixed, None), warmup)
    scale = trainer.scaler.get_scale() if trainer.scaler.is_enabled() else None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    compute_s, _ = _timed_loop(trainer, iter(lambda: fixed, None), iters)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    ds = ShardPatchDataset(shards, scale=4, hr_size=hr_size, repeat=1000)
    loader = DataLoader(ds, batch_size=b, shuffle=True, num_workers=workers, drop_last=True,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0)  # fmt: skip
    batches = iter(loader)
    _timed_loop(trainer, batches, 2)  # workers start, first batches
    total_s, wait_s = _timed_loop(trainer, batches, iters)
    from esrgan_lib.training.budget import peak_tflops, step_tflop

    tflop = step_tflop(trainer.config)
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    peak_tf = peak_tflops(card, trainer.precision)
    return {
        "stage": stage,
        "precision": trainer.precision,
        "iters_per_s": round(iters / compute_s, 3),
        "tflop_per_step": round(tflop, 4),
        "share_of_peak": None if peak_tf is None else round(tflop * iters / compute_s / peak_tf, 3),
        "iters_per_s_with_loader": round(iters / total_s, 3),
        "data_wait_share": round(wait_s / total_s, 3),
        "peak_mib": None if peak is None else round(peak, 1),
        "grad_scaler_scale": scale,
    }


def torchrun_check(tiles: Path, out: Path, steps: int = 5, timeout: int = 240) -> dict:
    """A 2-process ``torchrun -m esrgan_lib.train`` run (stage psnr, full size, ``steps`` steps)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "esrgan_lib.train", "--preset", "paper", "--stage", "psnr", "--steps", str(steps),
           "--data", str(tiles), "--out", str(out), "--set", "log_every=1", "--set", "progress=false",
           "--set", "num_workers=2", "--set", "subimages=false"]  # fmt: skip
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout} s"}
    result = {"ok": done.returncode == 0, "seconds": round(time.perf_counter() - start, 1)}
    if done.returncode:
        result["error"] = (done.stderr or done.stdout)[-1500:]
    log = out / "log.jsonl"
    result["logged_steps"] = len(log.read_text().splitlines()) if log.exists() else 0
    return result


def run_check(args) -> dict:
    """Everything the check measures, as one dict (the JSON summary)."""
    from bench_data import make_tiles

    from esrgan_lib.data import prepare_shards
    from esrgan_lib.runtime import describe_hardware, pick_precision

    device = torch.device(args.device)
    sizes = TINY if args.tiny else FULL
    precisions = args.precisions or offered_precisions(device)
    summary = {"hardware": describe_hardware(device), "torch": torch.__version__, "sizes": sizes,
               "auto_precision": pick_precision(device, "auto"), "note": RANDOM_VGG_NOTE,
               "runs": []}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="gpu_check-") as tmp:
        tiles = Path(tmp) / "tiles"
        make_tiles(tiles, args.tiles)
        shards = prepare_shards(tiles, Path(tmp) / "shards", scale=4)
        for stage in args.stages:
            for precision in precisions:
                run = measure(stage, precision, device=device, sizes=sizes, shards=shards,
                              workers=args.workers, warmup=args.warmup, iters=args.iters,
                              out=Path(tmp) / "run")  # fmt: skip
                print(f"  {json.dumps(run)}", flush=True)
                summary["runs"].append(run)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
        n_gpus = torch.cuda.device_count() if device.type == "cuda" else 0
        if n_gpus >= 2 and not args.no_torchrun:
            summary["torchrun"] = torchrun_check(tiles, Path(tmp) / "ddp")
        else:
            summary["torchrun"] = f"skipped ({n_gpus} GPU(s))"
    return summary


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--tiny", action="store_true", help="toy sizes (nf 8, nb 1, batch 2): tests on a CPU")
    p.add_argument("--stages", nargs="+", default=["psnr", "gan"], choices=["psnr", "gan"])
    p.add_argument("--precisions", nargs="+", choices=["fp32", "fp16", "bf16"], help="default: all offered")
    p.add_argument("--iters", type=int, default=10, help="timed iterations per setting")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers for the data-wait share")
    p.add_argument("--tiles", type=int, default=16, help="480x480 tiles made for the shards")
    p.add_argument("--no-torchrun", action="store_true")
    args = p.parse_args(argv)
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device here (use --tiny --device cpu to exercise the code)")
    print(f"gpu_check: {RANDOM_VGG_NOTE}", flush=True)
    summary = run_check(args)
    for run in summary["runs"]:
        share = "" if run["share_of_peak"] is None else f" = {run['share_of_peak']:.0%} of peak"
        print(f"{run['stage']:4s} {run['precision']:4s} {run['iters_per_s']:7.2f} it/s{share} "
              f"(with loader {run['iters_per_s_with_loader']:.2f}, waiting {run['data_wait_share']:.0%}), "
              f"peak {run['peak_mib']} MiB, scaler {run['grad_scaler_scale']}")  # fmt: skip
    print(f"auto precision: {summary['auto_precision']}; torchrun: {summary['torchrun']}")
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
