"""Can two vCPUs feed a T4? Training samples per second: PNG sub-images vs uint8 shards.

Makes DIV2K-like data locally (480x480 PNG sub-images cut from scikit-image's photos, enlarged so
a tile holds a photo-sized region), then measures, through a ``DataLoader`` at batch 16 with 0, 1
and 2 workers, the (LR, HR 128x128, scale 4, flips on) samples per second of

- ``SRPatchDataset`` over the PNGs with ``cache=False`` (DIV2K's sub-images, about 7 GB decoded, do
  not fit its cache: every sample decodes a PNG and downsamples a region);
- ``ShardPatchDataset`` over ``prepare_shards`` output (decoded once; a sample is two memory copies).

The need of a T4 comes from issue 13 of the course repository: one ESRGAN step at batch 16 takes
about 59 ms on a T4 (the fast end of its 59-88 ms estimate), so 16 / 0.059 = 271 samples/s keep it
busy. The ratio printed is measured samples/s over that need; the goal is at least 1.5 with 2
workers. Enlarged photos are smoother than DIV2K tiles, so their PNGs decode a little faster.

    python benchmarks/bench_data.py                  # 36 tiles, 30 timed batches per setting
    python benchmarks/bench_data.py --tiles 12 --batches 5
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

T4_STEP_S = 0.059  # issue 13: a T4 ESRGAN step at batch 16 takes 59-88 ms; the fast end
BATCH = 16
T4_NEED = BATCH / T4_STEP_S  # samples per second


def make_tiles(folder: Path, n_tiles: int, size: int = 480, seed: int = 0) -> list[Path]:
    """``n_tiles`` PNG tiles ``size x size`` from scikit-image's photos, enlarged 2x (bicubic)."""
    from esrgan_lib.data import sample_images

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    photos = []
    for img in sample_images():
        h, w = img.shape[:2]
        factor = max(2.0, size / min(h, w))
        big = Image.fromarray(img).resize((round(w * factor), round(h * factor)), Image.BICUBIC)
        photos.append(np.asarray(big))
    paths = []
    for k in range(n_tiles):
        photo = photos[k % len(photos)]
        y = int(rng.integers(0, photo.shape[0] - size + 1))
        x = int(rng.integers(0, photo.shape[1] - size + 1))
        path = folder / f"tile{k:03d}.png"
        Image.fromarray(np.ascontiguousarray(photo[y : y + size, x : x + size])).save(path, compress_level=3)
        paths.append(path)
    return paths


def samples_per_s(dataset, workers: int, batches: int, warmup: int = 2) -> float:
    """Samples/s of a shuffled DataLoader at batch 16; worker start-up and ``warmup`` batches excluded."""
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=workers, drop_last=True)
    it = iter(loader)
    for _ in range(warmup):
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * BATCH / (time.perf_counter() - start)


def run(args) -> dict:
    from esrgan_lib.data import ShardPatchDataset, SRPatchDataset, prepare_shards

    torch.set_num_threads(1)  # one core per loader process, as in each DataLoader worker
    repeat = (args.batches + 3) * BATCH // args.tiles + 1  # enough items for every timed batch
    kw = {"scale": 4, "hr_size": 128, "augment": True, "repeat": repeat}
    with tempfile.TemporaryDirectory(prefix="bench_data-") as tmp:
        tiles = Path(tmp) / "sub480"
        make_tiles(tiles, args.tiles)
        t = time.perf_counter()
        prepare_shards(tiles, Path(tmp) / "shards", scale=4)
        prep_s = time.perf_counter() - t
        datasets = {
            "SRPatchDataset (PNG)": SRPatchDataset(tiles, cache=False, **kw),
            "ShardPatchDataset (npy)": ShardPatchDataset(Path(tmp) / "shards", **kw),
        }
        results = {}
        for name, ds in datasets.items():
            for workers in args.workers:
                sps = samples_per_s(ds, workers, args.batches)
                results[f"{name}, {workers} workers"] = {
                    "samples_per_s": round(sps, 1),
                    "per_worker": round(sps / max(workers, 1), 1),
                    "ratio_to_t4_need": round(sps / T4_NEED, 2),
                }
    return {
        "tiles": args.tiles,
        "prepare_shards_s_per_tile": round(prep_s / args.tiles, 3),
        "results": results,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=36, help="number of 480x480 PNG sub-images")
    parser.add_argument("--batches", type=int, default=30, help="timed batches per setting")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    print(f"T4 need at batch {BATCH}: {T4_NEED:.0f} samples/s ({BATCH} / {T4_STEP_S} s per step, issue 13)")
    out = run(args)
    print(f"prepare_shards: {out['prepare_shards_s_per_tile']} s per 480x480 tile (once)")
    print(f"{'loader':<40} {'samples/s':>10} {'per worker':>11} {'x T4 need':>10}")
    for name, r in out["results"].items():
        print(f"{name:<40} {r['samples_per_s']:>10} {r['per_worker']:>11} {r['ratio_to_t4_need']:>10}")
    print(json.dumps({"t4_need_samples_per_s": round(T4_NEED, 1), **out}))


if __name__ == "__main__":
    main()
