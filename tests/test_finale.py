"""Notebook 09's finale logic (esrgan_lib.notebook.finale): where stage 2 starts, the three runs' configs,
one time budget split over them, fresh run folders and the curves of a resumed run."""

from __future__ import annotations

import json

import pytest

from esrgan_lib.notebook.finale import (
    FINALE_RUNS,
    Deadline,
    finale_config,
    finale_start,
    fresh_run,
    run_log,
    scaled_milestones,
    split_budget,
)
from esrgan_lib.training.presets import RECIPES


def test_finale_start_prefers_the_learners_stage_1(tmp_path):
    own = tmp_path / FINALE_RUNS["esrgan_psnr"] / "generator.safetensors"
    own.parent.mkdir()
    own.write_bytes(b"x")
    asked = []
    assert finale_start(tmp_path, download=lambda name: asked.append(name)) == own
    assert asked == []  # nothing downloaded when notebook 05's run is there


def test_finale_start_downloads_the_papers_weights_then_real_esrnet(tmp_path, capsys):
    asked = []

    def download(name):
        asked.append(name)
        if name == "esrgan_psnr_x4":
            raise OSError("no route to host")
        return tmp_path / f"{name}.pth"

    assert finale_start(tmp_path, download=download) == tmp_path / "realesrnet_x4plus.pth"
    assert asked == ["esrgan_psnr_x4", "realesrnet_x4plus"]
    assert "esrgan_psnr_x4: could not download (no route to host)" in capsys.readouterr().out
    assert finale_start(tmp_path, download=lambda name: tmp_path / name) == tmp_path / "esrgan_psnr_x4"


def test_finale_start_says_what_is_missing(tmp_path):
    def fail(name):
        raise OSError("offline")

    with pytest.raises(FileNotFoundError, match="notebook 05"):
        finale_start(tmp_path, download=fail)


def test_scaled_milestones_keep_the_fractions_of_the_preset():
    preset = (10_000, 20_000, 30_000, 40_000)
    assert scaled_milestones(preset, 50_000, 20_000) == (4_000, 8_000, 12_000, 16_000)
    assert scaled_milestones((50_000, 75_000), 100_000, 40) == (20, 30)
    assert scaled_milestones((400,), 600, 1) == ()  # nothing left to halve inside a 1-step run
    with pytest.raises(ValueError):
        scaled_milestones((1,), 0, 10)


def test_finale_configs_are_the_papers_recipes_at_t4_size():
    esrgan = finale_config("esrgan", "colab_t4", 20_000, pretrained="psnr.safetensors")
    assert (esrgan.nb, esrgan.gan, esrgan.steps) == (23, "ragan", 20_000)
    assert {k: getattr(esrgan, k) for k in RECIPES["ragan"]} == RECIPES["ragan"]  # the paper's: test_training
    assert esrgan.milestones == (4_000, 8_000, 12_000, 16_000)  # the preset's (10k..40k of 50k), scaled
    srresnet = finale_config("srresnet", "colab_t4", 40_000)
    assert (srresnet.arch, srresnet.nb, srresnet.stage) == ("srresnet", 16, "psnr")
    assert srresnet.pixel_criterion == "mse"
    assert srresnet.milestones == (20_000, 30_000)
    srgan = finale_config("srgan", "colab_t4", 10_000, pretrained="srresnet.safetensors")
    assert (srgan.gan, srgan.nb) == ("vanilla", 16)
    assert {k: getattr(srgan, k) for k in RECIPES["vanilla"]} == RECIPES["vanilla"]  # BatchNorm D, no pixel
    assert finale_config("esrgan", "cpu", 40, allow_scratch=True, milestones=(10,)).milestones == (10,)
    with pytest.raises(ValueError, match="role"):
        finale_config("edsr", "cpu")


