"""The demo generators in esrgan_lib/weights: loadable, honestly labelled, as good as their metadata says."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import esrgan_lib
from esrgan_lib.checkpoint import load_generator, read_metadata
from esrgan_lib.data import bicubic_downsample, imresize, load_benchmark, modcrop, to_tensor, to_uint8
from esrgan_lib.metrics import psnr

WEIGHTS = Path(esrgan_lib.__file__).parent / "weights"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PSNR_DEMOS = ["rrdb_psnr_x4_demo", "srresnet_x4_demo"]
GAN_DEMOS = ["esrgan_x4_demo_randomvgg"]  # no SRGAN demo: see esrgan_lib/weights/README.md
ARCH = {"rrdb": "RRDBNet", "esrgan": "RRDBNet", "srresnet": "SRResNet"}


def test_every_demo_file_is_there_and_the_package_stays_small():
    files = sorted(p.stem for p in WEIGHTS.glob("*.safetensors"))
    assert files == sorted(PSNR_DEMOS + GAN_DEMOS)
    total = sum(p.stat().st_size for p in WEIGHTS.glob("*.safetensors"))
    assert total <= 16 * 2**20, f"demo weights take {total / 2**20:.1f} MB (budget 16 MB)"


@pytest.mark.parametrize("name", PSNR_DEMOS + GAN_DEMOS)
def test_demo_loads_without_arguments_and_records_how_it_was_made(name):
    path = WEIGHTS / f"{name}.safetensors"
    model = load_generator(path)
    assert type(model).__name__ == ARCH[name.split("_")[0]] and model.config["scale"] == 4
    meta = read_metadata(path)
    for key in ("preset", "stage", "steps", "data", "command", "set5_psnr_y", "set5_psnr_y_bicubic"):
        assert meta.get(key), f"{name}: metadata lacks {key!r}"
    assert meta["command"].startswith("python -m esrgan_lib.train --preset cpu")
    out = model(torch.rand(1, 3, 12, 10))
    assert out.shape == (1, 3, 48, 40) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", GAN_DEMOS)
def test_gan_demos_say_their_vgg_was_random(name):
    meta = read_metadata(WEIGHTS / f"{name}.safetensors")
    assert meta["stage"] == "gan" and meta["vgg_weights"] == "random"
    assert "RANDOM VGG19" in meta["note"] and "NOT the paper" in meta["note"]
    assert meta["pretrained"].endswith("rrdb_psnr_x4_demo.safetensors")


def test_rrdb_psnr_demo_records_its_training_set_and_a_held_out_validation():
    meta = read_metadata(WEIGHTS / "rrdb_psnr_x4_demo.safetensors")
    assert "T91" in meta["data"] and "BSD200" in meta["data"], meta["data"]
    source = meta["data_source"]
    assert "jiny2001/dcscn-super-resolution" in source and re.search(r"\b[0-9a-f]{40}\b", source), source
    for test_set in ("Set5", "Set14", "BSD100", "Urban100"):  # test sets: never trained or selected on
        assert test_set not in meta["val_data"], meta["val_data"]
    assert "302003" in meta["data_excluded"]  # BSD200's copy of Set5's woman


def _relative_distance(a: torch.nn.Module, b: torch.nn.Module) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    diff = sum(float(((sa[k].float() - sb[k].float()) ** 2).sum()) for k in sa)
    return (diff / sum(float((v.float() ** 2).sum()) for v in sa.values())) ** 0.5


@pytest.mark.parametrize("name", GAN_DEMOS)
def test_gan_demo_is_fine_tuned_from_the_shipped_psnr_demo(name):
    """Notebook 10 interpolates the pair: 100 GAN steps move the weights by a few per cent, while two
    separately trained models differ by about 80 % (measured when the pair was made)."""
    psnr_demo = load_generator(WEIGHTS / "rrdb_psnr_x4_demo.safetensors")
    gan_demo = load_generator(WEIGHTS / f"{name}.safetensors")
    assert psnr_demo.config == gan_demo.config
    assert _relative_distance(psnr_demo, gan_demo) < 0.2


@pytest.mark.skipif(not (SHARED_DATA / "Set5").is_dir(), reason="shared Set5 data not available")
@pytest.mark.parametrize("name", PSNR_DEMOS)
def test_psnr_demos_beat_bicubic_on_set5_as_recorded(name):
    path = WEIGHTS / f"{name}.safetensors"
    model, meta = load_generator(path), read_metadata(path)
    ours, bicubic = [], []
    for hr in load_benchmark("Set5", root=SHARED_DATA).values():
        hr = modcrop(hr, 4)
        lr = bicubic_downsample(hr, 4)
        with torch.no_grad():
            sr = to_uint8(model(to_tensor(lr)[None]).clamp(0, 1))
        ours.append(psnr(sr, hr, crop_border=4))
        bicubic.append(psnr(imresize(lr, 4), hr, crop_border=4))
    ours, bicubic = float(np.mean(ours)), float(np.mean(bicubic))
    assert abs(bicubic - 28.43) < 0.02  # the published protocol (28.42 dB)
    assert abs(ours - float(meta["set5_psnr_y"])) < 0.01  # the README's number is this file's number
    assert ours > bicubic + 0.5, f"{name}: Set5 {ours:.2f} dB vs bicubic {bicubic:.2f} dB"


EXPORT_TOOL = Path(__file__).resolve().parents[1] / "tools" / "export_demo.py"


def _export_tool():
    """``tools/export_demo.py`` as a module (a maintainer's script, not part of the package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("export_demo", EXPORT_TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_export_script_is_a_tool_outside_the_package(monkeypatch):
    import sys

    assert not (WEIGHTS / "export_demo.py").exists()  # ../shared/data defaults stay out of the package
    monkeypatch.setattr(sys, "argv", ["pytest"])  # an old version indexed sys.argv[1] at import
    assert callable(_export_tool().main)


@pytest.mark.skipif(not (SHARED_DATA / "Set14").is_dir(), reason="shared Set5/Set14 data not available")
def test_export_script_recomputes_the_recorded_psnr(tmp_path, capsys):
    main = _export_tool().main
    src = WEIGHTS / "rrdb_psnr_x4_demo.safetensors"
    dest = tmp_path / "copy.safetensors"
    assert main([str(src), str(dest), "note=test", "--data-root", str(SHARED_DATA)]) == 0
    old, new = read_metadata(src), read_metadata(dest)
    for key in ("set5_psnr_y", "set14_psnr_y"):
        assert abs(float(new[key]) - float(old[key])) < 0.01, key
    assert new["note"] == "test" and "set14_psnr_y:" in capsys.readouterr().out
