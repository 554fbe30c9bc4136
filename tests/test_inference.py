"""upscale(): kinds, bit depths, channels, odd sizes, tiling accuracy, memory, errors.

Tests on an RRDBNet run through both backends (the ``up`` fixture; ncnn's own checks are in
``test_inference_ncnn.py``); tests on other models run through torch, which ``backend="auto"`` picks for them.
"""

import functools
import json
import math
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from esrgan_lib import inference_ncnn
from esrgan_lib.inference import upscale
from esrgan_lib.models import RRDBNet

BACKENDS = ["torch", pytest.param("ncnn", marks=pytest.mark.skipif(
    not inference_ncnn.available(), reason="the ncnn backend needs the ncnn package (pip install ncnn)"))]


@pytest.fixture(autouse=True, scope="module")
def private_ncnn_cache(tmp_path_factory):
    """ncnn exports of the models here go to a temporary folder, not the user cache."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(inference_ncnn, "_cache_root", lambda: tmp_path_factory.mktemp("ncnn-cache"))
        yield


@pytest.fixture(params=BACKENDS)
def up(request):
    """``upscale`` through one backend (``up.keywords["backend"]``)."""
    return functools.partial(upscale, backend=request.param)


def _fp32_atol(up) -> float:
    """1e-5, or what fp16 storage allows where ncnn uses it (Vulkan, ARM: see test_inference_ncnn.py)."""
    fp32 = up.keywords["backend"] == "torch" or inference_ncnn.computes_in_fp32()
    return 1e-5 if fp32 else 2e-2


class Nearest(nn.Module):
    """A 'model' with a known answer: nearest-neighbour x``scale``. Exact, so any 8-bit step,
    channel mix-up or misplaced tile shows."""

    def __init__(self, scale=4, min_multiple=1):
        super().__init__()
        self.scale, self.min_multiple, self.in_ch = scale, min_multiple, 3
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        assert x.shape[-2] % self.min_multiple == 0 and x.shape[-1] % self.min_multiple == 0
        return F.interpolate(x, scale_factor=self.scale, mode="nearest") + self.dummy


def _nearest_np(arr, s):
    return arr.repeat(s, 0).repeat(s, 1)


@pytest.fixture(scope="module")
def rrdb():
    torch.manual_seed(0)
    return RRDBNet(nf=16, nb=2, scale=4).eval()


def test_untiled_equals_the_model(rrdb, up):
    x = torch.rand(3, 19, 23)
    with torch.no_grad():
        ref = rrdb(x[None])[0].clamp(0, 1)
    assert torch.allclose(up(rrdb, x), ref, atol=_fp32_atol(up))
    assert torch.allclose(up(rrdb, x, channels_last=False), ref, atol=_fp32_atol(up))


def test_odd_sizes_are_reflect_padded_and_cropped():
    torch.manual_seed(0)
    model = RRDBNet(nf=8, nb=1, scale=2).eval()
    x = torch.rand(1, 3, 7, 9)
    with torch.no_grad():
        ref = model(F.pad(x, (0, 1, 0, 1), mode="reflect"))[..., :14, :18].clamp(0, 1)
    out = upscale(model, x)
    assert out.shape == (1, 3, 14, 18) and torch.allclose(out, ref, atol=1e-5)
    assert upscale(Nearest(4, min_multiple=4), np.zeros((5, 6, 3), np.uint8)).shape == (20, 24, 3)


def test_tiles_match_untiled_within_measured_tolerance(rrdb, up):
    """Measured with this random RRDBNet (nf 16, nb 2) on a 37x29 image, tile 16:
    tile_pad 10 -> max abs diff ~3e-8 (PSNR > 150 dB); tile_pad 0 -> ~3e-2 (~54 dB).
    Trained weights reach further than these near-identity random blocks, so the README
    recommends tile_pad >= 10 and documents the check below, not a universal number."""
    x = torch.rand(3, 37, 29)
    full = up(rrdb, x)
    tiled = up(rrdb, x, tile=16, tile_pad=10)
    diff = (tiled - full).abs().max().item()
    psnr = 10 * math.log10(1 / max(((tiled - full) ** 2).mean().item(), 1e-20))
    assert diff < 1e-4 and psnr > 80
    print(f"tile_pad 10: max abs diff {diff:.2e}, PSNR {psnr:.1f} dB")
    no_context = up(rrdb, x, tile=16, tile_pad=0)
    assert (no_context - full).abs().max().item() > 10 * diff  # context matters: tiles really are cut
    print(f"tile_pad 0: max abs diff {(no_context - full).abs().max().item():.2e}")
    batched = up(rrdb, x, tile=16, tile_pad=10, batch_tiles=4)
    assert torch.allclose(batched, tiled, atol=1e-6)


def test_tiles_are_placed_exactly():
    img = np.random.default_rng(0).integers(0, 256, (37, 50, 3), dtype=np.uint8)
    for tile, pad in [(8, 0), (16, 3), (64, 10)]:
        assert np.array_equal(upscale(Nearest(4), img, tile=tile, tile_pad=pad), _nearest_np(img, 4))
    assert np.array_equal(upscale(Nearest(2, min_multiple=2), img, tile=9, tile_pad=3), _nearest_np(img, 2))


def test_kinds_and_dtypes_come_back_the_same():
    rng = np.random.default_rng(1)
    m = Nearest(2)
    u16 = rng.integers(0, 65536, (6, 5, 3), dtype=np.uint16)  # not multiples of 257: 8 bit would lose them
    assert np.array_equal(upscale(m, u16), _nearest_np(u16, 2))
    f64 = rng.random((6, 5, 3))
    out = upscale(m, f64)
    assert out.dtype == np.float64 and np.allclose(out, _nearest_np(f64, 2), atol=1e-6)
    t = torch.rand(2, 3, 6, 5, dtype=torch.float64)
    out = upscale(m, t)
    assert out.dtype == torch.float64 and out.shape == (2, 3, 12, 10)
    assert torch.allclose(out, F.interpolate(t, scale_factor=2.0, mode="nearest"), atol=1e-6)
    assert not out.is_inference()
    out.add_(1)  # usable outside inference mode (in place, autograd)
    t8 = torch.randint(0, 256, (3, 4, 4), dtype=torch.uint8)
    assert torch.equal(upscale(m, t8), F.interpolate(t8[None].float(), scale_factor=2.0)[0].to(torch.uint8))


def test_grey_and_alpha():
    rng = np.random.default_rng(2)
    m = Nearest(2)
    grey = rng.integers(0, 65536, (5, 7), dtype=np.uint16)
    out = upscale(m, grey)
    assert out.shape == (10, 14) and np.array_equal(out, _nearest_np(grey, 2))
    rgba = rng.integers(0, 256, (5, 7, 4), dtype=np.uint8)
    out = upscale(m, rgba, alpha="model")
    assert np.array_equal(out, _nearest_np(rgba, 2))
    out = upscale(m, rgba)  # bicubic alpha: colour exact, alpha close to the nearest version
    assert np.array_equal(out[..., :3], _nearest_np(rgba, 2)[..., :3])
    a = torch.from_numpy(rgba[..., 3]).float()[None, None] / 255
    ref = F.interpolate(a, scale_factor=2, mode="bicubic")
    assert np.abs(out[..., 3].astype(int) - np.rint(ref.clamp(0, 1)[0, 0].numpy() * 255)).max() <= 1
    opaque = rgba.copy()
    opaque[..., 3] = 255
    assert (upscale(m, opaque)[..., 3] == 255).all()
    la = rng.random((5, 7, 2)).astype(np.float32)
    assert np.allclose(upscale(m, la, alpha="model"), _nearest_np(la, 2), atol=1e-6)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "I;16", "P", "1"])
def test_pil_modes(mode):
    img = Image.fromarray(np.random.default_rng(3).integers(0, 256, (6, 9, 3), dtype=np.uint8)).convert(mode)
    out = upscale(Nearest(2), img)
    assert isinstance(out, Image.Image) and out.size == (18, 12)
    assert out.mode == {"P": "RGB", "1": "L"}.get(mode, mode)
    if mode in ("L", "RGB", "RGBA", "I;16"):
        assert np.array_equal(np.asarray(out), _nearest_np(np.asarray(img), 2))


def test_fp16_on_cpu_never_crashes(rrdb):
    x = torch.rand(3, 12, 12)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = upscale(rrdb, x, precision="fp16", device="cpu")
    assert any("fp16" in str(w.message) for w in caught)
    assert torch.isfinite(out).all() and torch.allclose(out, upscale(rrdb, x), atol=1e-5)


@pytest.mark.parametrize("image, kwargs, match", [
    (np.zeros((0, 5, 3), np.uint8), {}, "empty image"),
    (np.zeros((1, 5, 3), np.uint8), {}, "at least 2x2"),
    (np.zeros((4, 4, 5), np.uint8), {}, "5 channels"),
    (np.zeros((4, 4, 3), np.uint8), {"scale": 2}, "asked for x2 but the model upscales x4"),
    (np.full((4, 4, 3), 3.0, np.float32), {}, r"in \[0, 1\]"),
    (torch.rand(5, 5), {}, r"\(C, H, W\)"),
    (np.zeros((4, 4, 3), np.uint8), {"tile": 0}, "tile must be"),
])
def test_clear_errors(rrdb, up, image, kwargs, match):
    with pytest.raises(ValueError, match=match):
        up(rrdb, image, **kwargs)
    with pytest.raises(TypeError, match="int32"):
        up(rrdb, np.zeros((4, 4, 3), np.int32))


@pytest.mark.parametrize("backend", BACKENDS)
def test_big_image_memory_is_bounded_by_the_output(tmp_path, backend):
    """A 256x256 photo x4 in 64-pixel tiles, in a fresh process: its peak RSS growth stays near
    the size of the output images (float32 + uint8 = 15 MB), plus, for ncnn, its workspace for one tile
    (``inference_ncnn._BYTES_PER_OUTPUT_VALUE`` per output value). Measured: torch tiled ~36 MB, untiled
    ~109 MB (one nf=8 feature map at 1024x1024 is 34 MB and the untiled pass holds several); ncnn tiled
    ~120 MB, untiled ~480 MB."""
    code = textwrap.dedent("""
        import functools, json, pathlib, numpy as np, psutil, torch
        from esrgan_lib import inference, inference_ncnn
        from esrgan_lib.models import RRDBNet
        inference_ncnn._cache_root = lambda: pathlib.Path(CACHE)
        upscale = functools.partial(inference.upscale, backend=BACKEND)
        torch.manual_seed(0)
        model = RRDBNet(nf=8, nb=1, scale=4).eval()
        img = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
        upscale(model, img[:32, :32], tile=16)  # warm up allocator and thread pools
        base = psutil.Process().memory_info().rss
        with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) left by imports
            f.write("5")
        out = upscale(model, img, tile=TILE)
        with open("/proc/self/status") as f:
            peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))
        print(json.dumps({"shape": out.shape, "grow_mb": (peak - base) / 2**20}))
    """)
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux /proc to reset the peak RSS")
    pytest.importorskip("psutil")
    code = code.replace("TILE", "64").replace("CACHE", repr(str(tmp_path))).replace("BACKEND", repr(backend))
    res = subprocess.run([sys.executable, "-c", code],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout.strip().splitlines()[-1])
    assert info["shape"] == [1024, 1024, 3]
    output_mb = 1024 * 1024 * 3 * (4 + 1) / 2**20  # 15 MB
    tile_mb = 0 if backend == "torch" else inference_ncnn._BYTES_PER_OUTPUT_VALUE * (84 * 4) ** 2 * 16 / 2**20
    print(f"{backend}: peak RSS growth {info['grow_mb']:.0f} MB (bound {output_mb + 40 + tile_mb:.0f})")
    assert info["grow_mb"] < output_mb + 40 + tile_mb, info


def test_tensors_and_arrays_share_one_range_rule(rrdb, up):
    from esrgan_lib.img_util import RANGE_TOL

    inside, outside = 1 + RANGE_TOL / 2, 1 + 10 * RANGE_TOL
    arr = np.full((4, 4, 3), 0.5, np.float32)
    for value, ok in ((inside, True), (outside, False), (-10 * RANGE_TOL, False)):
        a = arr.copy()
        a[0, 0, 0] = value
        t = torch.from_numpy(a).permute(2, 0, 1)
        for image in (a, t, t[None]):
            if ok:
                up(rrdb, image)
            else:
                with pytest.raises(ValueError, match=r"\[0, 1\]"):
                    up(rrdb, image)


def test_nan_input_is_refused(rrdb, up):
    a = np.full((4, 4, 3), 0.5, np.float32)
    a[1, 2, 0] = np.nan
    for image in (a, torch.from_numpy(a).permute(2, 0, 1)):
        with pytest.raises(ValueError, match="NaN"):
            up(rrdb, image)


@pytest.mark.parametrize("kwargs, match", [({"tile_pad": -3}, "tile_pad"), ({"tile": 2.5}, "tile"),
                                           ({"batch_tiles": 0}, "batch_tiles")])
def test_bad_tiling_numbers(rrdb, up, kwargs, match):
    with pytest.raises(ValueError, match=match):
        kwargs = dict(kwargs)  # the parameter's dict is shared by both backends' runs
        up(rrdb, np.zeros((6, 6, 3), np.uint8), tile=kwargs.pop("tile", 4), **kwargs)


def test_upscale_takes_a_registered_models_properties_from_its_spec(monkeypatch):
    """Scale, input multiple and channels come from the model registry (one place), not attribute guesses."""
    from esrgan_lib.models import RRDBNet, registry

    model = RRDBNet(3, 3, nf=4, nb=1, gc=4).eval()
    fake = {"scale": 2, "multiple": 1, "in_ch": 3, "out_ch": 3}
    monkeypatch.setattr(registry, "inference_properties", lambda m: fake)
    with pytest.raises(ValueError, match="scale mismatch"):
        upscale(model, np.zeros((16, 16, 3), np.uint8))
