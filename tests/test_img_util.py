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
import torch
from PIL import Image

from esrgan_lib.data import read_image


def read_image_any(path):
    """The reader that keeps what the file holds (the upscale command line's)."""
    return read_image(path, rgb=False)


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
    with open(path, "wb") as f:
        png.Writer(w, h, greyscale=c in (1, 2), alpha=c in (2, 4), bitdepth=16).write(f, arr.reshape(h, -1))
    return path


@pytest.fixture
def small_limit(monkeypatch):
    """Pillow's limit lowered to 100 pixels: error above 200 (Pillow's rule: 2 x MAX_IMAGE_PIXELS)."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)


@pytest.mark.parametrize("reader", [read_image, read_image_any])
def test_pixel_limit_applies_to_16bit_png_and_tiff(tmp_path, small_limit, reader):
    rng = np.random.default_rng(0)
    png16(rng.integers(0, 65536, (20, 20, 3), dtype=np.uint16), tmp_path / "deep.png")
    rgb8 = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "big.tif", rgb8, photometric="rgb")
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
    tifffile.imwrite(tmp_path / "f.tif", rgb, photometric="rgb")
    out = read_image_any(tmp_path / "f.tif")
    assert out.dtype == np.float32 and np.array_equal(out, rgb)
    u8 = read_image(tmp_path / "f.tif")
    assert u8.dtype == np.uint8 and np.array_equal(u8, np.rint(rgb * 255).astype(np.uint8))
    tifffile.imwrite(tmp_path / "g.tif", rgb[:, :, 0].astype(np.float64))
    assert read_image_any(tmp_path / "g.tif").shape == (6, 5)


def test_float_tiff_out_of_range_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "hdr.tif", np.full((4, 4, 3), 7.5, np.float32), photometric="rgb")
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
    assert [p.name for p in list_images(tmp_path, check="name")] == ["a.png"]
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



# ------------------------------------------------------------------ the one conversion: to_batch


def _round_trip(image):
    from esrgan_lib.img_util import to_batch

    x, restore = to_batch(image)
    assert x.ndim == 4 and x.dtype == torch.float32 and 0 <= float(x.min()) and float(x.max()) <= 1
    return x, restore(x.clone())


@pytest.mark.parametrize("dtype, top", [(np.uint8, 255), (np.uint16, 65535)])
@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (5, 7, 2), (5, 7, 3), (5, 7, 4)])
def test_to_batch_round_trips_integer_arrays(dtype, top, shape):
    arr = np.random.default_rng(0).integers(0, top + 1, shape).astype(dtype)
    x, back = _round_trip(arr)
    assert x.shape == (1, 1 if len(shape) == 2 else shape[2], 5, 7)
    assert back.dtype == arr.dtype and back.shape == arr.shape and np.array_equal(back, arr)


def test_to_batch_round_trips_pil_modes_tensors_and_floats():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    for mode in ("L", "RGB", "RGBA", "LA", "I;16", "I", "F"):
        img = Image.fromarray(rgb).convert(mode)
        _, back = _round_trip(img)
        assert isinstance(back, Image.Image) and back.mode == mode and back.size == img.size
        assert np.allclose(np.asarray(back, np.float64), np.asarray(img, np.float64), atol=1e-3)
    for t in (torch.rand(3, 4, 6), torch.rand(2, 1, 4, 6, dtype=torch.float64),
              torch.randint(0, 256, (3, 4, 6), dtype=torch.uint8)):
        _, back = _round_trip(t)
        assert back.dtype == t.dtype and back.shape == t.shape and torch.allclose(back.double(), t.double())
    f = rng.random((4, 6, 3)).astype(np.float32)
    assert np.array_equal(_round_trip(f)[1], f)


def test_to_batch_one_rule_for_range_and_nan():
    from esrgan_lib.img_util import RANGE_TOL, to_batch

    for bad in (1 + 2 * RANGE_TOL, -2 * RANGE_TOL, float("nan")):
        a = np.full((2, 2, 3), 0.5, np.float32)
        a[0, 0, 0] = bad
        for image in (a, torch.from_numpy(a).permute(2, 0, 1)):
            with pytest.raises(ValueError, match="NaN" if bad != bad else r"\[0, 1\]"):
                to_batch(image)
            x, _ = to_batch(image, clip=True)  # for display: clipped, never raises
            assert 0 <= float(x.min()) and float(x.max()) <= 1
    x, _ = to_batch(np.full((2, 2), 1 + RANGE_TOL / 2, np.float64))
    assert float(x.max()) == 1.0


def test_to_batch_restrictions_name_what_is_accepted():
    from esrgan_lib.img_util import to_batch

    with pytest.raises(TypeError, match=r"sr: numpy images must be uint8, got dtype float32"):
        to_batch(np.zeros((2, 2), np.float32), name="sr", arrays=("uint8",))
    with pytest.raises(TypeError, match=r"tensor images must be float in \[0, 1\], got dtype torch.uint8"):
        to_batch(torch.zeros(3, 2, 2, dtype=torch.uint8), tensors=("float",))
    with pytest.raises(ValueError, match=r"mode 'RGBA' not supported"):
        to_batch(Image.new("RGBA", (2, 2)), pil_modes=("RGB", "L"))
    with pytest.raises(TypeError, match="got list"):
        to_batch([[0, 1]])


def test_a_jpeg_named_tif_is_still_read(tmp_path):
    Image.new("RGB", (6, 4), (10, 20, 30)).save(tmp_path / "photo.tif", format="JPEG", quality=100)
    img = read_image(tmp_path / "photo.tif")
    assert img.shape == (4, 6, 3)
    (tmp_path / "text.tif").write_text("not an image")
    with pytest.raises(ValueError, match=r"text\.tif.*not an image"):
        read_image(tmp_path / "text.tif")


def test_list_images_agrees_with_read_image(tmp_path):
    from esrgan_lib.data import list_images

    tifffile.imwrite(tmp_path / "float.tif", np.zeros((4, 4, 3), np.float32), photometric="rgb")
    tifffile.imwrite(tmp_path / "five.tif", np.zeros((4, 4, 5), np.uint8), planarconfig="contig")
    bomb_png(tmp_path / "bomb.png")
    with pytest.warns(UserWarning, match="bomb.png, five.tif"):
        assert [p.name for p in list_images(tmp_path)] == ["float.tif"]
    assert read_image(tmp_path / "float.tif").shape == (4, 4, 3)


# ------------------------------------------------------------------ issue 18: one module, one contract


def test_one_read_image_uint8_rgb_by_default(tmp_path):
    from esrgan_lib import data, img_util

    rgba = np.random.default_rng(2).integers(0, 256, (5, 7, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    assert data.read_image is img_util.read_image  # one implementation, re-exported
    assert np.array_equal(img_util.read_image(tmp_path / "a.png"), rgba[..., :3])
    assert np.array_equal(img_util.read_image(tmp_path / "a.png", rgb=False), rgba)


def test_probe_shape_is_the_read_shape_for_rotated_and_transparent_files(tmp_path):
    import png

    from esrgan_lib.img_util import probe_image

    rng = np.random.default_rng(4)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: read upright, so height and width swap
    Image.fromarray(rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)).save(tmp_path / "rot.jpg", exif=exif)
    with open(tmp_path / "trns16.png", "wb") as f:  # 16-bit grey, a transparent value: read as grey + alpha
        png.Writer(4, 3, greyscale=True, bitdepth=16, transparent=5).write(f, [[1, 5, 3, 4]] * 3)
    palette = Image.new("P", (6, 2))
    palette.info["transparency"] = 0
    palette.save(tmp_path / "pal.png", transparency=0)
    ints = np.arange(60, dtype=np.int32).reshape(5, 6, 2) * 1000  # other integers are read as uint16
    tifffile.imwrite(tmp_path / "i32.tif", ints, planarconfig="contig")
    shapes = {"rot.jpg": (20, 12, 3), "trns16.png": (3, 4, 2), "pal.png": (2, 6, 4), "i32.tif": (5, 6, 2)}
    for name, shape in shapes.items():
        info, arr = probe_image(tmp_path / name), read_image(tmp_path / name, rgb=False)
        assert info.shape == arr.shape == shape and info.dtype == arr.dtype, name


def test_probe_finds_a_truncated_png_without_decoding(tmp_path):
    from esrgan_lib.img_util import probe_image

    noise = np.random.default_rng(5).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "f.png")
    data = (tmp_path / "f.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.png: not a readable image .*truncated"):
        probe_image(tmp_path / "cut.png")


def test_save_image_refuses_bad_arrays_and_keeps_the_old_file(tmp_path):
    from esrgan_lib.img_util import save_image

    save_image(np.full((4, 4, 3), 0.5, np.float32), tmp_path / "x.tif")
    before = (tmp_path / "x.tif").read_bytes()
    bad = {"NaN": np.full((4, 4, 3), np.nan, np.float32), r"\[0, 1\]": np.full((4, 4, 3), 2.0, np.float32),
           "shape": np.zeros((4, 4, 5), np.uint8)}
    for match, arr in bad.items():
        with pytest.raises(ValueError, match=rf"x\.tif.*{match}"):
            save_image(arr, tmp_path / "x.tif")
        assert (tmp_path / "x.tif").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.tif"]


def test_list_images_is_one_scan_with_three_levels_of_checking(tmp_path):
    from esrgan_lib.data import list_images

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "good.png")
    data = (tmp_path / "good.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "notes.txt").write_text("hello")
    expected = {"name": (["cut.png", "good.png"], ["notes.txt"]),
                "header": (["good.png"], ["cut.png", "notes.txt"]),
                "decode": (["good.png"], ["cut.png", "notes.txt"])}
    for check, (kept, skipped) in expected.items():
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            assert [p.name for p in list_images(tmp_path, check=check)] == kept, check
        assert len(rec) == 1 and f"skipping {len(skipped)} file(s)" in str(rec[0].message), check
        assert all(name in str(rec[0].message) for name in skipped), check
    with pytest.raises(ValueError, match="check must be one of name, header, decode"):
        list_images(tmp_path, check=True)
