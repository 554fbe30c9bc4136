"""Awkward inputs to esrgan_lib.data: odd image modes, 16-bit files, EXIF, broken files, bad arguments."""

from __future__ import annotations

import struct
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from esrgan_lib.data import (
    SRPatchDataset,
    bicubic_downsample,
    imresize,
    list_images,
    load_benchmark,
    read_image,
    sample_images,
    to_tensor,
    to_uint8,
)


def _rand(h, w, c=3, seed=0, high=256, dtype=np.uint8):
    return np.random.default_rng(seed).integers(0, high, (h, w, c) if c else (h, w)).astype(dtype)


# ------------------------------------------------------------------- a tiny independent PNG writer


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _filter_row(ftype: int, row: bytes, prev: bytes, bpp: int) -> bytes:
    out = bytearray()
    for i, v in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        pred = (0, a, b, (a + b) // 2, _paeth(a, b, c))[ftype]
        out.append((v - pred) % 256)
    return bytes(out)


def _png16(samples: np.ndarray, path) -> None:
    """Write uint16 samples (H, W, C) as a 16-bit PNG, cycling through all five row filters."""
    h, w, c = samples.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    bpp = 2 * c
    raw, prev = bytearray(), bytes(w * bpp)
    for y in range(h):
        row = samples[y].astype(">u2").tobytes()
        ftype = y % 5
        raw += bytes([ftype]) + _filter_row(ftype, row, prev, bpp)
        prev = row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw)))
    path.write_bytes(png + chunk(b"IEND", b""))


def _expected8(samples: np.ndarray) -> np.ndarray:
    return np.floor(samples.astype(np.float64) / 257 + 0.5).astype(np.uint8)


# --------------------------------------------------------------------------------- image modes


def test_grayscale_becomes_three_equal_channels(tmp_path):
    g = _rand(6, 7, c=None)
    Image.fromarray(g, mode="L").save(tmp_path / "g.png")
    img = read_image(tmp_path / "g.png")
    assert img.shape == (6, 7, 3) and img.dtype == np.uint8
    assert all(np.array_equal(img[..., k], g) for k in range(3))


def test_alpha_is_dropped_not_composited(tmp_path):
    rgba = _rand(5, 6, c=4, seed=1)
    rgba[..., 3] = 0  # fully transparent: colour values must survive
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    assert np.array_equal(read_image(tmp_path / "a.png"), rgba[..., :3])
    la = np.stack([_rand(5, 6, c=None, seed=2), np.full((5, 6), 10, np.uint8)], axis=2)
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    out = read_image(tmp_path / "la.png")
    assert np.array_equal(out, np.repeat(la[..., :1], 3, axis=2))


def test_palette_and_bilevel_images(tmp_path):
    palette = np.array([[255, 0, 0], [0, 128, 255], [10, 20, 30]], np.uint8)
    index = _rand(4, 5, c=None, high=3)
    p = Image.fromarray(index, mode="P")
    p.putpalette(palette.ravel().tolist())
    p.save(tmp_path / "p.png")
    assert np.array_equal(read_image(tmp_path / "p.png"), palette[index])
    bits = _rand(8, 8, c=None, high=2).astype(bool)
    Image.fromarray(bits).save(tmp_path / "b.png")
    assert np.array_equal(read_image(tmp_path / "b.png")[..., 0], bits.astype(np.uint8) * 255)


def test_cmyk_image(tmp_path):
    cmyk = np.zeros((3, 4, 4), np.uint8)
    cmyk[..., 0] = 255  # pure cyan ink -> RGB (0, 255, 255) with PIL's conversion
    Image.fromarray(cmyk, mode="CMYK").save(tmp_path / "c.tif")
    img = read_image(tmp_path / "c.tif")
    assert img.shape == (3, 4, 3)
    assert (img == [0, 255, 255]).all()


def test_16bit_grayscale_is_scaled_not_clipped(tmp_path):
    g = _rand(5, 9, c=None, high=65536, dtype=np.uint16)
    g[0, :3] = [0, 65535, 32896]  # 32896 / 257 = 128.0
    Image.fromarray(g).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    img = read_image(tmp_path / "g16.png")
    assert np.array_equal(img[..., 0], _expected8(g))
    assert img[0, :3, 0].tolist() == [0, 255, 128]


