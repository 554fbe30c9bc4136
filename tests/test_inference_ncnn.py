"""``upscale(..., backend="ncnn")``: the same answers as the torch path, through Tencent's ncnn runtime.

The torch path (``backend="torch"``) is the reference: every kind of input must come back the same through
ncnn (within what ncnn's arithmetic allows), the exported model is cached and reused, and changed weights
or a damaged cache never give a stale or broken result. Tests that need the ``ncnn`` package skip (with the
reason) when it is absent; those that check what happens without it simulate its absence.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from esrgan_lib import inference_ncnn, runtime
from esrgan_lib.checkpoint import interpolate, load_generator, packaged_ncnn_model, save_generator
from esrgan_lib.inference import pick_backend, upscale
from esrgan_lib.models import RRDBNet, SRResNet

WEIGHTS = Path(__file__).resolve().parents[1] / "esrgan_lib" / "weights"
needs_ncnn = pytest.mark.skipif(not inference_ncnn.available(),
                                reason="the ncnn backend needs the ncnn package (pip install ncnn)")

# Bounds on PSNR(torch output, ncnn output), with margin. Measured on this project's machine (AMD EPYC, AVX2,
# ncnn 1.0.20261020), where ncnn computes in fp32: 130.9 dB on the demo (32x32), 126.5 dB on Real-ESRGAN
# x4plus (24x24); the tests print them. Vulkan GPUs and ARM CPUs store activations in fp16: emulated in
# torch (weights and every convolution's input and output rounded to fp16) that gave 73.3 dB (demo) and
# 71.1 dB (x4plus); fp16 arithmetic (ARM) is not emulated, hence the wide margin of PSNR_FP16 (no such
# machine was available to measure it).
PSNR_FP32 = 100.0
PSNR_FP16 = 45.0


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Each test gets an empty user cache and no Net loaded from an earlier test."""
    monkeypatch.setattr(inference_ncnn, "_cache_root", lambda: tmp_path / "user-cache")
    inference_ncnn.unload_all()
    yield tmp_path / "user-cache"
    inference_ncnn.unload_all()


@pytest.fixture
def exports(monkeypatch):
    """Counts the exports (``write_ncnn`` calls) and Net loads the backend makes."""
    counts = {"export": 0, "load": 0}
    write, load = inference_ncnn.write_ncnn, inference_ncnn._load_net

    def counted_write(*a, **k):
        counts["export"] += 1
        return write(*a, **k)

    def counted_load(*a, **k):
        counts["load"] += 1
        return load(*a, **k)

    monkeypatch.setattr(inference_ncnn, "write_ncnn", counted_write)
    monkeypatch.setattr(inference_ncnn, "_load_net", counted_load)
    return counts


def _rrdb(scale=4, seed=0, **kw) -> RRDBNet:
    torch.manual_seed(seed)
    return RRDBNet(**{"nf": 16, "nb": 2, "gc": 8, "scale": scale, **kw}).eval()


def _psnr(a, b) -> float:
    a, b = (torch.as_tensor(np.asarray(v, dtype=np.float64)) for v in (a, b))
    assert a.shape == b.shape
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else 10 * math.log10(1 / mse)


def _photo(h=24, w=24) -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[100:100 + h, 180:180 + w])  # face and suit edge


def _ncnn_bound() -> float:
    """The bound that holds for the arithmetic ncnn uses here: fp32 on x86 CPUs, fp16 storage otherwise."""
    return PSNR_FP32 if inference_ncnn.computes_in_fp32() else PSNR_FP16


# ----------------------------------------------------------------------------------------------
# outputs equal the torch path


@needs_ncnn
def test_trained_demo_through_ncnn_equals_torch():
    model = load_generator(WEIGHTS / "rrdb_psnr_x4_demo.safetensors", device="cpu")
    x = torch.from_numpy(_photo(32, 32)).permute(2, 0, 1).float() / 255
    ref = upscale(model, x, backend="torch")
    for precision, bound in (("auto", _ncnn_bound()), ("fp32", PSNR_FP32)):
        out = upscale(model, x, backend="ncnn", precision=precision)
        psnr = _psnr(out, ref)
        print(f"demo RRDBNet nf 32 nb 3, 32x32, precision {precision}: PSNR torch vs ncnn {psnr:.1f} dB")
        assert out.shape == ref.shape == (3, 128, 128) and psnr >= bound


