"""Precision choice and profiles."""

import warnings

import pytest
import torch

from esrgan_lib import profiles, runtime


def test_auto_on_cpu_follows_bf16_hardware(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: True)
    assert runtime.pick_precision("cpu") == "bf16"
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: False)
    assert runtime.pick_precision("cpu") == "fp32"


@pytest.fixture
def fresh_bf16_probe():
    runtime.cpu_has_bf16.cache_clear()
    yield
    runtime.cpu_has_bf16.cache_clear()


@pytest.mark.parametrize("feature", ["_is_amx_tile_supported", "_is_avx512_bf16_supported"])
def test_cpu_bf16_probe_asks_torch_cpu(monkeypatch, fresh_bf16_probe, feature):
    """AMX or AVX512-BF16, as torch.cpu reports them (torch 2.4 to today; torch._C._cpu lost them in 2.11)."""
    for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        monkeypatch.setattr(torch.cpu, name, lambda: False)
    assert runtime.cpu_has_bf16() is False
    runtime.cpu_has_bf16.cache_clear()
    monkeypatch.setattr(torch.cpu, feature, lambda: True)
    assert runtime.cpu_has_bf16() is True


@pytest.mark.parametrize("has_bf16, expected", [(True, "bf16"), (False, "fp32")])
def test_fp16_on_cpu_falls_back_with_a_warning(monkeypatch, has_bf16, expected):
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: has_bf16)
    with pytest.warns(UserWarning, match="fp16 is not used on CPU"):
        assert runtime.pick_precision("cpu", "fp16") == expected


def test_cuda_auto_picks_bf16_on_ampere_and_fp16_on_older(monkeypatch):
    monkeypatch.setattr(runtime, "_cuda_has_bf16", lambda: True)
    assert runtime.pick_precision("cuda") == "bf16"
    monkeypatch.setattr(runtime, "_cuda_has_bf16", lambda: False)
    assert runtime.pick_precision("cuda") == "fp16"
    with pytest.warns(UserWarning):
        assert runtime.pick_precision("cuda", "bf16") == "fp16"


def test_explicit_choices_and_bad_value():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert runtime.pick_precision("cpu", "fp32") == "fp32"
        assert runtime.pick_precision("cpu", "bf16") == "bf16"
    with pytest.raises(ValueError, match="precision"):
        runtime.pick_precision("cpu", "half")


def test_autocast_contexts_run():
    x = torch.rand(2, 4)
    w = torch.rand(4, 3)
    with runtime.autocast("cpu", "fp32"):
        assert (x @ w).dtype == torch.float32
    with runtime.autocast("cpu", "bf16"):
        assert (x @ w).dtype == torch.bfloat16
    with pytest.raises(ValueError):
        runtime.autocast("cpu", "auto")


def test_describe_hardware_mentions_precision():
    assert "auto precision" in runtime.describe_hardware("cpu")


def test_profiles(monkeypatch):
    monkeypatch.setenv("ESRGAN_PROFILE", "smoke")
    assert profiles.get_profile() == "smoke"
    monkeypatch.setenv("ESRGAN_PROFILE", "CPU")
    assert profiles.get_profile() == "cpu"
    monkeypatch.setenv("ESRGAN_PROFILE", "bogus")
    with pytest.raises(ValueError, match="ESRGAN_PROFILE"):
        profiles.get_profile()
    monkeypatch.delenv("ESRGAN_PROFILE")
    assert profiles.get_profile() == ("gpu" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA"):
            profiles.get_profile("gpu")
