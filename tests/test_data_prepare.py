"""prepare_subimages: rank-parallel, atomic, idempotent sub-image cutting without a process group."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from esrgan_lib.data import extract_subimages, prepare_subimages, read_image


def _make_sources(folder: Path, n: int = 5) -> None:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        h, w = 40 + 7 * i, 52 - 3 * i
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"im{i}.png")


def _tiles(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: read_image(p) for p in sorted(folder.glob("*.png")) if not p.name.startswith(".")}


def _rank_main(src: str, dst: str, rank: int, world_size: int) -> None:
    prepare_subimages(src, dst, rank=rank, world_size=world_size, crop=24, step=16, poll_s=0.05)


def test_two_processes_cut_the_same_tiles_as_one(tmp_path):
    _make_sources(tmp_path / "src")
    extract_subimages(tmp_path / "src", tmp_path / "ref", crop=24, step=16)
    methods = multiprocessing.get_all_start_methods()  # fork: children need no fresh torch import
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    args = (str(tmp_path / "src"), str(tmp_path / "dst"))
    procs = [ctx.Process(target=_rank_main, args=(*args, r, 2)) for r in (1, 0)]  # rank 1 first
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    ref, got = _tiles(tmp_path / "ref"), _tiles(tmp_path / "dst")
    assert list(got) == list(ref) and all(np.array_equal(got[k], ref[k]) for k in ref)
    assert (tmp_path / "dst" / ".done-rank0-of-2").exists() and (
        tmp_path / "dst" / ".done-rank1-of-2"
    ).exists()
    assert not list((tmp_path / "dst").glob(".*.tmp"))


def test_rerun_skips_finished_images_and_finishes_an_interrupted_run(tmp_path, monkeypatch):
    _make_sources(tmp_path / "src")
    dst = prepare_subimages(tmp_path / "src", tmp_path / "dst", crop=24, step=16)
    before = {p.name: p.stat().st_mtime_ns for p in dst.glob("*.png")}
    # an interrupted run: im3 lost its marker and one tile, and left a temporary file behind
    (dst / ".progress" / "im3.png.done").unlink()
    (dst / "im3_s002.png").unlink()
    (dst / ".im3_s003.png.999.tmp").write_bytes(b"half a file")
    cut = []
    import esrgan_lib.data.subimages as sub

    real = sub.read_image
    monkeypatch.setattr(sub, "read_image", lambda p: cut.append(Path(p).name) or real(p))
    prepare_subimages(tmp_path / "src", dst, crop=24, step=16)
    assert cut == ["im3.png"]
    assert (dst / "im3_s002.png").exists()
    assert all(
        p.stat().st_mtime_ns == before[p.name] for p in dst.glob("*.png") if not p.name.startswith("im3")
    )
    from esrgan_lib.data import list_images

    paths = list_images(dst, check="header")  # markers and temporary files are hidden from datasets
    assert all(p.name.startswith("im") and p.suffix == ".png" for p in paths)


def test_a_rank_waits_without_timeout_and_logs(tmp_path, capsys):
    _make_sources(tmp_path / "src", n=3)
    kw = {"crop": 24, "step": 16, "poll_s": 0.02, "log_every_s": 0.05}
    waiter = threading.Thread(
        target=prepare_subimages,
        args=(tmp_path / "src", tmp_path / "dst"),
        kwargs={**kw, "rank": 1, "world_size": 2},
    )
    waiter.start()
    time.sleep(0.5)
    assert waiter.is_alive()  # rank 0 has not run: rank 1 keeps waiting
    prepare_subimages(tmp_path / "src", tmp_path / "dst", **kw, rank=0, world_size=2)
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    assert "rank 1: waiting" in capsys.readouterr().out
    assert len(_tiles(tmp_path / "dst")) == len(extract_subimages(tmp_path / "src", tmp_path / "ref", 24, 16))


@pytest.mark.parametrize("rank, world_size", [(2, 2), (-1, 2), (0, 0)])
def test_bad_rank_is_refused(tmp_path, rank, world_size):
    _make_sources(tmp_path / "src", n=1)
    with pytest.raises(ValueError, match="rank|world_size"):
        prepare_subimages(tmp_path / "src", tmp_path / "dst", rank=rank, world_size=world_size)


def test_sources_whose_tiles_would_collide_are_refused_before_writing(tmp_path):
    _make_sources(tmp_path / "src", n=1)
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(tmp_path / "src" / "im0.jpg")
    for cut in (extract_subimages, prepare_subimages):
        with pytest.raises(ValueError, match=r"im0\.jpg and im0\.png"):
            cut(tmp_path / "src", tmp_path / "dst")
        assert not list((tmp_path / "dst").glob("*.png")) if (tmp_path / "dst").exists() else True


def test_tiles_and_markers_are_written_through_atomic_path(tmp_path):
    _make_sources(tmp_path / "src", n=1)
    (tmp_path / "dst").mkdir()
    stale = tmp_path / "dst" / ".im0_s001.png.999999999.ab12.tmp"  # left by a writer that was killed
    stale.write_bytes(b"half a tile")
    prepare_subimages(tmp_path / "src", tmp_path / "dst", crop=24, step=16)
    assert not stale.exists() and not list((tmp_path / "dst").rglob(".*.tmp"))


def test_rank_0_finishes_after_every_rank_and_before_any_returns(tmp_path):
    from esrgan_lib.data.subimages import run_by_rank

    events, jobs = [], [f"job{i}" for i in range(5)]

    def job(name):
        time.sleep(0.02)
        events.append(name)

    def rank_1():
        run_by_rank(jobs, job, tmp_path, rank=1, world_size=2, poll_s=0.01)
        events.append("rank 1 returns")

    waiter = threading.Thread(target=rank_1, daemon=True)
    waiter.start()
    time.sleep(0.3)  # rank 1 is done with its jobs and waits for rank 0
    finish = lambda: events.append("finish")
    run_by_rank(jobs, job, tmp_path, rank=0, world_size=2, poll_s=0.01, finish=finish)
    waiter.join(timeout=30)
    assert sorted(events[:5]) == jobs and events[5:] == ["finish", "rank 1 returns"]