@needs_ncnn
@pytest.mark.slow
def test_packaged_real_esrgan_through_ncnn_equals_torch():
    try:
        param = packaged_ncnn_model("realesrgan-x4plus")
    except ModuleNotFoundError as e:
        pytest.skip(str(e))
    model = load_generator(param, device="cpu")
    rgb = _photo(24, 24)
    ref, out = upscale(model, rgb / 255.0, backend="torch"), upscale(model, rgb / 255.0, backend="ncnn")
    psnr = _psnr(out, ref)
    print(f"Real-ESRGAN x4plus, 24x24: PSNR torch vs ncnn {psnr:.1f} dB")
    assert psnr >= _ncnn_bound()
    assert inference_ncnn.export_location(model).parent == inference_ncnn._cache_root()  # not site-packages


@needs_ncnn
@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_every_scale_the_exporter_writes(scale):
    model = _rrdb(scale, nb=1)
    x = torch.rand(1, 3, 13, 11)  # odd sizes: padded to the x1/x2 pixel-unshuffle multiple and cropped
    out, ref = upscale(model, x, backend="ncnn"), upscale(model, x, backend="torch")
    assert out.shape == ref.shape == (1, 3, 13 * scale, 11 * scale)
    assert _psnr(out, ref) >= _ncnn_bound()


@needs_ncnn
def test_every_kind_of_input_comes_back_as_through_torch():
    model = _rrdb(2)
    rng = np.random.default_rng(0)
    rgba8 = rng.integers(0, 256, (9, 7, 4), dtype=np.uint8)
    cases = {
        "uint8 RGB": rgba8[..., :3].copy(),
        "uint8 grey": rgba8[..., 0].copy(),
        "uint16 RGB": rng.integers(0, 65536, (9, 7, 3), dtype=np.uint16),
        "uint16 grey+alpha": rng.integers(0, 65536, (9, 7, 2), dtype=np.uint16),
        "float64 RGB": rng.random((9, 7, 3)),
        "float32 (H, W, 1)": rng.random((9, 7, 1)).astype(np.float32),
        "tensor batch": torch.rand(2, 3, 9, 7, dtype=torch.float64),
        "uint8 tensor": torch.randint(0, 256, (3, 9, 7), dtype=torch.uint8),
        "PIL RGBA": Image.fromarray(rgba8),
        "PIL I;16": Image.fromarray(rng.integers(0, 65536, (9, 7), dtype=np.uint16)),
    }
    tol = 1e-4 if inference_ncnn.computes_in_fp32() else 1e-2  # integers: one rounding step when fp32
    more = {"uint16 grey+alpha": {"alpha": "model"}, "PIL RGBA": {"alpha": "model"}, "uint8 RGB": {"tile": 4}}
    for name, image in cases.items():
        for kwargs in ({}, *([more[name]] if name in more else [])):
            out = upscale(model, image, backend="ncnn", **kwargs)
            ref = upscale(model, image, backend="torch", **kwargs)
            assert type(out) is type(ref), name
            if isinstance(ref, Image.Image):
                assert (out.mode, out.size) == (ref.mode, ref.size), name
                out, ref = np.asarray(out), np.asarray(ref)
            assert out.dtype == ref.dtype and out.shape == ref.shape, (name, kwargs)
            a, b = (np.asarray(v, dtype=np.float64) for v in (out, ref))
            top = {"uint8": 255, "uint16": 65535}.get(str(ref.dtype).removeprefix("torch."), 1)
            diff = np.abs(a - b).max()
            assert diff <= max(1, top * tol) if top > 1 else diff <= tol, (name, kwargs, diff)


