"""The command line ``python -m esrgan_lib.upscale``: formats, bad files, overwrite, bad folders."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from esrgan_lib.checkpoint import save_generator
from esrgan_lib.models import RRDBNet, VGGDiscriminator
from esrgan_lib.upscale import main, read_image_any, save_image


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "tiny_x2.safetensors"
    return save_generator(RRDBNet(nf=8, nb=1, scale=2), path)


@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "in"
    d.mkdir()
    Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(d / "photo.jpg")
    Image.fromarray(rng.integers(0, 256, (9, 7, 4), dtype=np.uint8)).save(d / "logo.png")
    Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(d / "grey.png")
    save_image(rng.integers(0, 65536, (6, 5, 3), dtype=np.uint16), d / "deep.png")
    (d / "notes.png").write_bytes(b"this is text, not a PNG")
    good = (d / "photo.jpg").read_bytes()
    (d / "cut.jpg").write_bytes(good[: len(good) // 2])
    return d


def test_folder_with_good_and_bad_files(tmp_path, inputs, weights, capsys):
    out = tmp_path / "out"
    rc = main([str(inputs), "-o", str(out), "--weights", str(weights), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1  # two bad files
    assert "notes.png" in err and "cut.jpg" in err and "not a readable image" in err
    names = sorted(p.name for p in out.iterdir())
    assert names == ["deep_x2.png", "grey_x2.png", "logo_x2.png", "photo_x2.jpg"]  # no temp files left
    deep = read_image_any(out / "deep_x2.png")
    assert deep.dtype == np.uint16 and deep.shape == (12, 10, 3)
    assert len(np.unique(deep % 257)) > 1  # real 16-bit values, not 8-bit ones scaled up
    with Image.open(out / "logo_x2.png") as im:
        assert im.mode == "RGBA" and im.size == (14, 18)
    with Image.open(out / "grey_x2.png") as im:
        assert im.mode == "L" and im.size == (16, 16)
    with Image.open(out / "photo_x2.jpg") as im:
        assert im.size == (24, 20)


def test_existing_outputs_are_kept_unless_overwrite(tmp_path, inputs, weights, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "photo_x2.jpg").write_bytes(b"keep me")
    args = [str(inputs / "photo.jpg"), "-o", str(out), "--weights", str(weights), "--quiet"]
    assert main(args) == 0
    assert (out / "photo_x2.jpg").read_bytes() == b"keep me"
    assert "exists" in capsys.readouterr().out
    assert main(args + ["--overwrite", "--suffix", "_big"]) == 0
    assert (out / "photo_big.jpg").exists() and (out / "photo_x2.jpg").read_bytes() == b"keep me"
    assert main(args + ["--overwrite"]) == 0
    with Image.open(out / "photo_x2.jpg") as im:
        assert im.size == (24, 20)


def test_unwritable_output_folder(tmp_path, inputs, weights, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("in the way")
    rc = main([str(inputs / "photo.jpg"), "-o", str(blocker / "out"), "--weights", str(weights)])
    assert rc == 2
    assert "cannot write to output folder" in capsys.readouterr().err


def test_bad_weights_and_wrong_scale(tmp_path, inputs, weights, capsys):
    torch.save(VGGDiscriminator().state_dict(), tmp_path / "disc.pth")
    args = [str(inputs / "photo.jpg"), "-o", str(tmp_path / "out")]
    assert main(args + ["--weights", str(tmp_path / "disc.pth")]) == 2
    assert "VGG/discriminator" in capsys.readouterr().err
    assert main(args + ["--weights", str(weights), "--scale", "4"]) == 2
    assert "x2 model" in capsys.readouterr().err
    assert main(args + ["--weights", str(tmp_path / "missing.pth")]) == 2


def test_missing_input_and_too_small_image(tmp_path, weights, capsys):
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "dot.png")
    rc = main([str(tmp_path / "dot.png"), str(tmp_path / "nope.png"), "-o", str(tmp_path / "o"),
               "--weights", str(weights), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1 and "at least 2x2" in err and "no such file" in err


def test_module_entry_point_and_tiles(tmp_path, inputs, weights):
    res = subprocess.run(
        [sys.executable, "-m", "esrgan_lib.upscale", str(inputs / "grey.png"), "-o", str(tmp_path / "o"),
         "--weights", str(weights), "--tile", "4", "--quiet"],
        capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "1 written" in res.stdout
    with Image.open(tmp_path / "o" / "grey_x2.png") as im:
        assert im.size == (16, 16)


def test_sixteen_bit_round_trip_of_the_file_helpers(tmp_path):
    arr = np.random.default_rng(1).integers(0, 65536, (4, 3, 4), dtype=np.uint16)
    save_image(arr, tmp_path / "a.png")
    assert np.array_equal(read_image_any(tmp_path / "a.png"), arr)
    with pytest.raises(ValueError, match="16-bit"):
        save_image(arr, tmp_path / "a.jpg")
