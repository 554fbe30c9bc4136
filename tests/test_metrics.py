"""Tests for esrgan_lib.metrics against scikit-image's independent PSNR/SSIM implementations."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from esrgan_lib.metrics import psnr, rgb_to_y, ssim

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _degrade(hr: np.ndarray, scale: int = 4) -> np.ndarray:
    """Bicubic down and up with PIL: a realistic 'SR' image of the same size."""
    h, w = hr.shape[:2]
    img = Image.fromarray(hr).resize((w // scale, h // scale), Image.BICUBIC).resize((w, h), Image.BICUBIC)
    return np.array(img)


@pytest.fixture(scope="module")
def pairs():
    """Two (sr, hr) uint8 RGB pairs of the same size from scikit-image's photos."""
    out = []
    for photo in (skdata.astronaut(), skdata.chelsea()):
        hr = np.ascontiguousarray(photo[:96, :120])
        out.append((_degrade(hr), hr))
    return out


def _y_manual(img: np.ndarray) -> np.ndarray:
    """MATLAB rgb2ycbcr's Y written out per channel, float64 on [0, 255]."""
    r, g, b = (img[..., i].astype(np.float64) for i in range(3))
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def _crop(x: np.ndarray, border: int) -> np.ndarray:
    return x[border:-border, border:-border] if border else x


def _skimage_ssim(a: np.ndarray, b: np.ndarray, **kw) -> float:
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, **kw
    )


def test_rgb_to_y_known_values_and_units():
    img = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    expected = [16.0, 16.0 + 65.481 + 128.553 + 24.966, 16 + 65.481, 16 + 128.553, 16 + 24.966]
    np.testing.assert_allclose(rgb_to_y(img)[0], expected, rtol=1e-12)
    assert rgb_to_y(img)[0, 1] == pytest.approx(235.0)
    tensor = torch.from_numpy(img).permute(2, 0, 1).double() / 255  # (3, 1, 5)
    y = rgb_to_y(tensor)
    assert y.shape == (1, 1, 5)
    np.testing.assert_allclose(y[0, 0].numpy() * 255, expected, rtol=1e-12)


def test_rgb_to_y_matches_skimage_on_a_photo():
    from skimage.color import rgb2ycbcr  # skimage's Y has the same BT.601 studio-range definition

    img = skdata.coffee()[:64, :64]
    np.testing.assert_allclose(rgb_to_y(img), rgb2ycbcr(img)[..., 0], atol=1e-9)
    np.testing.assert_allclose(rgb_to_y(img), _y_manual(img), atol=1e-9)


@pytest.mark.parametrize("border", [0, 4])
def test_psnr_matches_skimage(pairs, border):
    for sr, hr in pairs:
        ys, yh = _crop(_y_manual(sr), border), _crop(_y_manual(hr), border)
        expected = peak_signal_noise_ratio(yh, ys, data_range=255)
        assert psnr(sr, hr, crop_border=border) == pytest.approx(expected, abs=1e-9)
        expected_rgb = peak_signal_noise_ratio(_crop(hr, border), _crop(sr, border), data_range=255)
        assert psnr(sr, hr, crop_border=border, y_channel=False) == pytest.approx(expected_rgb, abs=1e-9)


@pytest.mark.parametrize("border", [0, 4])
def test_ssim_matches_skimage(pairs, border):
    for sr, hr in pairs:
        ys, yh = _crop(_y_manual(sr), border), _crop(_y_manual(hr), border)
        value = ssim(sr, hr, crop_border=border)
        assert value == pytest.approx(_skimage_ssim(ys, yh), abs=1e-9)
        assert 0.3 < value < 0.99
        expected_rgb = _skimage_ssim(_crop(sr, border), _crop(hr, border), channel_axis=2)
        assert ssim(sr, hr, crop_border=border, y_channel=False) == pytest.approx(expected_rgb, abs=1e-9)


def test_grayscale_arrays_used_as_is(pairs):
    sr, hr = pairs[0][0][..., 1].copy(), pairs[0][1][..., 1].copy()
    sk = peak_signal_noise_ratio(hr[4:-4, 4:-4], sr[4:-4, 4:-4], data_range=255)
    assert psnr(sr, hr) == pytest.approx(sk, abs=1e-9)
    assert ssim(sr, hr) == pytest.approx(_skimage_ssim(sr[4:-4, 4:-4], hr[4:-4, 4:-4]), abs=1e-9)


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(img)).permute(2, 0, 1).float() / 255


