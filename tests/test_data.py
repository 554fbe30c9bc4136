"""esrgan_lib.data: conversions, MATLAB-style bicubic, patch dataset, sample images, benchmarks."""

from __future__ import annotations

import hashlib
import io
import math
import os
import tarfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from _http_server import LocalServer  # the local HTTP server used by the download tests
from PIL import Image

from esrgan_lib.data import (
    SAMPLE_IMAGE_NAMES,
    SRPatchDataset,
    bicubic_downsample,
    download_div2k,
    extract_subimages,
    imresize,
    list_images,
    load_benchmark,
    modcrop,
    read_image,
    sample_images,
    to_tensor,
    to_uint8,
)
from esrgan_lib.data import benchmarks as bm
from esrgan_lib.download import ChecksumError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_set5 = pytest.mark.skipif(not (DATA / "Set5").is_dir(), reason="shared Set5 copy not present")
needs_set14 = pytest.mark.skipif(not (DATA / "Set14").is_dir(), reason="shared Set14 copy not present")


def _rand_img(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _smooth_img(h, w, seed=0):
    """A photo-like (smooth) random image, so bicubic differences stay small."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, h // 8), max(2, w // 8), 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.BILINEAR))


def _y_psnr(a: np.ndarray, b: np.ndarray, border: int = 4) -> float:
    """Y-channel PSNR exactly as REFERENCE.md describes (MATLAB rgb2ycbcr, [0,255], border cropped)."""

    def y(img):
        img = img.astype(np.float64)
        return 16 + (65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]) / 255

    d = (y(a) - y(b))[border:-border, border:-border]
    return 10 * math.log10(255.0**2 / np.mean(d**2))


# ---------------------------------------------------------------------------------------- io


def test_to_tensor_and_to_uint8_round_trip():
    img = _rand_img(7, 9)
    t = to_tensor(img)
    assert t.shape == (3, 7, 9) and t.dtype == torch.float32
    assert abs(t[1, 2, 3].item() - img[2, 3, 1] / 255.0) < 1e-7
    assert np.array_equal(to_uint8(t), img)
    assert np.array_equal(to_uint8(t[None]), img)
    gray = img[..., 0]
    assert torch.equal(to_tensor(gray), to_tensor(np.stack([gray] * 3, axis=2)))


def test_to_uint8_rounds_and_clamps():
    t = torch.tensor([[[-0.2, 0.0, 0.4 / 255, 0.6 / 255, 254.4 / 255, 1.0, 1.3]]]).repeat(3, 1, 1)
    assert to_uint8(t)[0, :, 0].tolist() == [0, 0, 0, 1, 254, 255, 255]


def test_modcrop_arrays_and_tensors():
    img = _rand_img(13, 10)
    assert modcrop(img, 4).shape == (12, 8, 3)
    assert np.array_equal(modcrop(img, 4), img[:12, :8])
    assert modcrop(torch.zeros(2, 3, 13, 10), 4).shape == (2, 3, 12, 8)
    assert modcrop(img, 1).shape == img.shape


def test_read_image_matches_pil_and_list_images_is_sorted(tmp_path):
    for name in ("b.png", "a.png", "c.bmp"):
        Image.fromarray(_rand_img(5, 6, seed=len(name) + ord(name[0]))).save(tmp_path / name)
    paths = list_images(tmp_path)
    assert [p.name for p in paths] == ["a.png", "b.png", "c.bmp"]
    for p in paths:
        assert np.array_equal(read_image(p), np.asarray(Image.open(p)))


# ---------------------------------------------------------------------------- bicubic (MATLAB)


def _matlab_imresize_reference(img: np.ndarray, scale: float) -> np.ndarray:
    """Direct, loop-based transcription of MATLAB's imresize contributions (float64, no rounding)."""

    def cubic(x):
        x = abs(x)
        if x <= 1:
            return 1.5 * x**3 - 2.5 * x**2 + 1
        if x <= 2:
            return -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2
        return 0.0

    def resize_1d(vec, out_len):
        n = len(vec)
        width = 4 / scale if scale < 1 else 4
        out = np.zeros(out_len)
        for x in range(1, out_len + 1):
            u = x / scale + 0.5 * (1 - 1 / scale)
            left = math.floor(u - width / 2)
            ws, vals = [], []
            for k in range(left, left + math.ceil(width) + 2):
                w = scale * cubic(scale * (u - k)) if scale < 1 else cubic(u - k)
                j = k
                while j < 1 or j > n:  # symmetric padding: ... 2 1 | 1 2 ... n | n n-1 ...
                    j = 1 - j if j < 1 else 2 * n + 1 - j
                ws.append(w)
                vals.append(vec[j - 1])
            out[x - 1] = np.dot(ws, vals) / np.sum(ws)
        return out

    h, w = img.shape
    oh, ow = math.ceil(h * scale), math.ceil(w * scale)
    tmp = np.stack([resize_1d(img[:, c], oh) for c in range(w)], axis=1)
    return np.stack([resize_1d(tmp[r], ow) for r in range(oh)], axis=0)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_matches_loop_transcription_of_matlab(scale):
    rng = np.random.default_rng(scale)
    img = rng.random((6 * scale, 5 * scale))
    expected = _matlab_imresize_reference(img, 1 / scale)
    got = bicubic_downsample(torch.from_numpy(img)[None], scale)[0].numpy()
    # values may leave [0, 1] before clamping: compare where the reference is inside
    inside = (expected >= 0) & (expected <= 1)
    assert got.shape == expected.shape
    assert np.allclose(got[inside], expected[inside], atol=1e-12)
    assert np.allclose(got, np.clip(expected, 0, 1), atol=1e-12)
    up = imresize(torch.from_numpy(img * 0.5 + 0.25)[None], 2.0)[0].numpy()
    assert np.allclose(up, np.clip(_matlab_imresize_reference(img * 0.5 + 0.25, 2.0), 0, 1), atol=1e-12)


def test_bicubic_reproduces_linear_ramps_with_matlab_pixel_centres():
    # cubic convolution reproduces linear functions, so the interior samples the ramp at
    # MATLAB's u = x*s + 0.5*(1 - s) (1-based): checks the coordinate mapping independently
    s, n = 4, 64
    ramp = torch.arange(1, n + 1, dtype=torch.float64) / 100
    img = ramp.view(1, 1, 1, n).expand(1, 1, 8, n).contiguous()
    out = bicubic_downsample(img, s)[0, 0, 0]
    x = torch.arange(1, n // s + 1, dtype=torch.float64)
    u = x * s + 0.5 * (1 - s)
    assert torch.allclose(out[3:-3], (u / 100)[3:-3], atol=1e-12)


@needs_set5
def test_bicubic_x4_set5_y_psnr_matches_published_protocol():
    scores = []
    for p in sorted((DATA / "Set5").glob("*.png")):
        hr = modcrop(read_image(p), 4)
        sr = imresize(bicubic_downsample(hr, 4), 4)
        assert sr.shape == hr.shape
        scores.append(_y_psnr(sr, hr))
    assert len(scores) == 5
    assert abs(np.mean(scores) - 28.43) < 0.05, np.mean(scores)  # MATLAB paper value 28.42


@needs_set14
def test_bicubic_x4_set14_y_psnr():
    scores = [
        _y_psnr(imresize(bicubic_downsample(hr, 4), 4), hr)
        for hr in (modcrop(read_image(p), 4) for p in sorted((DATA / "Set14").glob("*.png")))
    ]
    assert len(scores) == 14
    assert abs(np.mean(scores) - 26.09) < 0.05, np.mean(scores)  # PIL on these files: 26.09


def test_bicubic_close_to_pil_but_not_equal():
    hr = _smooth_img(96, 128, seed=3)
    ours = bicubic_downsample(hr, 4).astype(np.int16)
    pil = np.asarray(Image.fromarray(hr).resize((32, 24), Image.BICUBIC)).astype(np.int16)
    diff = np.abs(ours - pil)
    assert diff[2:-2, 2:-2].max() <= 2  # same kernel inside the image
    assert diff.mean() < 0.5
    assert diff.max() >= 1  # edges (and per-pass rounding) differ


def test_bicubic_constant_image_stays_constant_and_shapes():
    for value in (0, 37, 255):
        img = np.full((50, 30, 3), value, np.uint8)
        out = bicubic_downsample(img, 4)
        assert out.shape == (12, 7, 3) and out.dtype == np.uint8  # trimmed to 48 x 28 first
        assert (out == value).all()
    t = torch.full((2, 3, 33, 17), 0.3)
    out = bicubic_downsample(t, 2)
    assert out.shape == (2, 3, 16, 8) and out.dtype == torch.float32
    assert torch.allclose(out, torch.full_like(out, 0.3), atol=1e-6)
    assert bicubic_downsample(np.full((9, 9), 200, np.uint8), 3).shape == (3, 3)


def test_bicubic_scale_one_is_identity_after_no_trim():
    img = _rand_img(10, 11)
    assert np.array_equal(bicubic_downsample(img, 1), img)
    t = torch.rand(3, 5, 6)
    assert torch.equal(bicubic_downsample(t, 1), t)


def test_bicubic_tensor_array_pil_agree():
    hr = _smooth_img(64, 48, seed=7)
    arr = bicubic_downsample(hr, 4)
    pil = bicubic_downsample(Image.fromarray(hr), 4)
    assert isinstance(pil, Image.Image) and pil.size == (12, 16)
    assert np.array_equal(np.asarray(pil), arr)
    t64 = bicubic_downsample(torch.from_numpy(hr.transpose(2, 0, 1).astype(np.float64) / 255), 4)
    assert t64.dtype == torch.float64
    assert np.array_equal(np.rint(t64.numpy().transpose(1, 2, 0) * 255).astype(np.uint8), arr)
    t32 = bicubic_downsample(to_tensor(hr)[None], 4)
    assert t32.shape == (1, 3, 16, 12)
    assert np.abs(to_uint8(t32).astype(int) - arr).max() <= 1
    gray = bicubic_downsample(hr[..., 1], 4)
    assert np.array_equal(gray, arr[..., 1])
    gray_pil = bicubic_downsample(Image.fromarray(hr[..., 1]), 4)
    assert gray_pil.mode == "L" and np.array_equal(np.asarray(gray_pil), gray)


def test_bicubic_gather_path_for_huge_images_matches_matrix_path(monkeypatch):
    from esrgan_lib.data import degradation

    t = torch.rand(2, 3, 37, 29, dtype=torch.float64)
    dense_down, dense_up = bicubic_downsample(t, 4), imresize(t, 3)
    monkeypatch.setattr(degradation, "_DENSE_LIMIT", 0)
    assert torch.allclose(bicubic_downsample(t, 4), dense_down, atol=1e-12)
    assert torch.allclose(imresize(t, 3), dense_up, atol=1e-12)


def test_bicubic_batch_is_per_image():
    batch = torch.rand(3, 3, 16, 16, dtype=torch.float64)
    out = bicubic_downsample(batch, 2)
    for i in range(3):
        assert torch.allclose(out[i], bicubic_downsample(batch[i], 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_bicubic_on_gpu_matches_cpu():
    t = torch.rand(2, 3, 40, 40)
    assert torch.allclose(bicubic_downsample(t.cuda(), 4).cpu(), bicubic_downsample(t, 4), atol=1e-5)


def test_imresize_size_argument_and_upscale():
    img = _smooth_img(20, 30)
    out = imresize(img, (10, 45))
    assert out.shape == (10, 45, 3)
    assert imresize(np.full((5, 7, 3), 90, np.uint8), 3).shape == (15, 21, 3)
    assert (imresize(np.full((5, 7, 3), 90, np.uint8), 3) == 90).all()


# ------------------------------------------------------------------------------------- dataset


def test_patch_dataset_items_shapes_and_ranges():
    ds = SRPatchDataset([_rand_img(70, 90, 1), _rand_img(64, 64, 2)], scale=4, hr_size=32, repeat=3)
    assert len(ds) == 6
    lr, hr = ds[5]
    assert lr.shape == (3, 8, 8) and hr.shape == (3, 32, 32)
    assert lr.dtype == hr.dtype == torch.float32
    assert 0 <= lr.min() and lr.max() <= 1 and 0 <= hr.min() and hr.max() <= 1


def _find(img: np.ndarray, patch: np.ndarray) -> tuple[int, int]:
    size = patch.shape[0]
    hits = [
        (y, x)
        for y in range(img.shape[0] - size + 1)
        for x in range(img.shape[1] - size + 1)
        if np.array_equal(img[y : y + size, x : x + size], patch)
    ]
    assert len(hits) == 1
    return hits[0]


def test_patch_dataset_lr_is_aligned_crop_of_full_lr():
    img = _rand_img(75, 86, seed=4)  # sides not multiples of the scale
    for scale in (2, 3, 4):
        size = 8 * scale
        full_lr = bicubic_downsample(img, scale)
        ds = SRPatchDataset([img], scale=scale, hr_size=size, augment=False, repeat=6, seed=scale)
        for i in range(len(ds)):
            lr, hr = ds[i]
            y, x = _find(img, to_uint8(hr))
            assert y % scale == 0 and x % scale == 0
            ly, lx = y // scale, x // scale
            assert np.array_equal(to_uint8(lr), full_lr[ly : ly + 8, lx : lx + 8])


def test_patch_dataset_augmentations_are_the_8_dihedral_transforms():
    img = _rand_img(32, 32, seed=5)  # hr_size == image size: crop is the whole image
    lr_full = bicubic_downsample(img, 4)

    def dihedral(a):
        out = []
        for t in (False, True):
            b = a.transpose(1, 0, 2) if t else a
            for k in range(4):
                out.append(np.rot90(b, k))
        return out

    hr_variants, lr_variants = dihedral(img), dihedral(lr_full)
    seen = set()
    ds = SRPatchDataset([img], scale=4, hr_size=32, augment=True, repeat=64)
    for i in range(len(ds)):
        lr, hr = (to_uint8(t) for t in ds[i])
        k = [j for j, v in enumerate(hr_variants) if np.array_equal(v, hr)]
        assert len(k) == 1
        assert np.array_equal(lr, lr_variants[k[0]])  # LR transformed like HR
        seen.add(k[0])
    assert seen == set(range(8))


def test_patch_dataset_color_augment_permutes_channels_of_an_exact_pair():
    import itertools

    img = _rand_img(48, 56, seed=6)
    plain = SRPatchDataset([img], scale=4, hr_size=32, augment=True, repeat=48, seed=2)
    shuffled = SRPatchDataset([img], scale=4, hr_size=32, augment=True, repeat=48, seed=2, color_augment=True)
    perms = list(itertools.permutations(range(3)))
    seen = set()
    for i in range(len(plain)):
        lr0, hr0 = (to_uint8(t) for t in plain[i])
        lr1, hr1 = (to_uint8(t) for t in shuffled[i])
        # same crop and flips as without colour augmentation, channels permuted alike in LR and HR
        k = [j for j, p in enumerate(perms) if np.array_equal(hr0[:, :, list(p)], hr1)]
        assert len(k) == 1
        assert np.array_equal(lr0[:, :, list(perms[k[0]])], lr1)
        # and the pair is still exact: the LR is the bicubic downsampling of the HR
        assert np.array_equal(bicubic_downsample(hr1, 4)[2:-2, 2:-2], lr1[2:-2, 2:-2])
        seen.add(k[0])
    assert seen == set(range(6))
    assert "color_augment=True" in repr(shuffled)


def test_patch_dataset_is_deterministic_per_seed_epoch_index():
    imgs = [_rand_img(80, 80, 1), _rand_img(96, 72, 2)]
    a = SRPatchDataset(imgs, scale=4, hr_size=32, seed=1, repeat=4)
    b = SRPatchDataset(imgs, scale=4, hr_size=32, seed=1, repeat=4)
    first = [a[i] for i in range(len(a))]
    for i in reversed(range(len(b))):  # order of access does not matter
        assert torch.equal(b[i][1], first[i][1]) and torch.equal(b[i][0], first[i][0])
    a.set_epoch(1)
    assert any(not torch.equal(a[i][1], first[i][1]) for i in range(len(a)))
    a.set_epoch(0)
    assert torch.equal(a[3][1], first[3][1])
    c = SRPatchDataset(imgs, scale=4, hr_size=32, seed=2, repeat=4)
    assert any(not torch.equal(c[i][1], first[i][1]) for i in range(len(c)))


def test_patch_dataset_same_items_with_dataloader_workers():
    ds = SRPatchDataset([_rand_img(64, 64, 3)], scale=2, hr_size=16, repeat=6, seed=3)
    serial = torch.stack([ds[i][1] for i in range(len(ds))])
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2)
    parallel = torch.cat([hr for _, hr in loader])
    assert torch.equal(serial, parallel)


def test_patch_dataset_from_folder_and_pil(tmp_path):
    img = _rand_img(40, 48, 6)
    Image.fromarray(img).save(tmp_path / "x.png")
    from_folder = SRPatchDataset(tmp_path, scale=4, hr_size=16, seed=9)
    from_pil = SRPatchDataset([Image.fromarray(img)], scale=4, hr_size=16, seed=9)
    from_path = SRPatchDataset([tmp_path / "x.png"], scale=4, hr_size=16, seed=9, cache=False)
    for ds in (from_pil, from_path):
        assert all(torch.equal(x, y) for x, y in zip(ds[0], from_folder[0]))


def test_sample_images_are_rgb_uint8():
    imgs = sample_images(["astronaut", "chelsea"])
    assert [im.shape for im in imgs] == [(512, 512, 3), (300, 451, 3)]
    assert all(im.dtype == np.uint8 and im.flags.c_contiguous for im in imgs)
    assert len(SAMPLE_IMAGE_NAMES) == 9


@pytest.mark.slow
def test_all_sample_images_load():
    imgs = sample_images()
    assert len(imgs) == len(SAMPLE_IMAGE_NAMES)
    for name, im in zip(SAMPLE_IMAGE_NAMES, imgs):
        assert im.ndim == 3 and im.shape[2] == 3 and im.dtype == np.uint8, name
        assert min(im.shape[:2]) >= 256, name


# ---------------------------------------------------------------------------------- benchmarks


@needs_set5
@needs_set14
def test_load_benchmark_from_root():
    set5 = load_benchmark("Set5", root=DATA)
    assert list(set5) == ["baby", "bird", "butterfly", "head", "woman"]
    assert set5["woman"].shape == (344, 228, 3)
    set14 = load_benchmark("set14", root=DATA)
    assert len(set14) == 14 and list(set14) == sorted(set14)
    bridge = set14["bridge"]  # stored as a 1-channel PNG
    assert bridge.shape == (512, 512, 3) and (bridge[..., 0] == bridge[..., 2]).all()


def test_default_root_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("ESRGAN_DATA", str(tmp_path))
    assert bm.default_data_root() == tmp_path
    with pytest.raises(FileNotFoundError, match=r"download=True"):
        load_benchmark("Set5")
    monkeypatch.delenv("ESRGAN_DATA")
    assert bm.default_data_root() == Path.home() / ".cache" / "esrgan_lib" / "datasets"


def test_one_cache_root_for_weights_and_data(monkeypatch, tmp_path):
    from esrgan_lib.checkpoint import pretrained

    monkeypatch.delenv("ESRGAN_DATA", raising=False)
    monkeypatch.setenv("ESRGAN_HOME", str(tmp_path / "home"))
    assert bm.default_data_root() == tmp_path / "home" / "datasets"
    assert pretrained.cache_dir() == tmp_path / "home" / "weights"
    monkeypatch.setenv("ESRGAN_DATA", str(tmp_path / "mine"))  # data sets elsewhere, weights stay
    assert bm.default_data_root() == tmp_path / "mine"
    assert pretrained.cache_dir() == tmp_path / "home" / "weights"


def test_an_interrupted_div2k_download_is_resumed(monkeypatch, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("DIV2K_valid_HR/0801.png", _png_bytes(_rand_img(8, 8, seed=1)))
    data = buf.getvalue()
    entry = ("DIV2K_valid_HR.zip", len(data), hashlib.sha256(data).hexdigest())
    monkeypatch.setitem(bm.DIV2K_FILES, "valid", entry)
    (tmp_path / "DIV2K_valid_HR.zip.part").write_bytes(data[:100])
    with LocalServer({"/DIV2K_valid_HR.zip": data}) as srv:
        monkeypatch.setattr(bm, "DIV2K_BASE_URL", srv.url)
        archive = download_div2k(tmp_path, "valid", extract=False, progress=False)
        assert srv.requests == [("/DIV2K_valid_HR.zip", "bytes=100-")]
    assert archive.read_bytes() == data


def test_checksums_embedded_match_shared_sums():
    sums = DATA / "SHA256SUMS"
    if not sums.exists():
        pytest.skip("shared SHA256SUMS not present")
    listed = {}
    for line in sums.read_text().splitlines():
        digest, rel = line.split()
        name, fname = rel.split("/")
        listed.setdefault(name, {})[fname] = digest
    assert listed == bm.BENCHMARK_SHA256


@needs_set5
def test_set5_download_from_local_server(monkeypatch, tmp_path):
    files = {f"/CSet5/{p.name}": p.read_bytes() for p in sorted((DATA / "Set5").glob("*.png"))}
    with LocalServer(files) as srv:
        monkeypatch.setattr(bm, "GITHUB_BASE_URL", srv.url)
        got = load_benchmark("Set5", root=tmp_path / "root", download=True)
        assert len(srv.requests) == 5
        again = load_benchmark("Set5", root=tmp_path / "root", download=True)  # no new requests
        assert len(srv.requests) == 5
    expected = load_benchmark("Set5", root=DATA)
    assert list(got) == list(expected) == list(again)
    assert all(np.array_equal(got[k], expected[k]) for k in got)


@needs_set5
def test_set5_download_with_tampered_file_fails_cleanly(monkeypatch, tmp_path):
    files = {f"/CSet5/{p.name}": p.read_bytes() for p in sorted((DATA / "Set5").glob("*.png"))}
    files["/CSet5/bird.png"] = files["/CSet5/bird.png"][:-10] + b"0123456789"
    with LocalServer(files) as srv:
        monkeypatch.setattr(bm, "GITHUB_BASE_URL", srv.url)
        with pytest.raises(ChecksumError, match="bird.png"):
            load_benchmark("Set5", root=tmp_path, download=True)
    assert not (tmp_path / "Set5" / "bird.png").exists()
    assert not list((tmp_path / "Set5").glob("*.part"))


def _png_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def test_bsd100_archive_download_from_local_server(monkeypatch, tmp_path):
    imgs = {f"{i:03d}": _rand_img(12, 10, seed=i) for i in (2, 1, 3)}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for stem, img in imgs.items():
            data = _png_bytes(img)
            info = tarfile.TarInfo(f"BSD100_HR/{stem}.png")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    with LocalServer({"/BSD100/resolve/main/data/BSD100_HR.tar.gz": buf.getvalue()}) as srv:
        monkeypatch.setattr(bm, "HF_BASE_URL", srv.url)
        with pytest.warns(UserWarning, match="no published checksum"):
            got = load_benchmark("BSD100", root=tmp_path, download=True)
    assert list(got) == ["001", "002", "003"]
    assert all(np.array_equal(got[k], imgs[k]) for k in got)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BSD100"]  # no temporary files left


def test_an_interrupted_archive_download_leaves_no_partial_test_set(monkeypatch, tmp_path):
    """BSD100/Urban100 have no checksums: a folder holding some of their images would be taken for the
    whole set (scores that look comparable and are not), so the images go into place all at once."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for i in range(3):
            data = _png_bytes(_rand_img(8, 8, seed=i))
            info = tarfile.TarInfo(f"BSD100_HR/{i:03d}.png")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    moved = []
    real_rename, real_replace = os.rename, os.replace

    def interrupted(move):
        def wrapper(src, dst, *args, **kwargs):
            if str(src).endswith(".png"):  # one image placed, then Ctrl-C
                moved.append(src)
                if len(moved) == 2:
                    raise KeyboardInterrupt
            return move(src, dst, *args, **kwargs)
        return wrapper

    with LocalServer({"/BSD100/resolve/main/data/BSD100_HR.tar.gz": buf.getvalue()}) as srv:
        monkeypatch.setattr(bm, "HF_BASE_URL", srv.url)
        monkeypatch.setattr(os, "rename", interrupted(real_rename))
        monkeypatch.setattr(os, "replace", interrupted(real_replace))
        with pytest.warns(UserWarning, match="no published checksum"), pytest.raises(KeyboardInterrupt):
            load_benchmark("BSD100", root=tmp_path, download=True)
        monkeypatch.setattr(os, "rename", real_rename)
        monkeypatch.setattr(os, "replace", real_replace)
        assert not (tmp_path / "BSD100").exists() or not any((tmp_path / "BSD100").iterdir())
        with pytest.warns(UserWarning, match="no published checksum"):
            assert len(load_benchmark("BSD100", root=tmp_path, download=True)) == 3  # the next try: all


def test_download_div2k_from_local_server(monkeypatch, tmp_path):
    imgs = {f"{i:04d}.png": _rand_img(8, 8, seed=i) for i in (801, 802)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, img in imgs.items():
            zf.writestr(f"DIV2K_valid_HR/{name}", _png_bytes(img))
    data = buf.getvalue()
    files = dict(bm.DIV2K_FILES)
    files["valid"] = ("DIV2K_valid_HR.zip", len(data), hashlib.sha256(data).hexdigest())
    monkeypatch.setattr(bm, "DIV2K_FILES", files)
    with LocalServer({"/DIV2K_valid_HR.zip": data}) as srv:
        monkeypatch.setattr(bm, "DIV2K_BASE_URL", srv.url)
        folder = download_div2k(tmp_path, "valid", progress=False)
        assert folder == tmp_path / "DIV2K_valid_HR"
        assert [p.name for p in list_images(folder)] == sorted(imgs)
        assert not (tmp_path / "DIV2K_valid_HR.zip").exists()
        assert download_div2k(tmp_path, "valid", progress=False) == folder  # already there
        assert len(srv.requests) == 1
    with pytest.raises(ValueError, match="split"):
        download_div2k(tmp_path, "test")


def test_extract_subimages(tmp_path):
    img = _rand_img(100, 70, seed=8)
    (tmp_path / "in").mkdir()
    Image.fromarray(img).save(tmp_path / "in" / "pic.png")
    paths = extract_subimages(tmp_path / "in", tmp_path / "out", crop=48, step=24)
    # rows start at 0, 24, 48 and 52 (flush with the bottom); columns at 0 and 22 (flush right)
    assert len(paths) == 4 * 2
    starts = [(y, x) for y in (0, 24, 48, 52) for x in (0, 22)]
    for p, (y, x) in zip(paths, starts):
        assert np.array_equal(read_image(p), img[y : y + 48, x : x + 48])


def test_list_images_skips_with_one_warning(tmp_path):
    Image.fromarray(_rand_img(4, 4)).save(tmp_path / "ok.png")
    (tmp_path / "notes.txt").write_text("hello")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        assert [p.name for p in list_images(tmp_path)] == ["ok.png"]
    assert len(rec) == 1 and "notes.txt" in str(rec[0].message)


def test_shared_data_copy_is_untouched():
    if not (DATA / "Set5").is_dir():
        pytest.skip("shared data not present")
    # benchmark loaders only read: the shared files still match their checksums
    for fname, digest in bm.BENCHMARK_SHA256["Set5"].items():
        assert hashlib.sha256((DATA / "Set5" / fname).read_bytes()).hexdigest() == digest
