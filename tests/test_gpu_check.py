"""benchmarks/gpu_check.py runs its measurements at toy sizes on a CPU, so it cannot rot before a GPU run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_gpu_check_measures_at_tiny_size_on_cpu(tmp_path):
    cmd = [sys.executable, str(BENCH / "gpu_check.py"), "--tiny", "--device", "cpu",
           "--stages", "psnr", "gan", "--precisions", "fp32", "--iters", "1", "--warmup", "1", "--workers",
           "1", "--tiles", "1"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "RANDOM VGG19" in done.stdout
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["auto_precision"] in ("fp32", "bf16")
    assert summary["torchrun"].startswith("skipped")
    runs = {r["stage"]: r for r in summary["runs"]}
    assert set(runs) == {"psnr", "gan"} and all(r["precision"] == "fp32" for r in runs.values())
    for run in runs.values():
        assert run["iters_per_s"] > 0 and run["iters_per_s_with_loader"] > 0
        assert 0 <= run["data_wait_share"] <= 1
        assert run["grad_scaler_scale"] is None  # no scaler in fp32
        assert run["share_of_peak"] is None  # no vendor peak for a CPU
    assert runs["gan"]["tflop_per_step"] > runs["psnr"]["tflop_per_step"] > 0


def test_gpu_check_sh_is_strict_bash():
    text = (BENCH / "gpu_check.sh").read_text()
    assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text
    assert subprocess.run(["bash", "-n", str(BENCH / "gpu_check.sh")]).returncode == 0
