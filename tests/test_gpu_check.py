"""``benchmarks/gpu_check.py`` runs end to end at toy sizes on a CPU, so the GPU check cannot rot unseen."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_runs_tiny_on_cpu():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--tiny",
         "--warmup", "1", "--steps", "2"],
        capture_output=True, text=True, timeout=600, check=False, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.split("SUMMARY ", 1)[1])
    runs = {(r["stage"], r["precision"]): r for r in summary["runs"]}
    assert set(runs) == {("psnr", "fp32"), ("gan", "fp32")}
    assert all(r["it_per_s"] > 0 and r["tflop_per_step"] > 0 for r in runs.values())
    assert runs[("gan", "fp32")]["tflop_per_step"] > runs[("psnr", "fp32")]["tflop_per_step"]
    assert 0 <= summary["data_wait_share_2_workers"] <= 1
    assert "random" in summary["vgg"] and summary["auto_precision"] == "fp32"


def test_gpu_check_refuses_without_cuda():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py")],
                          capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)
    assert proc.returncode != 0 and "no CUDA device" in proc.stderr
