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

from esrgan_lib.training.checkpoints import latest_checkpoint
from esrgan_lib.training.distributed import DistInfo

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
    "--set",
    "precision=fp32",  # bf16 rounds differently in 1 and 2 processes (conftest's patch misses subprocesses)
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


def _time_limited_rank(rank: int, port: int, out: str, results: str) -> None:
    """One of two gloo processes; only rank 1's clock runs past the limit (at its first sync point)."""
    import json

    from esrgan_lib.data import sample_images
    from esrgan_lib.training import TrainConfig, Trainer, loop
    from esrgan_lib.training.distributed import cleanup_distributed

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    config = TrainConfig.smoke(out=out, device="cpu", batch_size=2, hr_size=24, steps=12, log_every=2,
                               val_every=100, sample_every=100, checkpoint_every=100)
    (photo,) = sample_images(["astronaut"])
    trainer = Trainer(config, train_images=[photo[:96, :96], photo[96:192, :96]],
                      val_images={"x": photo[:48, :48]})
    loop.perf_counter = (lambda: 100.0 * trainer.step) if rank == 1 else (lambda: 0.0)
    trainer.fit(max_seconds=150)
    with open(f"{results}.{rank}", "w") as f:
        json.dump({"step": trainer.step}, f)
    cleanup_distributed()


@pytest.mark.slow
def test_the_time_limit_stops_every_process_at_the_same_step(tmp_path):
    """Under torchrun the flag rides on the sync point's all-reduce: rank 0 (whose own clock never runs
    out) stops with rank 1. Acting on one rank's flag alone would leave rank 0 waiting in the next
    collective (this test would then time out)."""
    import json
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    results = str(tmp_path / "result")
    procs = [ctx.Process(target=_time_limited_rank, args=(r, port, str(tmp_path / "run"), results))
             for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    alive = [p for p in procs if p.is_alive()]
    for p in alive:
        p.kill()
    assert not alive and all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    steps = [json.loads(open(f"{results}.{r}").read())["step"] for r in range(2)]
    assert steps == [2, 2]  # rank 1 is past 150 s at step 2 (200 s): both stop there
    assert torch.load(latest_checkpoint(tmp_path / "run"), weights_only=True)["step"] == 2
