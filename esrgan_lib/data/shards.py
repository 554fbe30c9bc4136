"""Decode-once training data: uint8 ``.npy`` shards read through memory maps.

Decoding a 480x480 PNG sub-image and downsampling its neighbourhood costs several milliseconds of
CPU per training sample, too much for the two vCPUs of a Colab T4. ``prepare_shards`` does that
work once: for every HR image it stores the decoded pixels and the MATLAB-style bicubic LR of the
whole image (``bicubic_downsample``, rounded to uint8) as ``.npy`` files. ``ShardPatchDataset``
then opens them with ``np.load(mmap_mode="r")`` and a training sample is two memory copies, as
with BasicSR's LMDB option. It yields exactly the items of ``SRPatchDataset`` over the same images
(same seed, epoch and index give the same crops, flips and channel permutations).

Disk use: 3 bytes per HR pixel plus ``3 / scale**2`` for the LR. A crop from a memory map costs the
same whatever the image size, so shards can be made from the full images: overlapping sub-images
(``prepare_subimages``, 480-pixel tiles every 240 pixels) would store every pixel about four times.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..img_util import list_images, read_image
from .datasets import SRPatchDataset
from .degradation import bicubic_downsample
from .subimages import run_by_rank

__all__ = ["prepare_shards", "ShardPatchDataset", "shard_index_path"]


def _atomic_npy(array: np.ndarray, dest: Path) -> None:
    with atomic_path(dest) as tmp, open(tmp, "wb") as f:  # a file object: np.save would add ".npy"
        np.save(f, np.ascontiguousarray(array))


def shard_index_path(folder: str | os.PathLike, scale: int) -> Path:
    """``<folder>/index.x<scale>.json``: the file that makes ``folder`` a shard folder for ``scale``."""
    return Path(folder) / f"index.x{int(scale)}.json"


def _shard_paths(dst: Path, name: str, scale: int) -> tuple[Path, Path]:
    return dst / f"{name}.hr.npy", dst / f"{name}.x{scale}.npy"


def _write_shard(path: Path, dst: Path, scale: int) -> None:
    """Decode ``path`` once; store its HR pixels and the full-image bicubic LR (uint8)."""
    hr = read_image(path)
    hr_file, lr_file = _shard_paths(dst, path.name, scale)
    _atomic_npy(bicubic_downsample(hr, scale), lr_file)
    _atomic_npy(hr, hr_file)


def _write_index(dst: Path, scale: int, names: list[str]) -> None:
    """``index.x<scale>.json``: the scale and every image's HR size, from the shard headers (no data read)."""
    images = []
    for name in names:
        hr = np.load(_shard_paths(dst, name, scale)[0], mmap_mode="r")
        images.append({"name": name, "size": [int(hr.shape[0]), int(hr.shape[1])]})
    with atomic_path(shard_index_path(dst, scale)) as tmp:
        tmp.write_text(json.dumps({"scale": scale, "images": images}, indent=1))


def prepare_shards(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    scale: int = 4,
    rank: int = 0,
    world_size: int = 1,
    poll_s: float = 2.0,
    log_every_s: float = 60.0,
) -> Path:
    """Decode every image of ``src`` once into uint8 shards in ``dst``; returns ``dst``.

    For image ``<name>``: ``<name>.hr.npy`` (HR, ``(H, W, 3)``) and ``<name>.x<scale>.npy`` (its
    bicubic LR, ``(H // scale, W // scale, 3)``), plus ``index.x<scale>.json`` for the dataset. Call it
    on every rank like ``prepare_subimages``: rank ``r`` converts images ``r, r + world_size, ...``,
    files are written atomically, finished images are skipped on a rerun, and each rank waits
    (no timeout, a line every ``log_every_s`` seconds) until all ranks are done and rank 0 has written
    the index (``shard_index_path``).
    """
    if isinstance(scale, bool) or int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale!r}")
    src, dst, scale = Path(src), Path(dst), int(scale)
    dst.mkdir(parents=True, exist_ok=True)
    paths = {p.name: p for p in list_images(src, check="name")}
    names = sorted(paths)
    suffix = f".x{scale}"

    def convert(job: str) -> None:
        _write_shard(paths[job.removesuffix(suffix)], dst, scale)

    jobs = [name + suffix for name in names]
    run_by_rank(jobs, convert, dst, rank=rank, world_size=world_size, poll_s=poll_s, log_every_s=log_every_s,
                finish=lambda: _write_index(dst, scale, names))
    return dst


