"""prepare_shards + ShardPatchDataset: decode once, crop from memory maps, same items as SRPatchDataset."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from esrgan_lib.data import (
    ShardPatchDataset,
    SRPatchDataset,
    bicubic_downsample,
    prepare_shards,
    read_image,
    shard_index_path,
)


def _smooth(h, w, seed):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 6 + 2, w // 6 + 2, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC))


def _sources(folder: Path) -> None:
    folder.mkdir()
    for i, (h, w) in enumerate([(50, 63), (71, 45), (48, 48), (66, 58)]):  # not multiples of 4
        Image.fromarray(_smooth(h, w, i)).save(folder / f"p{i}.png")


@pytest.mark.parametrize("scale, augment, color", [(4, True, True), (2, True, False), (4, False, False)])
def test_shard_items_equal_sr_patch_items(tmp_path, scale, augment, color):
    _sources(tmp_path / "src")
    prepare_shards(tmp_path / "src", tmp_path / "sh", scale=scale)
    kw = {"scale": scale, "hr_size": 32, "augment": augment, "color_augment": color, "repeat": 3, "seed": 7}
    ref = SRPatchDataset(tmp_path / "src", cache=False, **kw)
    got = ShardPatchDataset(tmp_path / "sh", **kw)
    assert len(got) == len(ref) == 12 and got.sizes == ref.sizes
    for epoch in (0, 3):
        ref.set_epoch(epoch)
        got.set_epoch(epoch)
        for i in range(len(ref)):
            (lr_a, hr_a), (lr_b, hr_b) = ref[i], got[i]
            assert torch.equal(hr_a, hr_b) and torch.equal(lr_a, lr_b), (epoch, i)


def test_shards_hold_the_full_image_bicubic_lr(tmp_path):
    _sources(tmp_path / "src")
    prepare_shards(tmp_path / "src", tmp_path / "sh", scale=4)
    hr = read_image(tmp_path / "src" / "p1.png")
    assert np.array_equal(np.load(tmp_path / "sh" / "p1.png.hr.npy"), hr)
    assert np.array_equal(np.load(tmp_path / "sh" / "p1.png.x4.npy"), bicubic_downsample(hr, 4))


def _rank_main(src: str, dst: str, rank: int) -> None:
    prepare_shards(src, dst, scale=4, rank=rank, world_size=2, poll_s=0.05)


def test_two_processes_and_an_idempotent_rerun(tmp_path, monkeypatch):
    _sources(tmp_path / "src")
    ctx = multiprocessing.get_context("spawn")  # fork would inherit torch's thread pool and can hang
    procs = [
        ctx.Process(target=_rank_main, args=(str(tmp_path / "src"), str(tmp_path / "sh"), r)) for r in (0, 1)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    prepare_shards(tmp_path / "src", tmp_path / "ref", scale=4)
    for f in sorted((tmp_path / "ref").glob("*.npy")):
        assert np.array_equal(np.load(f), np.load(tmp_path / "sh" / f.name)), f.name
    import esrgan_lib.data.shards as shards

    decoded = []
    real = shards.read_image
    monkeypatch.setattr(shards, "read_image", lambda p: decoded.append(Path(p).name) or real(p))
    (tmp_path / "sh" / ".progress" / "p2.png.x4.done").unlink()  # as if interrupted while writing p2
    prepare_shards(tmp_path / "src", tmp_path / "sh", scale=4)
    assert decoded == ["p2.png"]
    assert not list((tmp_path / "sh").glob(".*.tmp"))


def test_missing_shards_and_small_images_are_clear_errors(tmp_path):
    _sources(tmp_path / "src")
    with pytest.raises(FileNotFoundError, match="prepare_shards"):
        ShardPatchDataset(tmp_path / "src", scale=4)
    prepare_shards(tmp_path / "src", tmp_path / "sh", scale=4)
    with pytest.raises(FileNotFoundError, match="scale 2"):
        ShardPatchDataset(tmp_path / "sh", scale=2)
    with pytest.raises(ValueError, match="p0.png is 63x50.*hr_size=64"):
        ShardPatchDataset(tmp_path / "sh", scale=4, hr_size=64)


def test_dataloader_workers_give_the_same_batches(tmp_path):
    import pickle

    from torch.utils.data import DataLoader

    _sources(tmp_path / "src")
    prepare_shards(tmp_path / "src", tmp_path / "sh", scale=4)
    ds = ShardPatchDataset(tmp_path / "sh", scale=4, hr_size=32, repeat=2, seed=3)
    ds[0]  # opens memory maps in this process: they must not travel to workers
    assert "_open_maps" not in pickle.loads(pickle.dumps(ds)).__dict__
    direct = [ds[i] for i in range(len(ds))]
    ctx = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    for workers, context in ((0, None), (1, ctx)):
        loader = DataLoader(ds, batch_size=4, num_workers=workers, multiprocessing_context=context)
        lr, hr = (torch.cat(t) for t in zip(*loader))
        assert torch.equal(lr, torch.stack([a for a, _ in direct])) and torch.equal(
            hr, torch.stack([b for _, b in direct])
        )


def test_shards_are_written_through_atomic_path(tmp_path):
    _sources(tmp_path / "src")
    (tmp_path / "sh").mkdir()
    stale = tmp_path / "sh" / ".p1.png.hr.npy.999999999.ab12.tmp"  # left by a writer that was killed
    stale.write_bytes(b"half a shard")
    prepare_shards(tmp_path / "src", tmp_path / "sh", scale=4)
    assert not stale.exists() and not list((tmp_path / "sh").glob(".*.tmp"))
    assert shard_index_path(tmp_path / "sh", 4).is_file()