def test_split_budget_is_proportional_to_the_work():
    split = split_budget({"esrgan": 60.0, "srresnet": 5.0, "srgan": 25.0}, 90)
    assert list(split) == ["esrgan", "srresnet", "srgan"]
    assert split == pytest.approx({"esrgan": 60.0, "srresnet": 5.0, "srgan": 25.0})
    assert sum(split_budget({"a": 3.01, "b": 0.12}, 90).values()) == pytest.approx(90)
    for bad in ({}, {"a": 0.0}):
        with pytest.raises(ValueError):
            split_budget(bad, 90)
    with pytest.raises(ValueError):
        split_budget({"a": 1.0}, 0)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_deadline_keeps_the_later_runs_shares_and_passes_on_unused_time():
    clock = FakeClock()
    deadline = Deadline({"esrgan": 60, "srresnet": 10, "srgan": 20}, clock=clock)
    assert deadline.total_s == 5400 and deadline.remaining() == 5400
    assert deadline.allowance("esrgan") == 3600  # 90 min minus the 30 min reserved for the SRGAN runs
    clock.now += 3000  # ESRGAN finished 10 min early: SRResNet may use them
    assert deadline.allowance("srresnet") == pytest.approx(2400 - 1200)
    clock.now += 1200
    assert deadline.allowance("srgan") == pytest.approx(1200)
    clock.now += 5000  # overrun: nothing left, never negative
    assert deadline.allowance("srgan") == 0 and deadline.remaining() == 0
    with pytest.raises(KeyError):
        deadline.allowance("edsr")


def test_deadline_without_budget_has_no_limit():
    deadline = Deadline(None)
    assert deadline.allowance("esrgan") is None and deadline.remaining() is None
    assert deadline.describe("esrgan") == "no time limit"


def test_deadline_describes_a_spent_allowance_as_zero_not_as_no_limit():
    clock = FakeClock()
    deadline = Deadline({"esrgan": 60, "srgan": 30}, clock=clock)
    assert deadline.describe("esrgan") == "3600 s (60.0 min) allowed"
    clock.now += 9000
    assert deadline.describe("srgan") == "0 s (0.0 min) allowed"


def test_fresh_run_removes_only_run_folders(tmp_path):
    run = tmp_path / "09_esrgan_cpu"
    (run / "samples").mkdir(parents=True)
    (run / "log.jsonl").write_text("{}\n")
    assert fresh_run(run) == run and not run.exists()
    assert fresh_run(run) == run  # nothing there: nothing to do
    other = tmp_path / "photos"
    other.mkdir()
    (other / "me.png").write_bytes(b"x")
    with pytest.raises(FileExistsError):
        fresh_run(other)
    assert (other / "me.png").is_file()


def test_run_log_splits_steps_and_validations(tmp_path):
    lines = [{"step": 5, "l_d": 1.3}, {"step": 10, "l_d": 1.2},
             {"event": "validation", "step": 5, "psnr": 28.0, "per_image": {"a": 28.0}}]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    train, val = run_log(tmp_path)
    assert train == [{"step": 5, "l_d": 1.3}, {"step": 10, "l_d": 1.2}]  # in file order
    assert val == [{"step": 5, "psnr": 28.0}]
    assert run_log(tmp_path / "none") == ([], [])


def test_a_wgan_gp_finale_has_its_own_folder_that_notebook_10_finds(tmp_path):
    """Notebook 09 with GAN = "wgan-gp" must not overwrite (or resume) the RaGAN run, and notebook 10 must
    still find it: a role of its own, paired with the same stage 1 for interpolation."""
    from esrgan_lib.notebook.finale import INTERPOLATION_PAIRS, learner_models

    assert FINALE_RUNS["esrgan_wgan-gp"] not in (FINALE_RUNS["esrgan"], FINALE_RUNS["esrgan_psnr"])
    assert ("esrgan_psnr", "esrgan_wgan-gp") in INTERPOLATION_PAIRS
    run = tmp_path / FINALE_RUNS["esrgan_wgan-gp"]
    run.mkdir()
    (run / "generator.safetensors").write_bytes(b"x")
    assert learner_models(tmp_path) == {"esrgan_wgan-gp": run / "generator.safetensors"}
