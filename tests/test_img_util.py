"""esrgan_lib.img_util and the readers built on it: pixel limits, channel counts, float TIFFs,
multi-frame files, and the one conversion to and from a float batch."""

from __future__ import annotations

import os
import struct
import warnings
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image

from esrgan_lib.data import read_image
from esrgan_lib.upscale import read_image_any


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(path, width=40000, height=40000, depth=8, ctype=2):
    """A tiny PNG whose header claims a huge image (its data is missing)."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, ctype, 0, 0, 0)
    body = _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def png16(arr: np.ndarray, path):
    import png

    h, w, c = arr.shape
    png.Writer(w, h, greyscale=c in (1, 2), alpha=c in (2, 4), bitdepth=16).write(
        open(path, "wb"), arr.reshape(h, -1))
    return path


@pytest.fixture
def small_limit(monkeypatch):
    """Pillow's limit lowered to 100 pixels: error above 200 (Pillow's rule: 2 x MAX_IMAGE_PIXELS)."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)


@pytest.mark.parametrize("reader", [read_image, read_image_any])
def test_pixel_limit_applies_to_16bit_png_and_tiff(tmp_path, small_limit, reader):
    rng = np.random.default_rng(0)
    png16(rng.integers(0, 65536, (20, 20, 3), dtype=np.uint16), tmp_path / "deep.png")
    tifffile.imwrite(tmp_path / "big.tif", rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))
    for name in ("deep.png", "big.tif"):
        with pytest.raises(ValueError, match=rf"{name}.*20x20.*MAX_IMAGE_PIXELS"):
            reader(tmp_path / name)


@pytest.mark.parametrize("reader", [read_image, read_image_any])
def test_pixel_limit_warns_between_one_and_two_times_the_limit(tmp_path, monkeypatch, reader):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)
    png16(np.zeros((20, 20, 1), np.uint16), tmp_path / "deep.png")
    with pytest.warns(Image.DecompressionBombWarning, match="deep.png"):
        reader(tmp_path / "deep.png")


@pytest.mark.parametrize("reader", [read_image, read_image_any])
def test_header_bomb_is_a_value_error_naming_the_file(tmp_path, reader):
    bomb_png(tmp_path / "bomb.png")
    with pytest.raises(ValueError, match=r"bomb\.png.*40000x40000"):
        reader(tmp_path / "bomb.png")
    bomb_png(tmp_path / "bomb16.png", depth=16)
    with pytest.raises(ValueError, match=r"bomb16\.png.*40000x40000"):
        reader(tmp_path / "bomb16.png")


@pytest.mark.parametrize("reader", [read_image, read_image_any])
def test_five_channel_tiff_is_refused(tmp_path, reader):
    tifffile.imwrite(tmp_path / "five.tif", np.zeros((20, 64, 5), np.uint8), planarconfig="contig")
    with pytest.raises(ValueError, match=r"five\.tif.*5 channels"):
        reader(tmp_path / "five.tif")
    tifffile.imwrite(tmp_path / "planar.tif", np.zeros((5, 20, 64), np.uint16), planarconfig="separate")
    with pytest.raises(ValueError, match=r"planar\.tif.*5 channels"):
        reader(tmp_path / "planar.tif")


def test_float_tiffs_are_read(tmp_path):
    rng = np.random.default_rng(1)
    rgb = rng.random((6, 5, 3)).astype(np.float32)
    tifffile.imwrite(tmp_path / "f.tif", rgb)
    out = read_image_any(tmp_path / "f.tif")
    assert out.dtype == np.float32 and np.array_equal(out, rgb)
    u8 = read_image(tmp_path / "f.tif")
    assert u8.dtype == np.uint8 and np.array_equal(u8, np.rint(rgb * 255).astype(np.uint8))
    tifffile.imwrite(tmp_path / "g.tif", rgb[:, :, 0].astype(np.float64))
    assert read_image_any(tmp_path / "g.tif").shape == (6, 5)


def test_float_tiff_out_of_range_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "hdr.tif", np.full((4, 4, 3), 7.5, np.float32))
    with pytest.raises(ValueError, match=r"hdr\.tif.*\[0, 1\]"):
        read_image(tmp_path / "hdr.tif")


def _gif(path, frames=3):
    imgs = [Image.new("RGB", (8, 8), (40 * i, 0, 0)) for i in range(frames)]
    imgs[0].save(path, save_all=True, append_images=imgs[1:], duration=50)
    return path


@pytest.mark.parametrize("reader", [read_image, read_image_any])
def test_multi_frame_files_warn_naming_the_file(tmp_path, reader):
    _gif(tmp_path / "anim.gif")
    with pytest.warns(UserWarning, match=r"anim\.gif.*3 frames.*first"):
        reader(tmp_path / "anim.gif")
    tifffile.imwrite(tmp_path / "pages.tif", np.zeros((2, 8, 8, 3), np.uint8), photometric="rgb")
    with pytest.warns(UserWarning, match=r"pages\.tif.*2 (frames|pages)"):
        reader(tmp_path / "pages.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Image.new("RGB", (8, 8)).save(tmp_path / "one.gif")
        reader(tmp_path / "one.gif")


def test_truncated_16bit_png_is_a_value_error_in_both_readers(tmp_path):
    png16(np.random.default_rng(0).integers(0, 65536, (20, 20, 3), dtype=np.uint16), tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut16.png").write_bytes(data[: len(data) // 2])
    for reader in (read_image, read_image_any):
        with pytest.raises(ValueError, match=r"cut16\.png"):
            reader(tmp_path / "cut16.png")


def test_list_images_ignores_temp_files(tmp_path):
    from esrgan_lib.data import list_images

    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    (tmp_path / "a.png.123.tmp").write_bytes((tmp_path / "a.png").read_bytes())
    (tmp_path / ".a.png.123.abc.tmp").write_bytes(b"")
    assert [p.name for p in list_images(tmp_path, check=False)] == ["a.png"]
    assert [p.name for p in list_images(tmp_path)] == ["a.png"]


def test_atomic_path_cleans_stale_temp_files_of_dead_writers(tmp_path):
    from esrgan_lib._atomic import atomic_path

    stale = tmp_path / ".out.png.999999999.x1y2.tmp"  # no such pid: its writer was killed
    stale.write_bytes(b"half")
    live = tmp_path / f".out.png.{os.getpid()}.busy.tmp"  # a writer that still runs: left alone
    live.write_bytes(b"writing")
    with atomic_path(tmp_path / "out.png") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.png.") and tmp.suffix == ".tmp"
        tmp.write_bytes(b"new")
    assert not stale.exists() and live.exists()
    live.unlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]

