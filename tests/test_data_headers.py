"""Indexing a folder reads image headers only (EXIF orientation included), and never twice (issue 13)."""

from __future__ import annotations

import builtins
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from esrgan_lib.data import SRPatchDataset, list_images, read_image
from esrgan_lib.img_util import probe_image


def image_size(path):
    return probe_image(path).shape[:2]


def index_images(folder):
    paths = list_images(folder, check="header")
    return paths, [image_size(p) for p in paths]


def _img(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def _write_folder(folder: Path) -> None:
    folder.mkdir()
    Image.fromarray(_img(40, 24, 1)).save(folder / "a_rot6.png", exif=_exif(6))
    Image.fromarray(_img(36, 28, 2)).save(folder / "b_rot3.png", exif=_exif(3))
    Image.fromarray(_img(44, 30, 3)).save(folder / "c_plain.png")
    Image.fromarray(_img(48, 32, 4)).save(folder / "d_rot8.jpg", exif=_exif(8), quality=95)
    Image.fromarray(_img(34, 26, 5)).save(folder / "e_rot5.webp", exif=_exif(5))


def test_header_sizes_match_read_image(tmp_path):
    _write_folder(tmp_path / "in")
    paths, sizes = index_images(tmp_path / "in")
    assert [p.name for p in paths] == sorted(p.name for p in (tmp_path / "in").iterdir())
    for p, size in zip(paths, sizes):
        assert size == read_image(p).shape[:2] == image_size(p), p.name
    assert sizes[0] == (24, 40)  # rotated by 90 degrees: width and height swap


def test_sixteen_bit_png_size_matches_read_image(tmp_path):
    Image.fromarray(np.full((20, 12), 40000, dtype=np.uint16)).save(tmp_path / "g16.png", exif=_exif(6))
    assert image_size(tmp_path / "g16.png") == read_image(tmp_path / "g16.png").shape[:2]


def test_indexing_decodes_no_pixels_and_opens_each_file_once(tmp_path, monkeypatch):
    _write_folder(tmp_path / "in")
    opened, loads = Counter(), []
    real_open, real_load = builtins.open, ImageFile.ImageFile.load

    def counting_open(file, *args, **kwargs):
        if isinstance(file, (str, Path)) and Path(file).parent == tmp_path / "in":
            opened[Path(file).name] += 1
        return real_open(file, *args, **kwargs)

    def counting_load(self):
        loads.append(self)
        return real_load(self)

    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    ds = SRPatchDataset(tmp_path / "in", scale=2, hr_size=16, cache=False)
    assert loads == []
    assert sorted(opened) == sorted(p.name for p in (tmp_path / "in").iterdir())
    assert set(opened.values()) == {1}
    opened.clear()
    probe = SRPatchDataset(tmp_path / "in", scale=2, hr_size=16, cache=False)  # e.g. a probe dataset
    assert opened == Counter() and probe.sizes == ds.sizes
    monkeypatch.setattr(ImageFile.ImageFile, "load", real_load)
    for i in range(len(ds)):
        assert ds[i][1].shape == (3, 16, 16)


def test_truncated_and_foreign_files_are_skipped_with_one_warning(tmp_path):
    _write_folder(tmp_path / "in")
    data = (tmp_path / "in" / "c_plain.png").read_bytes()
    (tmp_path / "in" / "c_plain.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "in" / "notes.txt").write_text("hello")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        paths, _ = index_images(tmp_path / "in")
    assert "c_plain.png" not in [p.name for p in paths] and len(paths) == 4
    assert len(rec) == 1 and "c_plain.png" in str(rec[0].message) and "notes.txt" in str(rec[0].message)
    with pytest.raises(ValueError, match=r"c_plain\.png.*truncated"):
        image_size(tmp_path / "in" / "c_plain.png")
