"""Time one full ESRGAN-stage training iteration: naive fp32 vs the engine's defaults, side by side.

One iteration = generator step (RRDBNet, L1 + perceptual (VGG19 conv5_4) + RaGAN loss through the
discriminator) + discriminator step (BasicSR's VGG-style discriminator, 128x128), exactly
``Trainer.train_step`` of stage ``gan``. Sizes default to the paper's: RRDBNet nb 23, batch 16,
LR 32x32 -> HR 128x128.

- naive: ``precision=fp32``, ``channels_last=False`` (what a straightforward loop does)
- engine: ``TrainConfig`` defaults: ``precision=auto`` (bf16 on AMX CPUs / Ampere+ GPUs, fp16 with a
  GradScaler on older GPUs, fp32 elsewhere) and channels_last on CUDA (``--channels-last on`` forces it
  on a CPU too); ``--compile`` adds torch.compile

The perceptual loss uses a RANDOM VGG19 (no ImageNet weights offline): the cost is the same, the values
are meaningless. Each mode runs in its own subprocess, so the peak memory figures are separate.

    python benchmarks/bench_train.py                    # full size (very slow on a small CPU)
    python benchmarks/bench_train.py --batch 2 --iters 2
    python benchmarks/bench_train.py --batch 16 --nb 2
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings


def run_mode(args) -> dict:
    import torch

    from esrgan_lib.runtime import describe_hardware
    from esrgan_lib.training import TrainConfig, Trainer

    naive = args.mode == "naive"
    config = TrainConfig.paper(
        "gan",
        nb=args.nb,
        batch_size=args.batch,
        vgg_weights=None,
        allow_scratch=True,
        out="runs/bench_train",
        precision="fp32" if naive else args.precision,
        channels_last=False if naive else {"auto": None, "on": True, "off": False}[args.channels_last],
        compile=args.compile and not naive,
        device=args.device,
        num_workers=0,
        progress=False,
        threads=args.threads,
    )
    image = (torch.rand(3, 160, 160) * 255).to(torch.uint8).permute(1, 2, 0).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random-VGG warning: flagged in the output instead
        trainer = Trainer(config, train_images=[image], val_images={"x": image[:64, :64]})
    device = trainer.device
    gen = torch.Generator().manual_seed(0)
    lr = torch.rand(args.batch, 3, 32, 32, generator=gen).to(device)
    hr = torch.rand(args.batch, 3, 128, 128, generator=gen).to(device)
    fmt = trainer.memory_format
    lr, hr = lr.contiguous(memory_format=fmt), hr.contiguous(memory_format=fmt)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(args.warmup):
        trainer.train_step(lr, hr)
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(args.iters):
        t = time.perf_counter()
        trainer.train_step(lr, hr)
        sync()
        times.append(time.perf_counter() - t)
    peak_mem = (
        torch.cuda.max_memory_allocated(device) / 2**20
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    roofline = {}
    if naive:  # the work of one iteration and the device's fp32 peak (one extra, untimed iteration)
        from _roofline import count_gflop, matmul_peak_gflops

        roofline = {"gflop": count_gflop(lambda: trainer.train_step(lr, hr)),
                    "peak_gflops": matmul_peak_gflops(device)}
    return {
        **roofline,
        "mode": args.mode,
        "precision": trainer.precision,
        "channels_last": trainer.memory_format == torch.channels_last,
        "compile": config.compile,
        "seconds_per_iter": min(times),
        "mean_seconds": sum(times) / len(times),
        "peak_mib": peak_mem,
        "peak_kind": "CUDA allocated" if device.type == "cuda" else "process max RSS",
        "hardware": describe_hardware(device),
        "threads": torch.get_num_threads(),
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--nb", type=int, default=23, help="RRDB blocks (23 in the paper)")
    p.add_argument("--iters", type=int, default=3, help="timed iterations (the fastest is reported)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto", help="engine mode's precision (default auto)")
    p.add_argument("--compile", action="store_true", help="engine mode adds torch.compile")
    p.add_argument(
        "--channels-last",
        choices=["auto", "on", "off"],
        default="auto",
        help="engine mode's memory format (auto: channels_last on CUDA only)",
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--mode", choices=["naive", "engine"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.mode:
        print(json.dumps(run_mode(args)))
        return
    results = {}
    for mode in ("naive", "engine"):
        cmd = [sys.executable, __file__, "--mode", mode] + [
            a for a in (argv if argv is not None else sys.argv[1:])
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"{mode} run failed:\n{done.stderr[-3000:]}")
        results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"ESRGAN stage-2 iteration (G + D steps, perceptual loss), RRDBNet nb={args.nb}, batch {args.batch}, "
        f"LR 32x32 -> HR 128x128; {results['naive']['hardware']}; torch threads {results['naive']['threads']}"
    )
    print("NOTE: perceptual loss uses a RANDOM VGG19 (same cost; no ImageNet weights offline)")
    for mode, r in results.items():
        print(
            f"  {mode:6s} precision={r['precision']:4s} channels_last={r['channels_last']!s:5s} "
            f"compile={r['compile']!s:5s}: {r['seconds_per_iter']:8.3f} s/iter "
            f"(mean {r['mean_seconds']:.3f}), "
            f"peak {r['peak_mib']:.0f} MiB ({r['peak_kind']})"
        )
    ratio = results["naive"]["seconds_per_iter"] / results["engine"]["seconds_per_iter"]
    print(f"  speed-up engine vs naive: {ratio:.2f}x")
    from _roofline import report

    seconds = {mode: r["seconds_per_iter"] for mode, r in results.items()}
    for line in report(results["naive"]["gflop"], seconds, results["naive"]["peak_gflops"]):
        print(line)


if __name__ == "__main__":
    main()