@needs_ncnn
def test_tiles_through_ncnn_match_tiles_through_torch():
    model = _rrdb()
    x = torch.rand(3, 37, 29)
    for tile, pad in ((16, 10), (16, 0), (8, 3)):
        out = upscale(model, x, backend="ncnn", tile=tile, tile_pad=pad)
        ref = upscale(model, x, backend="torch", tile=tile, tile_pad=pad)
        assert _psnr(out, ref) >= _ncnn_bound(), (tile, pad)
    cut = upscale(model, x, backend="ncnn", tile=16, tile_pad=0)
    assert (cut - upscale(model, x, backend="ncnn")).abs().max() > 1e-3  # the tiles really were cut


@needs_ncnn
def test_an_image_too_big_for_ncnns_memory_runs_in_tiles_that_fit(monkeypatch):
    model = _rrdb()  # nf 16, x4
    x = torch.rand(3, 40, 40)
    whole = upscale(model, x, backend="ncnn", tile_pad=2)
    per_pixel = inference_ncnn._BYTES_PER_OUTPUT_VALUE * 4**2 * 16
    monkeypatch.setattr(inference_ncnn, "_memory_budget", lambda: 24 * 24 * per_pixel)  # one 24x24 pass
    assert inference_ncnn.NcnnRunner(model, scale=4, multiple=1).max_pixels == 24 * 24
    tiled = upscale(model, x, backend="ncnn", tile_pad=2)  # tiles of 20 + 2 x 2 context
    assert torch.equal(tiled, upscale(model, x, backend="ncnn", tile=20, tile_pad=2))
    assert not torch.equal(tiled, whole)


@needs_ncnn
def test_bicubic_alpha_and_opaque_alpha_as_through_torch():
    model = _rrdb(2)
    rgba = np.random.default_rng(1).integers(0, 256, (8, 10, 4), dtype=np.uint8)
    out, ref = upscale(model, rgba, backend="ncnn"), upscale(model, rgba, backend="torch")
    assert np.array_equal(out[..., 3], ref[..., 3])  # alpha is bicubic, never through ncnn
    rgba[..., 3] = 255
    assert (upscale(model, rgba, backend="ncnn")[..., 3] == 255).all()


# ----------------------------------------------------------------------------------------------
# the export cache


@needs_ncnn
def test_second_call_reuses_the_loaded_net_and_a_new_process_the_export(exports):
    model = _rrdb()
    x = torch.rand(3, 8, 8)
    first = upscale(model, x, backend="ncnn")
    assert exports == {"export": 1, "load": 1}
    assert torch.equal(upscale(model, x, backend="ncnn", tile=4), upscale(model, x, backend="ncnn", tile=4))
    assert torch.equal(upscale(model, x, backend="ncnn"), first)
    assert exports == {"export": 1, "load": 1}  # same Net for every call and tile
    inference_ncnn.unload_all()  # as a new process: the export on disk is found and loaded, not redone
    assert torch.equal(upscale(model, x, backend="ncnn"), first)
    assert exports == {"export": 1, "load": 2}
    twin = _rrdb()  # another object with the same weights: the same cache entry
    assert torch.equal(upscale(twin, x, backend="ncnn"), first)
    assert exports["export"] == 1


@needs_ncnn
def test_changed_weights_never_reuse_a_stale_export(exports):
    model = _rrdb()
    x = torch.rand(3, 8, 8)
    before = upscale(model, x, backend="ncnn")
    with torch.no_grad():
        model.conv_last.bias.add_(0.25)  # in place, as an optimizer step does
    after = upscale(model, x, backend="ncnn")
    assert exports["export"] == 2
    assert (after - before).abs().max() > 0.1
    assert _psnr(after, upscale(model, x, backend="torch")) >= _ncnn_bound()
    model.load_state_dict(_rrdb(seed=1).state_dict())
    assert _psnr(upscale(model, x, backend="ncnn"), upscale(model, x, backend="torch")) >= _ncnn_bound()
    assert exports["export"] == 3


