"""BasicSR's sub-image trick, safe to run from several processes at once (one per GPU rank).

``prepare_subimages`` lets every rank of a ``torchrun`` job cut its share of the source images
(image ``i`` goes to rank ``i % world_size``) before any process group exists, so no rank sits in a
barrier with a timeout while another one cuts. Each tile is written to a temporary file and renamed
into place; after the tiles of an image a marker ``.progress/<name>.done`` is written, so an
interrupted run resumes where it stopped and a finished one does nothing. When its share is done a
rank writes ``.done-rank<r>-of-<w>`` and waits, without a timeout, until every rank's marker is there
(rank 0 writes its own last, once the others are there).

``run_by_rank`` is the same machinery for any per-file job (``prepare_shards`` uses it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..img_util import list_images, read_image, save_image

__all__ = ["SUBIMAGE_SIZE", "SUBIMAGE_STEP", "extract_subimages", "prepare_subimages", "run_by_rank",
           "tile_starts"]

SUBIMAGE_SIZE = 480  # BasicSR's DIV2K sub-images: 480x480 tiles ...
SUBIMAGE_STEP = 240  # ... starting every 240 pixels


def tile_starts(length: int, crop: int, step: int, thresh_size: int = 0) -> list[int]:
    """Start offsets of ``crop``-long tiles every ``step`` pixels along ``length``.

    A last tile flush with the end is added when more than ``thresh_size`` pixels would be left
    over; a side shorter than ``crop`` gives the single start 0.
    """
    if length <= crop:
        return [0]
    starts = list(range(0, length - crop + 1, step))
    if length - (starts[-1] + crop) > thresh_size:
        starts.append(length - crop)
    return starts


def _cut(path: Path, out: Path, crop: int, step: int, thresh_size: int) -> list[Path]:
    """Cut one image into tiles ``<stem>_s001.png``, ... in ``out`` (atomic writes); their paths."""
    img = read_image(path)
    h, w = img.shape[:2]
    written = []
    for y in tile_starts(h, crop, step, thresh_size):
        for x in tile_starts(w, crop, step, thresh_size):
            dest = out / f"{path.stem}_s{len(written) + 1:03d}.png"
            save_image(np.ascontiguousarray(img[y : y + crop, x : x + crop]), dest, compress_level=3)
            written.append(dest)
    return written


def _check_tiles(crop: int, step: int) -> None:
    if crop < 1 or step < 1:
        raise ValueError(f"crop and step must be positive, got crop={crop}, step={step}")


def _sources(folder: str | os.PathLike) -> list[Path]:
    """The images of ``folder``; refuses names whose tiles would overwrite each other (x.png, x.jpg)."""
    paths = list_images(folder, check="name")
    stems: dict[str, list[str]] = {}
    for p in paths:
        stems.setdefault(p.stem, []).append(p.name)
    clashes = [" and ".join(names) for names in stems.values() if len(names) > 1]
    if clashes:
        raise ValueError(
            f"{folder}: {'; '.join(clashes)} would give tiles of the same names: rename or remove one"
        )
    return paths


def extract_subimages(
    folder: str | os.PathLike,
    out: str | os.PathLike,
    crop: int = SUBIMAGE_SIZE,
    step: int = SUBIMAGE_STEP,
    *,
    thresh_size: int = 0,
) -> list[Path]:
    """Cut every image of ``folder`` into overlapping ``crop x crop`` tiles saved as PNG in ``out``.

    BasicSR's trick for fast training-data loading: decoding a 480x480 tile is ~20x cheaper than a
    2K image, and random 128-pixel patches from the tiles cover the images just as well. Tiles start
    every ``step`` pixels (see ``tile_starts``). Files are named ``<stem>_s001.png``, ... Returns the
    written paths. Images smaller than ``crop`` give a single tile of their own size. One process;
    for several ranks use ``prepare_subimages``.
    """
    _check_tiles(crop, step)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return [t for path in _sources(folder) for t in _cut(path, out, crop, step, thresh_size)]


def _touch(path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text("done\n")


def run_by_rank(
    jobs: Sequence[str],
    do_job: Callable[[str], object],
    dst: Path,
    *,
    rank: int = 0,
    world_size: int = 1,
    poll_s: float = 2.0,
    log_every_s: float = 60.0,
    finish: Callable[[], object] | None = None,
) -> None:
    """Run ``do_job(jobs[i])`` for ``i % world_size == rank``, then wait for all ranks (see module doc).

    ``jobs`` are unique names (file names), the same list on every rank. Finished jobs (marker
    ``dst/.progress/<job>.done``) are skipped. ``finish()``, if given, runs once, on rank 0, when every
    rank's jobs are done and before any rank returns (for a file all ranks need, written by one
    writer). Waits without a timeout, printing a line every ``log_every_s`` seconds. Needs no
    ``torch.distributed`` process group, only the shared ``dst``.
    """
    if not (isinstance(world_size, int) and world_size >= 1 and isinstance(rank, int)):
        raise ValueError(f"world_size must be an int >= 1 and rank an int, got {world_size!r}, {rank!r}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    progress = dst / ".progress"
    progress.mkdir(parents=True, exist_ok=True)
    for job in jobs[rank::world_size]:
        marker = progress / f"{job}.done"
        if not marker.exists():
            do_job(job)
            _touch(marker)
    markers = [dst / f".done-rank{r}-of-{world_size}" for r in range(world_size)]
    if rank:  # rank 0 writes its marker last, after finish(): the others wait for it
        _touch(markers[rank])
    start = last_log = time.monotonic()
    while missing := [m.name for m in markers[not rank:] if not m.exists()]:  # rank 0: the others only
        if time.monotonic() - last_log >= log_every_s:
            last_log = time.monotonic()
            waited = last_log - start
            print(f"rank {rank}: waiting {waited:.0f} s for {', '.join(missing)} in {dst}", flush=True)
        time.sleep(poll_s)
    if not rank:
        if finish is not None:
            finish()
        _touch(markers[0])


def prepare_subimages(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    rank: int = 0,
    world_size: int = 1,
    crop: int = SUBIMAGE_SIZE,
    step: int = SUBIMAGE_STEP,
    thresh_size: int = 0,
    poll_s: float = 2.0,
    log_every_s: float = 60.0,
) -> Path:
    """Cut the images of ``src`` into ``crop x crop`` tiles in ``dst``, shared between ranks; returns ``dst``.

    Call it on every rank (each with its own ``rank``; ``torch.distributed`` need not be set up):
    rank ``r`` cuts images ``r, r + world_size, ...``, then all ranks wait for each other (no
    timeout; a line every ``log_every_s`` seconds). Safe to interrupt and rerun: finished images are
    skipped and tiles are written atomically. Tiles are named as by ``extract_subimages``; the
    markers are hidden files, which dataset indexing ignores.
    """
    _check_tiles(crop, step)
    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    paths = {p.name: p for p in _sources(src)}

    def cut(name: str) -> None:
        _cut(paths[name], dst, crop, step, thresh_size)

    run_by_rank(
        sorted(paths), cut, dst, rank=rank, world_size=world_size, poll_s=poll_s, log_every_s=log_every_s
    )
    return dst
