"""The command line ``python -m esrgan_lib.upscale``: formats, bad files, overwrite, bad folders."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from esrgan_lib.checkpoint import save_generator
from esrgan_lib.img_util import read_image, save_image
from esrgan_lib.models import RRDBNet, VGGDiscriminator
from esrgan_lib.upscale import main


def read_image_any(path):
    """The reader the command line uses: what the file holds (grey, alpha, 16 bits, float)."""
    return read_image(path, rgb=False)


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
    assert "a VGGDiscriminator" in capsys.readouterr().err
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


# ------------------------------------------------------------------ issue 10: nothing lost, nothing silent


def _tiny(path, seed=0, size=(6, 5)):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return path


def test_output_name_clash_across_folders_is_refused_before_writing(tmp_path, weights, capsys):
    for k, name in enumerate("abc"):
        (tmp_path / name).mkdir()
        _tiny(tmp_path / name / "x.png", seed=k)
    out = tmp_path / "out"
    rc = main([str(tmp_path / n) for n in "abc"] + ["-o", str(out), "--weights", str(weights),
                                                    "--overwrite", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "x_x2.png" in err and "a/x.png" in err and "b/x.png" in err
    assert not out.exists() or not any(out.iterdir())


def test_output_name_clash_in_one_folder_is_refused(tmp_path, weights, capsys):
    d = tmp_path / "in"
    d.mkdir()
    for ext in ("png", "gif", "ppm"):
        _tiny(d / f"x.{ext}")
    _tiny(d / "y.jpg")
    _tiny(d / "y.png")  # y_x2.jpg and y_x2.png: no clash
    rc = main([str(d), "-o", str(tmp_path / "out"), "--weights", str(weights), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "x.gif" in err and "x.ppm" in err and "x_x2.png" in err


def test_never_writes_over_an_input(tmp_path, weights, capsys):
    d = tmp_path / "in"
    d.mkdir()
    src = _tiny(d / "photo.png")
    before = src.read_bytes()
    rc = main([str(d), "-o", str(d), "--weights", str(weights), "--suffix", "", "--overwrite", "--quiet"])
    assert rc == 2 and "input" in capsys.readouterr().err
    assert src.read_bytes() == before


def test_bad_files_are_reported_and_the_run_goes_on(tmp_path, weights, capsys):
    from test_img_util import bomb_png, png16

    d = tmp_path / "in"
    d.mkdir()
    _tiny(d / "a.png")
    bomb_png(d / "b_bomb.png")
    png16(np.random.default_rng(0).integers(0, 65536, (20, 20, 3), dtype=np.uint16), d / "c.png")
    data = (d / "c.png").read_bytes()
    (d / "c.png").write_bytes(data[: len(data) // 2])
    _tiny(d / "d.png")
    import tifffile

    tifffile.imwrite(d / "e.tif", np.zeros((20, 64, 5), np.uint8), planarconfig="contig")
    out = tmp_path / "out"
    rc = main([str(d), "-o", str(out), "--weights", str(weights), "--quiet"])
    cap = capsys.readouterr()
    assert rc == 1
    assert "b_bomb.png" in cap.err and "c.png" in cap.err and "e.tif" in cap.err
    assert "2 written, 0 skipped, 3 failed" in cap.out
    assert sorted(p.name for p in out.iterdir()) == ["a_x2.png", "d_x2.png"]


@pytest.mark.parametrize("opt", [["--tile", "0"], ["--tile-pad", "-3"], ["--tile", "-5"]])
def test_bad_numbers_are_refused_once_up_front(tmp_path, weights, capsys, opt):
    d = tmp_path / "in"
    d.mkdir()
    _tiny(d / "a.png")
    _tiny(d / "b.png")
    rc = main([str(d), "-o", str(tmp_path / "out"), "--weights", str(weights), "--quiet", *opt])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("error") == 1 and opt[0] in err


def test_float_tiff_is_upscaled_to_a_float_tiff(tmp_path, weights):
    import tifffile

    rgb = np.random.default_rng(2).random((6, 5, 3)).astype(np.float32)
    tifffile.imwrite(tmp_path / "f.tif", rgb, photometric="rgb")
    assert main([str(tmp_path / "f.tif"), "-o", str(tmp_path / "o"), "--weights", str(weights),
                 "--quiet"]) == 0
    out = tifffile.imread(tmp_path / "o" / "f_x2.tif")
    assert out.dtype == np.float32 and out.shape == (12, 10, 3)


def test_animated_gif_warns_naming_the_file(tmp_path, weights, capsys):
    frames = [Image.new("RGB", (8, 8), (60 * i, 0, 0)) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    rc = main([str(tmp_path / "anim.gif"), "-o", str(tmp_path / "o"), "--weights", str(weights), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 0 and "anim.gif" in err and "3 frames" in err



def test_skip_lines_and_progress_bar_do_not_share_lines_in_a_log(tmp_path, weights):
    d = tmp_path / "in"
    d.mkdir()
    for name in ("a", "b", "c"):
        _tiny(d / f"{name}.png", size=(40, 40))
    out = tmp_path / "o"
    out.mkdir()
    (out / "b_x2.png").write_bytes(b"keep")
    res = subprocess.run(  # stdout and stderr into one pipe, as in `esrgan-upscale ... > log 2>&1`
        [sys.executable, "-m", "esrgan_lib.upscale", str(d), "-o", str(out), "--weights", str(weights),
         "--tile", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300,  # bytes: keep the \r
    )
    text = res.stdout.decode()
    assert res.returncode == 0, text
    lines = text.split("\n")
    assert any(line.startswith("skip ") for line in lines), text
    for line in lines:
        assert "skip " not in line or line.startswith("skip "), text
        assert "\r" not in line, text  # no bar redraws in a log file


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("shape", [(5, 6), (5, 6, 2), (5, 6, 3), (5, 6, 4)])
def test_tiff_round_trip_and_header_probe_agree(tmp_path, dtype, shape):
    from esrgan_lib.img_util import probe_image

    top = {np.uint8: 255, np.uint16: 65535, np.float32: 1}[dtype]
    arr = (np.random.default_rng(3).random(shape) * top).astype(dtype)
    save_image(arr, tmp_path / "x.tif")
    back, info = read_image_any(tmp_path / "x.tif"), probe_image(tmp_path / "x.tif")
    assert back.dtype == arr.dtype and np.array_equal(back, arr)
    assert info.shape == back.shape and info.dtype == back.dtype


def test_a_folder_of_other_files_is_named_and_the_others_are_listed_once(tmp_path, weights, capsys):
    """A folder is read with img_util.list_images: files that are not images by name are listed in one
    warning; a folder with no image is an error naming it, and the other inputs still run."""
    rng = np.random.default_rng(0)
    mixed, empty = tmp_path / "mixed", tmp_path / "docs"
    mixed.mkdir(), empty.mkdir()
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(mixed / "a.png")
    (mixed / "readme.txt").write_text("not an image")
    (empty / "notes.txt").write_text("not an image")
    with pytest.warns(UserWarning, match="readme.txt"):
        rc = main([str(mixed), str(empty), "-o", str(tmp_path / "out"), "--weights", str(weights), "--quiet"])
    assert rc == 1 and str(empty) in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a_x2.png"]