@needs_ncnn
@pytest.mark.parametrize("damage", ["truncate bin", "flip a byte", "garbage param", "no manifest"])
def test_a_corrupt_cache_entry_is_rebuilt(damage, exports):
    model = _rrdb()
    x = torch.rand(3, 8, 8)
    good = upscale(model, x, backend="ncnn")
    param = inference_ncnn.export_location(model)
    bin_, manifest = param.with_suffix(".bin"), param.with_suffix(".json")
    if damage == "truncate bin":
        bin_.write_bytes(bin_.read_bytes()[:-100])
    elif damage == "flip a byte":
        data = bytearray(bin_.read_bytes())
        data[len(data) // 2] ^= 0xFF
        bin_.write_bytes(bytes(data))
    elif damage == "garbage param":
        param.write_text("not a graph\n")
    else:
        manifest.unlink()
    inference_ncnn.unload_all()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = upscale(model, x, backend="ncnn")
    assert torch.equal(again, good) and exports["export"] == 2
    assert any("rebuilt" in str(w.message) and param.name in str(w.message) for w in caught)
    assert json.loads(manifest.read_text())["weights_sha256"] == inference_ncnn.weights_sha256(model)


@needs_ncnn
def test_export_goes_beside_the_weights_file_else_to_the_user_cache(tmp_path, private_cache, monkeypatch):
    path = save_generator(_rrdb(), tmp_path / "w" / "mine.safetensors")
    model = load_generator(path, device="cpu")
    upscale(model, torch.rand(3, 8, 8), backend="ncnn")
    key = inference_ncnn.weights_sha256(model)
    assert inference_ncnn.export_location(model) == path.parent / f"mine.ncnn-{key[:16]}.param"
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        [path.name] + [f"mine.ncnn-{key[:16]}{ext}" for ext in (".bin", ".json", ".param")])
    assert not private_cache.exists()
    with monkeypatch.context() as m:
        m.setattr(inference_ncnn, "_writable", lambda folder: False)  # as a read-only folder (we may be root)
        assert inference_ncnn.export_location(model).parent == private_cache
    demo = load_generator(WEIGHTS / "rrdb_psnr_x4_demo.safetensors", device="cpu")  # inside the package
    assert inference_ncnn.export_location(demo).parent == private_cache
    assert inference_ncnn.export_location(_rrdb()).parent == private_cache  # built in memory


@needs_ncnn
def test_a_folder_that_refuses_the_export_sends_it_to_the_user_cache(tmp_path, private_cache):
    path = save_generator(_rrdb(), tmp_path / "mine.safetensors")
    model = load_generator(path, device="cpu")
    beside = inference_ncnn.export_location(model)
    beside.with_suffix(".bin").mkdir()  # the .bin cannot be written there
    x = torch.rand(3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the blocked entry is reported as damaged
        out = upscale(model, x, backend="ncnn")
    assert inference_ncnn._LOADED[model].param.parent == private_cache
    assert _psnr(out, upscale(model, x, backend="torch")) >= _ncnn_bound()


@needs_ncnn
def test_the_user_cache_keeps_only_the_newest_exports(private_cache):
    x = torch.rand(3, 8, 8)
    for seed in range(inference_ncnn.CACHE_KEEP + 3):
        upscale(_rrdb(seed=seed, nb=1), x, backend="ncnn")
    assert len(list(private_cache.glob("*.param"))) == inference_ncnn.CACHE_KEEP
    assert len(list(private_cache.iterdir())) == 3 * inference_ncnn.CACHE_KEEP


# ----------------------------------------------------------------------------------------------
# choosing the backend


def test_auto_picks_ncnn_on_a_cpu_for_rrdbnet_files_and_torch_otherwise(monkeypatch, tmp_path):
    srresnet = SRResNet(nf=8, nb=1).eval()
    rrdb = load_generator(save_generator(_rrdb(), tmp_path / "rrdb.safetensors"), device="cpu")
    monkeypatch.setattr(inference_ncnn, "available", lambda: True)
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: False)  # a CPU where torch would run fp32
    assert pick_backend(rrdb) == "ncnn"
    assert pick_backend(rrdb, device="cpu") == "ncnn"
    # a model made in memory (being trained, interpolated, built by hand) runs on torch: an export costs
    # seconds and a cache entry for weights that may never be used again
    assert pick_backend(_rrdb()) == "torch"
    assert pick_backend(interpolate(rrdb, rrdb, 0.5)) == "torch"
    assert pick_backend(_rrdb(), "ncnn") == "ncnn"
    assert pick_backend(rrdb, device="cuda") == "torch"  # CUDA: torch (no GPU needed to decide)
    assert pick_backend(rrdb, precision="bf16") == "torch"  # an explicit precision is torch's
    assert pick_backend(srresnet) == "torch"
    assert pick_backend(rrdb, "torch") == "torch"
    with pytest.raises(ValueError, match="SRResNet.*ncnn"):
        pick_backend(srresnet, "ncnn")
    with pytest.raises(ValueError, match="bf16"):
        pick_backend(rrdb, "ncnn", precision="bf16")
    with pytest.raises(ValueError, match="backend must be"):
        pick_backend(rrdb, "onnx")
    with pytest.raises(ValueError, match="SRResNet.*ncnn"):
        upscale(srresnet, np.zeros((4, 4, 3), np.uint8), backend="ncnn")


