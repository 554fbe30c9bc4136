"""The GPU check: what the finale's training step does on the card at hand, measured side by side in one run.

Run it as ``bash benchmarks/gpu_check.sh`` on a CUDA machine (at most 8 minutes). For the psnr and gan steps
at full size (RRDBNet nf 64, nb 23, batch 16, HR 128) and each precision the card offers (fp32; fp16 with the
gradient scaler; bf16 where native) it prints iterations per second, the share of the card's vendor peak
that the step's FLOPs reach, peak memory and the gradient scaler's scale after warm-up; then the precision
``auto`` chose, the share of time a 2-worker data loader keeps the GPU waiting, and (with 2 or more GPUs) a
2-process ``torchrun`` run. The perceptual loss uses a random VGG19 (the check runs offline): timing only.

``--tiny --device cpu`` runs the same code at toy sizes, so a CPU test keeps it from rotting.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings

import torch

from esrgan_lib.runtime import describe_hardware, pick_precision
from esrgan_lib.training import TrainConfig, Trainer
from esrgan_lib.training.budget import peak_tflops, step_tflop

FULL = dict(nf=64, nb=23, gc=32, batch_size=16, hr_size=128, discriminator="vgg128")
TINY = dict(nf=8, nb=1, gc=4, batch_size=2, hr_size=96, discriminator="vgg")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def precisions(device: torch.device) -> list[str]:
    """The precisions worth timing here: fp32 everywhere; fp16 and native bf16 on GPUs."""
    if device.type != "cuda":
        return ["fp32"]
    out = ["fp32", "fp16"]
    if pick_precision(device, "auto") == "bf16":
        out.append("bf16")
    return out


def make_trainer(stage: str, precision: str, sizes: dict, device: str, out: str) -> Trainer:
    config = TrainConfig(stage=stage, precision=precision, device=device, out=out, allow_scratch=True,
                         vgg_weights=None, progress=False, steps=10**6, ema_decay=0.999, **sizes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random-VGG warning: known, said in the output
        return Trainer(config)


def time_steps(trainer: Trainer, warmup: int, steps: int) -> dict:
    """Iterations per second of ``train_step`` on one resident batch, peak memory, the scaler's scale."""
    c, device = trainer.config, trainer.device
    lr_side = c.hr_size // c.scale
    lr_batch = torch.rand(c.batch_size, 3, lr_side, lr_side, device=device)  # (B, 3, h, w)
    hr_batch = torch.rand(c.batch_size, 3, c.hr_size, c.hr_size, device=device)  # (B, 3, H, W)
    for _ in range(warmup):
        trainer.train_step(lr_batch, hr_batch)
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(lr_batch, hr_batch)
    _sync(device)  # sync point: the queued kernels finish before the clock stops
    seconds = (time.perf_counter() - start) / steps
    result = {"it_per_s": 1 / seconds, "ms_per_step": 1000 * seconds, "scaler_scale": None, "peak_gib": None}
    if trainer.scaler.is_enabled():
        result["scaler_scale"] = float(trainer.scaler.get_scale())
    if device.type == "cuda":
        result["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return result


def data_wait_share(trainer: Trainer, steps: int, workers: int) -> float:
    """Share of wall time spent waiting for the next batch from a ``workers``-process loader."""
    from torch.utils.data import DataLoader

    from esrgan_lib.data import SRPatchDataset, sample_images

    c = trainer.config
    dataset = SRPatchDataset(sample_images(), hr_size=c.hr_size, scale=c.scale, repeat=10**4)
    loader = iter(DataLoader(dataset, batch_size=c.batch_size, num_workers=workers, shuffle=True,
                             pin_memory=trainer.device.type == "cuda", persistent_workers=workers > 0))
    next(loader)
    waiting, start = 0.0, time.perf_counter()
    for _ in range(steps):
        t = time.perf_counter()
        lr_batch, hr_batch = next(loader)
        waiting += time.perf_counter() - t
        trainer.train_step(lr_batch.to(trainer.device, non_blocking=True),
                           hr_batch.to(trainer.device, non_blocking=True))
        _sync(trainer.device)
    return waiting / (time.perf_counter() - start)


def torchrun_check(steps: int) -> str:
    """A 2-process ``torchrun`` of the training CLI for a few steps; returns its last output line."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "esrgan_lib.train", "--preset", "smoke", "--stage", "psnr", "--out", out,
               "--steps", str(steps)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return f"rc {proc.returncode}: {lines[-1] if lines else ''}"


def run(device: str, tiny: bool, warmup: int, steps: int) -> dict:
    """Every measurement, as one dict (also printed line by line)."""
    dev = torch.device(device)
    sizes = TINY if tiny else FULL
    summary = {"hardware": describe_hardware(dev), "auto_precision": pick_precision(dev, "auto"),
               "sizes": sizes, "vgg": "random (offline): timing only", "runs": []}
    print(summary["hardware"], "| vgg19: random, timing only", flush=True)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    with tempfile.TemporaryDirectory() as out:
        for stage in ("psnr", "gan"):
            tflop = step_tflop(TrainConfig(stage=stage, **sizes))
            for precision in precisions(dev):
                trainer = make_trainer(stage, precision, sizes, device, out)
                result = {"stage": stage, "precision": trainer.precision, "tflop_per_step": tflop,
                          **time_steps(trainer, warmup, steps)}
                peak = peak_tflops(name, trainer.precision)
                result["share_of_peak"] = tflop * result["it_per_s"] / peak if peak else None
                summary["runs"].append(result)
                print(json.dumps(result), flush=True)
                del trainer
        trainer = make_trainer("gan", summary["auto_precision"], sizes, device, out)
        summary["data_wait_share_2_workers"] = data_wait_share(trainer, steps, workers=2)
    print(f"auto precision: {summary['auto_precision']}; data wait with 2 workers: "
          f"{summary['data_wait_share_2_workers']:.0%} of the gan step's wall time", flush=True)
    if dev.type == "cuda" and torch.cuda.device_count() >= 2:
        summary["torchrun_2_gpus"] = torchrun_check(steps=20)
        print("torchrun, 2 processes:", summary["torchrun_2_gpus"], flush=True)
    return summary


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="toy sizes (a CPU test of this script)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device here (use --device cpu --tiny to try the script)")
    summary = run(args.device, args.tiny, args.warmup, args.steps)
    print("SUMMARY " + json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