class ShardPatchDataset(SRPatchDataset):
    """``SRPatchDataset`` over shards made by ``prepare_shards``: the same items, cropped from memory maps.

    Args:
        shard_dir: the ``dst`` folder of ``prepare_shards`` (made with the same ``scale``).
        scale, hr_size, augment, repeat, seed, color_augment: as for ``SRPatchDataset``.

    Items: ``(lr, hr)`` float32 tensors ``(3, hr_size/scale, hr_size/scale)`` and
    ``(3, hr_size, hr_size)`` in [0, 1], equal to ``SRPatchDataset(<the source images>, ...)[i]``.
    Only paths are stored, so DataLoader workers start fast; each item maps two files.
    """

    def __init__(
        self,
        shard_dir: str | os.PathLike,
        scale: int = 4,
        hr_size: int = 128,
        augment: bool = True,
        *,
        repeat: int = 1,
        seed: int = 0,
        color_augment: bool = False,
    ):
        self._set_options(scale, hr_size, augment, repeat, seed, color_augment)
        self.shard_dir = Path(shard_dir)
        index_file = shard_index_path(self.shard_dir, self.scale)
        if not index_file.is_file():
            raise FileNotFoundError(
                f"no shards for scale {self.scale} in {self.shard_dir} ({index_file.name} is missing): "
                f"run prepare_shards(src, {str(self.shard_dir)!r}, scale={self.scale}) first"
            )
        images = json.loads(index_file.read_text())["images"]
        if not images:
            raise ValueError(f"{index_file} lists no image")
        self.names = [im["name"] for im in images]
        self.sizes = [tuple(im["size"]) for im in images]
        self._paths = [self.shard_dir / name for name in self.names]
        self._cache, self.cache = {}, False
        for name, (h, w) in zip(self.names, self.sizes):
            if h < self.hr_size or w < self.hr_size:
                raise ValueError(
                    f"{name} is {w}x{h} (W x H), smaller than hr_size={self.hr_size}; "
                    "use a smaller hr_size or drop the image"
                )

    MAX_OPEN_MAPS = 16384  # keep the memory maps open up to this many images (vm.max_map_count)

    def _maps(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(HR, LR) memory maps of image ``k``, opened once per process and kept."""
        maps = self.__dict__.setdefault("_open_maps", {})
        if k not in maps:
            hr_file, lr_file = _shard_paths(self.shard_dir, self.names[k], self.scale)
            pair = np.load(hr_file, mmap_mode="r"), np.load(lr_file, mmap_mode="r")
            if len(self.names) > self.MAX_OPEN_MAPS:
                return pair
            maps[k] = pair
        return maps[k]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_open_maps", None)  # each DataLoader worker maps the files itself
        return state

    def image(self, k: int) -> np.ndarray:
        """HR image ``k`` as a read-only memory-mapped uint8 array ``(H, W, 3)``."""
        return self._maps(k)[0]

    def patch_pair(self, k: int, y: int, x: int) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (LR, HR) patches of image ``k`` at HR corner ``(y, x)``: two copies from memory maps."""
        hr_map, lr_map = self._maps(k)
        s, size = self.scale, self.hr_size
        hr = hr_map[y : y + size, x : x + size]
        lr = lr_map[y // s : (y + size) // s, x // s : (x + size) // s]
        return np.array(lr), np.array(hr)
