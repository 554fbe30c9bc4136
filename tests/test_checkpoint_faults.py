"""Checkpoints that lie or are broken: metadata that disagrees with the tensors, partial state dicts,
non-finite weights, training checkpoints (issue 10, items 5, 6, 7 and 12)."""

import json

import pytest
import torch

from esrgan_lib.checkpoint import CheckpointError, load_generator, save_generator
from esrgan_lib.models import RRDBNet
from esrgan_lib.upscale import main as upscale_main


def _tiny(seed=0, **kw):
    torch.manual_seed(seed)
    return RRDBNet(**{"nf": 8, "nb": 1, "gc": 8, "scale": 4, **kw}).eval()


def _rewrite_metadata(path, **config_changes):
    """Rewrite a safetensors file with the same tensors but a lying ``esrgan_lib.config``."""
    from safetensors.torch import load_file, save_file

    from esrgan_lib.checkpoint import read_metadata

    meta = read_metadata(path)
    config = {**json.loads(meta["esrgan_lib.config"]), **config_changes}
    meta["esrgan_lib.config"] = json.dumps(config)
    save_file(load_file(str(path)), str(path), metadata=meta)


def test_metadata_is_checked_against_the_tensors_before_building(tmp_path, monkeypatch):
    path = save_generator(_tiny(), tmp_path / "g.safetensors")
    _rewrite_metadata(path, nf=20000)
    built = []
    original_init = RRDBNet.__init__

    def spy(self, *args, **kwargs):
        built.append(kwargs.get("nf"))
        if kwargs.get("nf") == 20000:
            raise AssertionError("the 14 GB model from the metadata was built")  # never allocate it here
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(RRDBNet, "__init__", spy)
    with pytest.raises(CheckpointError, match=r"nf=20000.*nf=8|nf.*20000"):
        load_generator(path, device="cpu")
    assert 20000 not in built  # the huge model was never allocated


def test_metadata_nb_disagreeing_with_blocks_is_refused(tmp_path):
    path = save_generator(_tiny(), tmp_path / "g.safetensors")
    _rewrite_metadata(path, nb=5000)
    with pytest.raises(ValueError, match="nb"):
        load_generator(path, device="cpu")


def test_metadata_naming_an_option_the_class_lacks_is_refused(tmp_path):
    path = save_generator(_tiny(scale=2), tmp_path / "g.safetensors")
    _rewrite_metadata(path, scael=4)  # a typo once made a build silently ignore it
    with pytest.raises(CheckpointError, match=r"g\.safetensors.*'scael'.*RRDBNet does not take"):
        load_generator(path, device="cpu")


def test_partial_checkpoint_missing_conv_last_is_a_clear_error(tmp_path):
    sd = {k: v for k, v in _tiny().state_dict().items() if not k.startswith("conv_last.")}
    with pytest.raises(CheckpointError, match="conv_last"):
        load_generator(sd, device="cpu")
    torch.save(sd, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match=r"partial\.pth.*conv_last"):
        load_generator(tmp_path / "partial.pth", device="cpu")


def test_old_arch_file_with_two_keys_is_a_clear_error(tmp_path):
    sd = {"model.0.weight": torch.zeros(8, 3, 3, 3),
          "model.1.sub.0.RDB1.conv1.0.weight": torch.zeros(8, 8, 3, 3)}
    torch.save(sd, tmp_path / "old.pth")
    with pytest.raises(CheckpointError, match="old.pth"):
        load_generator(tmp_path / "old.pth", device="cpu")


def test_checkpoint_error_is_a_value_error():
    assert issubclass(CheckpointError, ValueError)  # the CLI maps ValueError to exit code 2


@pytest.mark.parametrize("bad", ["partial", "nan", "inf"])
def test_cli_bad_weights_exit_code_2(tmp_path, bad, capsys):
    sd = _tiny().state_dict()
    if bad == "partial":
        sd = {k: v for k, v in sd.items() if not k.startswith("conv_last.")}
    else:
        sd["body.0.rdb1.conv2.weight"][0, 0, 0, 0] = float(bad)
    torch.save(sd, tmp_path / "w.pth")
    (tmp_path / "in").mkdir()
    torch.manual_seed(0)
    from PIL import Image

    Image.new("RGB", (8, 8), (10, 20, 30)).save(tmp_path / "in" / "a.png")
    rc = upscale_main([str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--weights",
                       str(tmp_path / "w.pth"), "--quiet", "--device", "cpu"])
    assert rc == 2
    assert "could not load weights" in capsys.readouterr().err
    assert not (tmp_path / "out" / "a_x4.png").exists()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_are_refused(tmp_path, value):
    model = _tiny()
    with torch.no_grad():
        model.conv_hr.bias[3] = value
    with pytest.raises(CheckpointError, match=r"conv_hr\.bias.*(NaN|Inf)|(NaN|Inf).*conv_hr\.bias"):
        load_generator(model.state_dict(), device="cpu")
    path = save_generator(model, tmp_path / "g.safetensors")
    with pytest.raises(CheckpointError, match="conv_hr.bias"):
        load_generator(path, device="cpu")


def _training_checkpoint(tmp_path, with_ema=True):
    raw, ema = _tiny(seed=1), _tiny(seed=2)
    state = {
        "format": "esrgan_lib.training/1",
        "step": 10,
        "config": {"arch": "rrdbnet", "nf": 8, "nb": 1, "gc": 8, "scale": 4},
        "generator": raw.state_dict(),
        "ema": {"module": ema.state_dict(), "updates": 10, "decay": 0.999} if with_ema else None,
        "discriminator": None,
    }
    path = tmp_path / "checkpoint.pt"
    torch.save(state, path)
    return path, raw, ema


def _same(a, b):
    return all(torch.equal(x, b.state_dict()[k]) for k, x in a.state_dict().items())


def test_training_checkpoint_loads_its_ema_weights(tmp_path):
    path, raw, ema = _training_checkpoint(tmp_path)
    loaded = load_generator(path, device="cpu")
    assert _same(loaded, ema) and not _same(loaded, raw)


def test_training_checkpoint_without_ema_loads_the_generator(tmp_path):
    path, raw, _ = _training_checkpoint(tmp_path, with_ema=False)
    assert _same(load_generator(path, device="cpu"), raw)


def test_cli_and_training_use_the_same_weights_of_a_checkpoint(tmp_path):
    from esrgan_lib.training.checkpoints import load_pretrained

    path, _, ema = _training_checkpoint(tmp_path)
    target = _tiny(seed=3)
    load_pretrained(target, path)
    assert _same(load_generator(path, device="cpu"), target)


def test_metadata_naming_a_discriminator_is_refused(tmp_path):
    from safetensors.torch import save_file

    from esrgan_lib.models import VGGDiscriminator

    sd = {k: v.contiguous() for k, v in VGGDiscriminator().state_dict().items()}
    save_file(sd, str(tmp_path / "d.safetensors"),
              metadata={"esrgan_lib.arch": "VGGDiscriminator", "esrgan_lib.config": "{}"})
    with pytest.raises(CheckpointError, match="discriminator.*not a generator"):
        load_generator(tmp_path / "d.safetensors", device="cpu")
