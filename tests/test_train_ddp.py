"""torchrun with 2 CPU processes (gloo) gives the same weights as 1 process with the same global batch.

L1 with mean reduction over each process's half of the batch, averaged over processes by DDP, is the
mean over the global batch; ``SeededBatchSampler`` gives the two processes the two halves of the batch
the single process sees. So after a few Adam steps the weights agree up to float rounding.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from esrgan_lib.training.distributed import DistInfo
from esrgan_lib.training.state import latest_checkpoint

ARGS = [
    "--preset",
    "smoke",
    "--batch",
    "4",
    "--set",
    "steps=3",
    "--set",
    "hr_size=24",
    "--set",
    "val_every=3",
    "--set",
    "milestones=2",
    "--set",
    "threads=1",
]


def write_images(folder, n: int, size: int, seed: int) -> str:
    """Small smooth random RGB PNGs (fast to read, unlike the sample photos)."""
    import numpy as np
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        small = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize((size, size), Image.BICUBIC).save(folder / f"img{i}.png")
    return str(folder)


def run_cli(extra: list[str], out, nproc: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    cmd = (launcher if nproc > 1 else [sys.executable]) + [
        "-m",
        "esrgan_lib.train",
        *ARGS,
        *extra,
        "--out",
        str(out),
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    data = [
        "--data",
        write_images(tmp_path / "train", 3, 64, 0),
        "--val-data",
        write_images(tmp_path / "val", 1, 32, 1),
    ]
    single = run_cli(data, tmp_path / "one", 1)
    assert single.returncode == 0, single.stderr[-3000:]
    double = run_cli(data, tmp_path / "two", 2)
    assert double.returncode == 0, double.stderr[-3000:]
    assert "world_size" not in double.stderr  # no errors about the process group
    a = torch.load(latest_checkpoint(tmp_path / "one"), weights_only=True)
    b = torch.load(latest_checkpoint(tmp_path / "two"), weights_only=True)
    assert a["step"] == b["step"] == 3
    # training moved the weights (else the EMA copy would still equal them) ...
    assert not torch.equal(a["generator"]["conv_first.weight"], a["ema"]["module"]["conv_first.weight"])
    # ... and both runs moved them the same way
    for key, value in a["generator"].items():
        torch.testing.assert_close(b["generator"][key], value, rtol=1e-4, atol=1e-6, msg=key)
    for key, value in a["ema"]["module"].items():
        torch.testing.assert_close(b["ema"]["module"][key], value, rtol=1e-4, atol=1e-6, msg=key)
    # only rank 0 wrote: one log line per event, not two
    lines = (tmp_path / "two" / "log.jsonl").read_text().splitlines()
    assert len(lines) == len((tmp_path / "one" / "log.jsonl").read_text().splitlines())


def test_dist_info_defaults_to_single_process(monkeypatch):
    from esrgan_lib.training.distributed import setup_distributed

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = setup_distributed("cpu")
    assert info == DistInfo() and info.is_main and not info.enabled
