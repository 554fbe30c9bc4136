"""esrgan_lib.notebook.finale: the choice of interpolation pair (true fine-tuned pairs first, the unrelated
one last)."""

from __future__ import annotations

import pytest
import torch

from esrgan_lib.checkpoint import save_generator
from esrgan_lib.models import RRDBNet, SRResNet
from esrgan_lib.notebook import finale


def _rrdb(seed: int, nf: int = 8) -> RRDBNet:
    torch.manual_seed(seed)
    return RRDBNet(3, 3, nf=nf, nb=1, gc=4).eval()


def _fine_tuned(model: torch.nn.Module, scale: float = 0.01, seed: int = 99) -> torch.nn.Module:
    """A copy with every weight moved by ``scale`` of its own size: what a short fine-tune does."""
    out = type(model)(**model.config).eval()
    out.load_state_dict(model.state_dict())
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in out.parameters():
            p.add_(scale * p.abs().mean() * torch.randn(p.shape, generator=gen))
    return out


def test_weight_distance_small_for_a_fine_tuned_copy_large_for_an_independent_network():
    a = _rrdb(0)
    assert finale.weight_distance(a, a) == 0.0
    near = finale.weight_distance(a, _fine_tuned(a))
    far = finale.weight_distance(a, _rrdb(1))
    assert 0 < near < 0.05 and far > 1.0 and far > 10 * near
    with pytest.raises(ValueError, match="different architectures"):
        finale.weight_distance(a, _rrdb(0, nf=16))
    with pytest.raises(ValueError, match="different architectures"):
        finale.weight_distance(a, SRResNet(nf=8, nb=1).eval())


def _loader(models: dict):
    calls = []

    def load(key):
        calls.append(key)
        if key not in models:
            raise FileNotFoundError(f"{key} is not here")
        return models[key]

    load.calls = calls
    return load


def test_choose_takes_the_first_true_pair_and_says_why_it_skipped_the_others():
    psnr, other = _rrdb(0), _rrdb(1)
    models = {"esrgan_psnr": psnr, "esrgan": other,   # the learner's GAN did not start from this PSNR model
              "pretrained:p": psnr, "pretrained:g": _fine_tuned(psnr),
              "demo:p": psnr, "demo:g": _fine_tuned(psnr)}
    pairs = [("srresnet", "srgan"), ("esrgan_psnr", "esrgan"),
             ("pretrained:p", "pretrained:g"), ("demo:p", "demo:g")]
    load = _loader(models)
    choice = finale.choose_interpolation_pair(load, pairs)
    assert (choice.psnr_key, choice.gan_key, choice.fine_tuned) == ("pretrained:p", "pretrained:g", True)
    assert choice.psnr_model is psnr and choice.distance < finale.PAIR_MAX_DISTANCE
    assert [s[:2] for s in choice.skipped] == [("srresnet", "srgan"), ("esrgan_psnr", "esrgan")]
    assert "not available" in choice.skipped[0][2] and "not fine-tuned" in choice.skipped[1][2]
    assert "demo:p" not in load.calls   # stops at the first pair that qualifies


def test_choose_prefers_the_learners_pair_when_it_is_one():
    psnr = _rrdb(0)
    models = {"esrgan_psnr": psnr, "esrgan": _fine_tuned(psnr), "demo:rrdb_psnr_x4_demo": psnr,
              "demo:esrgan_x4_demo_randomvgg": _fine_tuned(psnr)}
    choice = finale.choose_interpolation_pair(_loader(models))
    assert (choice.psnr_key, choice.gan_key) == finale.INTERPOLATION_PAIRS[0] == ("esrgan_psnr", "esrgan")


def test_choose_falls_back_to_the_unrelated_pair_and_marks_it():
    a, b = _rrdb(0), _rrdb(1)
    models = {"demo:rrdb_psnr_x4_demo": a, "demo:esrgan_x4_demo_randomvgg": b,   # not a pair (too far apart)
              finale.UNRELATED_PAIR[0]: a, finale.UNRELATED_PAIR[1]: b}
    choice = finale.choose_interpolation_pair(_loader(models))
    assert choice.fine_tuned is False and (choice.psnr_key, choice.gan_key) == finale.UNRELATED_PAIR
    assert choice.distance > finale.PAIR_MAX_DISTANCE
    assert len(choice.skipped) == len(finale.INTERPOLATION_PAIRS)
    assert finale.choose_interpolation_pair(_loader({})) is None
    assert finale.choose_interpolation_pair(_loader(models), fallback=None) is None


def test_choose_skips_a_pair_of_different_architectures():
    models = {"p": _rrdb(0), "g": SRResNet(nf=8, nb=1).eval()}
    assert finale.choose_interpolation_pair(_loader(models), [("p", "g")], fallback=None) is None


def test_load_finale_model_by_role_demo_and_errors(tmp_path):
    model = _rrdb(3)
    save_generator(model, tmp_path / finale.FINALE_RUNS["srgan"] / "generator.safetensors")
    loaded = finale.load_finale_model("srgan", tmp_path)
    assert finale.weight_distance(model, loaded) == 0.0
    assert set(finale.learner_models(tmp_path)) == {"srgan"}
    with pytest.raises(FileNotFoundError, match="09_"):
        finale.load_finale_model("esrgan", tmp_path)
    assert isinstance(finale.load_finale_model("demo:rrdb_psnr_x4_demo"), RRDBNet)
    with pytest.raises(FileNotFoundError, match="does not ship"):
        finale.load_finale_model("demo:no_such_demo")
    with pytest.raises(ValueError, match="unknown model key"):
        finale.load_finale_model("nonsense")


def test_pairs_are_listed_best_first():
    keys = [k for pair in finale.INTERPOLATION_PAIRS for k in pair]
    assert keys[:6] == ["esrgan_psnr", "esrgan", "srresnet", "srgan", "esrgan_psnr", "esrgan_wgan-gp"]
    assert keys.index("pretrained:esrgan_psnr_x4") < keys.index("pretrained:realesrnet_x4plus")
    assert keys.index("pretrained:realesrgan_x4plus") < keys.index("demo:rrdb_psnr_x4_demo")
    assert not set(finale.UNRELATED_PAIR) & set(keys)


def test_load_finale_model_from_a_run_folder_of_another_profile(tmp_path):
    """Notebook 10 in the cpu profile shows the SRGAN notebook 09 trained in that profile:
    ``file:<path>`` loads it; a missing file names notebook 09's run."""
    model = _rrdb(4)
    path = tmp_path / "09_srgan_cpu" / "generator.safetensors"
    save_generator(model, path)
    assert finale.weight_distance(model, finale.load_finale_model(f"file:{path}")) == 0.0
    with pytest.raises(FileNotFoundError, match="09_srgan_smoke"):
        finale.load_finale_model(f"file:{tmp_path / '09_srgan_smoke' / 'generator.safetensors'}")


def test_every_demo_pair_names_files_the_course_ships():
    """A listed demo pair must load offline (a pair of files that do not exist is a dead entry)."""
    demos = [k for pair in finale.INTERPOLATION_PAIRS for k in pair if k.startswith("demo:")]
    assert demos
    for key in demos:
        finale.load_finale_model(key)