@pytest.mark.parametrize("channels", [3, 4, 2])
def test_16bit_colour_png_scaled_correctly(tmp_path, channels):
    s = _rand(11, 13, c=channels, seed=channels, high=65536, dtype=np.uint16)
    s[0, 0, 0] = 41743  # Pillow's high byte gives 163; round(41743 / 257) = 162
    _png16(s, tmp_path / "c16.png")
    img = read_image(tmp_path / "c16.png")
    colour = s[..., :3] if channels >= 3 else np.repeat(s[..., :1], 3, axis=2)
    assert np.array_equal(img, _expected8(colour))
    assert img[0, 0, 0] == 162


def test_32bit_integer_and_float_images(tmp_path):
    i32 = _rand(4, 5, c=None, high=65536).astype(np.int32)
    Image.fromarray(i32, mode="I").save(tmp_path / "i.tif")
    assert np.array_equal(read_image(tmp_path / "i.tif")[..., 1], _expected8(i32))
    f01 = np.random.default_rng(1).random((4, 5)).astype(np.float32)
    Image.fromarray(f01, mode="F").save(tmp_path / "f.tif")
    expected = np.floor(f01.astype(np.float64) * 255 + 0.5).astype(np.uint8)
    assert np.abs(read_image(tmp_path / "f.tif")[..., 2].astype(int) - expected).max() <= 1


def test_exif_orientation_is_applied(tmp_path):
    img = _rand(4, 6, seed=3)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(img).save(tmp_path / "r.png", exif=exif)
    out = read_image(tmp_path / "r.png")
    assert out.shape == (6, 4, 3)
    assert np.array_equal(out, np.rot90(img, k=-1))


# ------------------------------------------------------------------------------- broken files


def test_missing_empty_text_truncated_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.png.*empty"):
        read_image(tmp_path / "empty.png")
    (tmp_path / "notes.png").write_text("this is text")
    with pytest.raises(ValueError, match=r"notes\.png.*not an image"):
        read_image(tmp_path / "notes.png")
    Image.fromarray(_rand(64, 64)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.png.*truncated or corrupt"):
        read_image(tmp_path / "cut.png")
    Image.fromarray(_rand(64, 64)).save(tmp_path / "full.jpg", quality=90)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match=r"cut\.jpg"):
        read_image(tmp_path / "cut.jpg")


def test_truncated_16bit_colour_png(tmp_path):
    _png16(_rand(20, 20, high=65536, dtype=np.uint16), tmp_path / "c16.png")
    data = (tmp_path / "c16.png").read_bytes()
    (tmp_path / "cut16.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut16\.png"):
        read_image(tmp_path / "cut16.png")


