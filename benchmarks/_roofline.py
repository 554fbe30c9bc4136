"""How close a run comes to the hardware's arithmetic limit: the bound on what any lever can give.

Shared by the benchmarks (run them as ``python benchmarks/bench_*.py``, which puts this folder on the path).
"""

from __future__ import annotations

import time

import torch


def count_gflop(fn) -> float:
    """GFLOP (2 x multiply-adds of convolutions and matrix products, forward and backward) of ``fn()``."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def matmul_peak_gflops(device: str | torch.device = "cpu", dtype=torch.float32, n: int = 2048, runs: int = 5):
    """Practical peak of ``device`` in ``dtype``: the best GFLOP/s of an ``n x n`` matrix product."""
    a = torch.rand(n, n, device=device, dtype=dtype)
    b = torch.rand(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(runs + 1):
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        a @ b
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def report(work_gflop: float, seconds: dict[str, float], peak_gflops: float, goal: float = 4.0) -> list[str]:
    """Lines giving each mode's GFLOP/s, its share of the peak and what ``goal`` x the baseline would need.
    ``seconds``: {mode: seconds per call}, the first entry being the baseline."""
    lines = [f"work: {work_gflop:.1f} GFLOP per call; fp32 matmul peak here {peak_gflops:.0f} GFLOP/s"]
    for mode, sec in seconds.items():
        rate = work_gflop / sec
        lines.append(f"  {mode}: {rate:.0f} GFLOP/s = {rate / peak_gflops:.0%} of that peak")
    base = work_gflop / next(iter(seconds.values()))
    need = goal * base / peak_gflops
    lines.append(f"  {goal:g}x the baseline at the same arithmetic would need {need:.0%} of the peak;")
    lines.append("  beyond 100%, only fewer FLOPs or faster arithmetic (bf16 on AMX, fp16 on GPUs) can help")
    return lines