def test_tensor_and_uint8_inputs_agree(pairs):
    sr, hr = pairs[0]
    for metric in (psnr, ssim):
        ref = metric(sr, hr)
        assert metric(_to_tensor(sr), _to_tensor(hr)) == pytest.approx(ref, abs=1e-6)
        assert metric(_to_tensor(sr), hr) == pytest.approx(ref, abs=1e-6)  # mixed kinds
        assert metric(_to_tensor(sr)[None], _to_tensor(hr)[None]) == pytest.approx(ref, abs=1e-6)


def test_batch_returns_mean_over_images(pairs):
    sr = torch.stack([_to_tensor(s) for s, _ in pairs])
    hr = torch.stack([_to_tensor(h) for _, h in pairs])
    for metric in (psnr, ssim):
        singles = [metric(s, h) for s, h in pairs]
        assert singles[0] != pytest.approx(singles[1])
        assert metric(sr, hr) == pytest.approx(sum(singles) / 2, abs=1e-6)


def test_identical_images(pairs):
    hr = pairs[0][1]
    assert psnr(hr, hr) == math.inf
    assert ssim(hr, hr) == pytest.approx(1.0, abs=1e-12)


def test_error_cases(pairs):
    sr, hr = pairs[0]
    with pytest.raises(ValueError, match="shape"):
        psnr(sr[:-4], hr)
    with pytest.raises(TypeError, match="uint8"):
        psnr(sr.astype(np.float32) / 255, hr)
    with pytest.raises(TypeError, match="float"):
        ssim(torch.from_numpy(sr).permute(2, 0, 1), hr)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        psnr(_to_tensor(sr) * 255, _to_tensor(hr))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        psnr(_to_tensor(sr) * 2 - 1, _to_tensor(hr))
    psnr(_to_tensor(sr) + 1e-6, _to_tensor(hr))  # tiny overshoot (float rounding) is tolerated
    with pytest.raises(ValueError, match="too small"):
        psnr(sr[:8, :8], hr[:8, :8], crop_border=4)
    with pytest.raises(ValueError, match="too small"):
        ssim(sr[:16, :16], hr[:16, :16], crop_border=4)  # 8x8 left: smaller than the 11x11 window
    with pytest.raises(ValueError, match="shape"):
        psnr(sr[..., :2], hr[..., :2])
    with pytest.raises(ValueError):
        psnr(torch.rand(2, 2, 3, 8, 8), torch.rand(2, 2, 3, 8, 8))
    with pytest.raises(TypeError):
        psnr(sr.tolist(), hr)


@pytest.mark.skipif(not (SHARED_DATA / "Set5").is_dir(), reason="shared Set5 data not available")
def test_set5_bicubic_is_in_the_published_range():
    """Loose sanity check (the exact 28.43 dB reproduction is the data module's test)."""
    values = []
    for path in sorted((SHARED_DATA / "Set5").glob("*.png")):
        hr = np.asarray(Image.open(path).convert("RGB"))
        h, w = (s - s % 4 for s in hr.shape[:2])
        hr = np.ascontiguousarray(hr[:h, :w])
        lr = Image.fromarray(hr).resize((w // 4, h // 4), Image.BICUBIC)
        sr = np.asarray(lr.resize((w, h), Image.BICUBIC))
        values.append((psnr(sr, hr), ssim(sr, hr)))
    assert len(values) == 5
    mean_psnr = sum(v[0] for v in values) / 5
    mean_ssim = sum(v[1] for v in values) / 5
    assert 27.5 < mean_psnr < 29.5  # published bicubic x4: 28.42 dB / 0.8104
    assert 0.77 < mean_ssim < 0.85


def test_bad_crop_border_and_empty_images_are_clear(pairs):
    sr, hr = pairs[0]
    for bad in (1.5, True, "4", -1):
        with pytest.raises(ValueError, match="crop_border"):
            psnr(sr, hr, crop_border=bad)
    empty = np.zeros((0, 0, 3), np.uint8)
    for fn in (psnr, ssim):
        with pytest.raises(ValueError, match="empty"):
            fn(empty, empty, crop_border=0)
    with pytest.raises(ValueError, match="NaN"):
        psnr(torch.full((3, 16, 16), float("nan")), torch.zeros(3, 16, 16), crop_border=0)