def test_auto_picks_torch_on_a_cpu_with_native_bf16(monkeypatch, tmp_path):
    # ncnn computes in fp32 on x86; torch's bf16 path (AMX or AVX512-BF16) is faster there
    rrdb = load_generator(save_generator(_rrdb(), tmp_path / "rrdb.safetensors"), device="cpu")
    monkeypatch.setattr(inference_ncnn, "available", lambda: True)
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: True)
    assert pick_backend(rrdb) == "torch"
    assert pick_backend(rrdb, "ncnn") == "ncnn"  # asked for by name: still ncnn
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: False)
    assert pick_backend(rrdb) == "ncnn"


def test_without_the_ncnn_package_auto_is_torch_and_ncnn_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ncnn", None)  # import ncnn now raises ImportError
    rrdb = _rrdb()
    assert not inference_ncnn.available()
    assert pick_backend(rrdb) == "torch"
    x = torch.rand(3, 6, 6)
    assert torch.equal(upscale(rrdb, x), upscale(rrdb, x, backend="torch"))
    with pytest.raises(ModuleNotFoundError, match="pip install ncnn"):
        upscale(rrdb, x, backend="ncnn")


def test_importing_the_package_does_not_import_ncnn():
    code = ("import sys, esrgan_lib, esrgan_lib.inference, esrgan_lib.upscale, esrgan_lib.inference_ncnn; "
            "print('ncnn' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False"


@needs_ncnn
def test_threads_follow_torch_and_precision_fp32_turns_fp16_off():
    model = _rrdb()
    upscale(model, torch.rand(3, 6, 6), backend="ncnn", precision="fp32")
    opt = inference_ncnn.loaded_options(model)
    assert opt["num_threads"] == torch.get_num_threads()
    assert not (opt["use_fp16_storage"] or opt["use_fp16_arithmetic"] or opt["use_bf16_storage"])
    assert opt["use_vulkan_compute"] == (inference_ncnn.gpu_count() > 0)


# ----------------------------------------------------------------------------------------------
# the command line


@needs_ncnn
def test_cli_backend_flag(tmp_path, capsys):
    from esrgan_lib.img_util import read_image
    from esrgan_lib.upscale import main

    weights = save_generator(_rrdb(2, nb=1), tmp_path / "tiny_x2.safetensors")
    Image.fromarray(_photo(10, 12)).save(tmp_path / "photo.png")
    outs = {}
    for backend in ("torch", "ncnn", "auto"):
        rc = main([str(tmp_path / "photo.png"), "-o", str(tmp_path / backend), "--weights", str(weights),
                   "--backend", backend, "--quiet"])
        assert rc == 0, capsys.readouterr().err
        outs[backend] = read_image(tmp_path / backend / "photo_x2.png").astype(int)
    assert np.abs(outs["ncnn"] - outs["torch"]).max() <= 1 and np.array_equal(outs["auto"], outs["ncnn"])
    assert len(list(tmp_path.glob("tiny_x2.ncnn-*.param"))) == 1  # exported once, beside the weights
    srresnet = save_generator(SRResNet(nf=8, nb=1), tmp_path / "srresnet.safetensors")
    rc = main([str(tmp_path / "photo.png"), "-o", str(tmp_path / "s"), "--weights", str(srresnet),
               "--backend", "ncnn"])
    assert rc == 2 and "SRResNet" in capsys.readouterr().err
    assert not (tmp_path / "s" / "photo_x4.png").exists()
