"""``esrgan_lib.notebook.course``: the notebooks' one call for finding Set5/Set14."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from esrgan_lib.notebook import course_benchmark, course_data_root, runs_root

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_nothing_found_offline_gives_none(tmp_path, monkeypatch):
    monkeypatch.setenv("ESRGAN_DATA", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    assert course_data_root("Set5") is None
    assert course_benchmark("Set5", download=False) is None


def test_the_data_root_is_searched_first(tmp_path, monkeypatch):
    (tmp_path / "cache" / "Set5").mkdir(parents=True)
    (tmp_path / "repo" / "shared" / "data" / "Set5").mkdir(parents=True)
    monkeypatch.setenv("ESRGAN_DATA", str(tmp_path / "cache"))
    assert course_data_root("Set5", start=tmp_path / "repo" / "notebooks") == tmp_path / "cache"
    shutil.rmtree(tmp_path / "cache")
    found = course_data_root("Set5", start=tmp_path / "repo" / "notebooks")
    assert found == tmp_path / "repo" / "shared" / "data"


@pytest.mark.skipif(not (SHARED / "Set5").is_dir(), reason="no ../shared/data/Set5 beside the repository")
def test_set5_from_the_shared_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ESRGAN_DATA", str(tmp_path / "cache"))
    monkeypatch.chdir(SHARED.parents[1])  # the folder holding shared/ (and the repository)
    images = course_benchmark("Set5", download=False)
    assert sorted(images) == ["baby", "bird", "butterfly", "head", "woman"]
    assert images["baby"].shape == (512, 512, 3)


def test_runs_root_outside_colab_is_a_local_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(__import__("sys").modules, "google.colab", raising=False)
    assert runs_root(use_drive=True) == Path("runs") and (tmp_path / "runs").is_dir()


def test_runs_root_on_colab_mounts_drive(tmp_path, monkeypatch):
    import sys
    import types

    import esrgan_lib.notebook.course as course

    mounted = []
    colab = types.ModuleType("google.colab")
    colab.drive = types.SimpleNamespace(mount=mounted.append)
    google = types.ModuleType("google")
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setattr(course, "DRIVE_RUNS", tmp_path / "drive" / "runs")
    assert runs_root(use_drive=True) == tmp_path / "drive" / "runs" and mounted == ["/content/drive"]
    monkeypatch.chdir(tmp_path)
    assert runs_root(use_drive=False) == Path("runs") and mounted == ["/content/drive"]


def test_course_setup_picks_prints_and_sets_the_figure_resolution(monkeypatch, capsys):
    import matplotlib

    from esrgan_lib.notebook import course_setup
    from esrgan_lib.notebook.course import FIGURE_DPI

    monkeypatch.setitem(matplotlib.rcParams, "figure.dpi", 100.0)
    monkeypatch.setenv("ESRGAN_PROFILE", "smoke")
    assert course_setup() == "smoke"
    assert capsys.readouterr().out == "profile: smoke\n"
    assert matplotlib.rcParams["figure.dpi"] == FIGURE_DPI
    assert course_setup("cpu") == "cpu"  # an explicit name wins over $ESRGAN_PROFILE
    monkeypatch.setenv("ESRGAN_PROFILE", "laptop")
    with pytest.raises(ValueError, match="ESRGAN_PROFILE"):
        course_setup()