def test_list_images_bad_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        list_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty"):
        list_images(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.png").write_bytes(b"")
    (bad / "b.txt").write_text("x")
    with pytest.raises(ValueError, match=r"no readable image in .*bad.*a\.png.*b\.txt"):
        list_images(bad)


def test_list_images_mixed_folder_warns_once_listing_all(tmp_path):
    Image.fromarray(_rand(8, 8)).save(tmp_path / "good.png")
    Image.fromarray(_rand(8, 8)).save(tmp_path / "good2.jpg")
    (tmp_path / "zero.png").write_bytes(b"")
    data = (tmp_path / "good.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:-30])
    (tmp_path / "readme.md").write_text("hi")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x01")  # hidden: ignored silently
    (tmp_path / "sub").mkdir()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        found = list_images(tmp_path)
    assert [p.name for p in found] == ["good.png", "good2.jpg"]
    assert len(rec) == 1
    msg = str(rec[0].message)
    assert all(name in msg for name in ("zero.png", "cut.png", "readme.md")) and "3 file" in msg
    assert ".DS_Store" not in msg


# ----------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("scale", [0, -2, 2.5, True, "4", None])
def test_bicubic_rejects_bad_scale(scale):
    with pytest.raises(ValueError, match="scale"):
        bicubic_downsample(np.zeros((8, 8, 3), np.uint8), scale)


def test_bicubic_rejects_bad_images():
    with pytest.raises(ValueError, match=r"2x5 is smaller than the scale factor 4"):
        bicubic_downsample(np.zeros((2, 5, 3), np.uint8), 4)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bicubic_downsample(torch.full((3, 8, 8), 1.5), 2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bicubic_downsample(torch.full((3, 8, 8), -0.1), 1)
    with pytest.raises(TypeError, match="float"):
        bicubic_downsample(torch.zeros(3, 8, 8, dtype=torch.uint8), 2)
    with pytest.raises(TypeError, match="uint8"):
        bicubic_downsample(np.zeros((8, 8, 3), np.float32), 2)
    with pytest.raises(ValueError, match="shape"):
        bicubic_downsample(torch.zeros(8, 8), 2)
    with pytest.raises(TypeError, match="list"):
        bicubic_downsample([[0, 1], [1, 0]], 2)
    with pytest.raises(ValueError, match="mode"):
        bicubic_downsample(Image.new("RGBA", (8, 8)), 2)
    with pytest.raises(ValueError, match="size"):
        imresize(np.zeros((8, 8), np.uint8), (0, 4))


def test_float16_and_bfloat16_tensors_keep_their_dtype():
    for dtype in (torch.float16, torch.bfloat16):
        out = bicubic_downsample(torch.full((1, 3, 8, 8), 0.5, dtype=dtype), 2)
        assert out.dtype == dtype and out.shape == (1, 3, 4, 4)
        assert torch.allclose(out.float(), torch.full((1, 3, 4, 4), 0.5), atol=1e-2)


def test_modcrop_rejects_bad_scale():
    from esrgan_lib.data import modcrop

    for scale in (0, 1.5, True):
        with pytest.raises(ValueError, match="scale"):
            modcrop(np.zeros((8, 8, 3), np.uint8), scale)


def test_conversion_errors():
    with pytest.raises(TypeError, match="uint8"):
        to_tensor(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(4, 4, 4\)"):
        to_tensor(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="batch"):
        to_uint8(torch.zeros(2, 3, 4, 4))
    with pytest.raises(TypeError, match="Tensor"):
        to_uint8(np.zeros((3, 4, 4)))


def test_dataset_rejects_bad_setups(tmp_path):
    img = _rand(40, 40)
    with pytest.raises(ValueError, match="multiple of scale=4"):
        SRPatchDataset([img], scale=4, hr_size=30)
    with pytest.raises(ValueError, match=r"image 1 is 20x40.*hr_size=32"):
        SRPatchDataset([img, _rand(40, 20)], scale=4, hr_size=32)
    Image.fromarray(_rand(24, 50)).save(tmp_path / "small.png")
    with pytest.raises(ValueError, match=r"small\.png is 50x24"):
        SRPatchDataset(tmp_path, scale=4, hr_size=32)
    with pytest.raises(ValueError, match="uint8"):
        SRPatchDataset([img.astype(np.float32)], scale=4, hr_size=32)
    with pytest.raises(ValueError, match="at least one"):
        SRPatchDataset([], scale=4, hr_size=32)
    with pytest.raises(ValueError, match="repeat"):
        SRPatchDataset([img], scale=4, hr_size=32, repeat=0)
    ds = SRPatchDataset([img], scale=4, hr_size=32)
    with pytest.raises(IndexError):
        ds[1]


def test_dataset_accepts_odd_modes_from_disk(tmp_path):
    Image.fromarray(_rand(40, 40, c=4), mode="RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(_rand(40, 40, c=None), mode="L").save(tmp_path / "gray.png")
    ds = SRPatchDataset(tmp_path, scale=2, hr_size=16)
    for i in range(len(ds)):
        lr, hr = ds[i]
        assert lr.shape == (3, 8, 8) and hr.shape == (3, 16, 16)


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown benchmark 'Set15'"):
        load_benchmark("Set15")
    with pytest.raises(ValueError, match="unknown sample image 'lena'"):
        sample_images(["lena"])
