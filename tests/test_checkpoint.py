"""Checkpoints: our safetensors files, every ESRGAN key format, spandrel interop, interpolation,
and the official-weights download (against a local HTTP server)."""

import functools
import hashlib
import http.server
import threading
import warnings

import pytest
import torch

from esrgan_lib import checkpoint
from esrgan_lib.checkpoint import (
    export_generator,
    interpolate,
    load_generator,
    pretrained,
    read_metadata,
    save_generator,
)
from esrgan_lib.models import RRDBNet, SRResNet, VGGDiscriminator


def _random_rrdbnet(seed=0, **kw):
    torch.manual_seed(seed)
    model = RRDBNet(**{"nf": 8, "nb": 1, "gc": 32, "scale": 4, **kw}).eval()
    with torch.no_grad():  # non-trivial biases, so a mis-mapped bias changes the output
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return model


def _out(model, size=12, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, model.in_ch, size, size, generator=g)
    with torch.no_grad():
        return model(x)


# ---------------------------------------------------------------------------------------------
# our own format


@pytest.mark.parametrize("make", [
    lambda: _random_rrdbnet(scale=2, gc=8),
    lambda: SRResNet(nf=8, nb=2, scale=4).eval(),
])
def test_safetensors_round_trip_rebuilds_the_architecture(tmp_path, make):
    model = make()
    path = save_generator(model, tmp_path / "g.safetensors", {"vgg_weights": "random", "iters": 123})
    loaded = load_generator(path)
    assert type(loaded) is type(model) and loaded.config == model.config
    assert not loaded.training
    assert torch.equal(_out(loaded), _out(model))
    meta = read_metadata(path)
    assert meta["vgg_weights"] == "random" and meta["iters"] == "123"
    assert [p.name for p in tmp_path.iterdir()] == ["g.safetensors"]  # no temp file left


def test_load_generator_can_return_the_descriptor(tmp_path):
    model = _random_rrdbnet(scale=2, gc=8)
    path = save_generator(model, tmp_path / "g.safetensors", {"iters": 7})
    desc = load_generator(path, device="cpu", descriptor=True)
    assert desc.name == "rrdbnet" and desc.config == model.config
    assert (desc.scale, desc.in_ch, desc.out_ch, desc.size.multiple_of) == (2, 3, 3, 2)
    assert desc.model.metadata == {"format": "pt", "iters": "7", "source": str(path)}
    assert not desc.model.training
    assert torch.equal(_out(desc.model), _out(model))


def test_interrupted_save_leaves_nothing(tmp_path, monkeypatch):
    import safetensors.torch

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", boom)
    with pytest.raises(OSError, match="disk full"):
        save_generator(_random_rrdbnet(), tmp_path / "g.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_srresnet_state_dict_without_metadata(tmp_path):
    model = SRResNet(nf=8, nb=3, scale=8).eval()
    torch.save(model.state_dict(), tmp_path / "srresnet.pth")
    loaded = load_generator(tmp_path / "srresnet.pth")
    assert isinstance(loaded, SRResNet) and loaded.config == model.config
    assert torch.equal(_out(loaded, 6), _out(model, 6))


# ---------------------------------------------------------------------------------------------
# other tools' formats


def _spandrel_model(scale, nb=2, nf=8, seed=0):
    """A random spandrel ESRGAN (old-arch keys), made by spandrel's own class."""
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(seed)
    shuffle = {1: 4, 2: 2}.get(scale)
    model = ESRGAN(in_nc=3 * (shuffle or 1) ** 2, out_nc=3, num_filters=nf, num_blocks=nb,
                   scale=4 if shuffle else scale, shuffle_factor=shuffle)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return model.eval()


@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_loads_spandrel_made_old_arch_state_dicts(tmp_path, scale):
    ref = _spandrel_model(scale)
    torch.save(ref.state_dict(), tmp_path / "old.pth")
    model = load_generator(tmp_path / "old.pth")
    assert model.config == dict(in_ch=3, out_ch=3, nf=8, nb=2, gc=32, scale=scale)
    x = torch.rand(1, 3, 8, 12)
    with torch.no_grad():
        assert torch.allclose(model(x), ref(x), atol=1e-5)


@pytest.mark.parametrize("fmt", ["basicsr", "official", "old"])
@pytest.mark.parametrize("scale", [2, 4, 8])
def test_exports_load_in_spandrel_with_equal_outputs(tmp_path, fmt, scale):
    from spandrel import ModelLoader

    model = _random_rrdbnet(scale=scale, nb=2)
    path = export_generator(model, tmp_path / f"{fmt}.pth", format=fmt)
    desc = ModelLoader().load_from_file(path)
    assert desc.architecture.id == "ESRGAN" and desc.scale == scale
    x = torch.rand(1, 3, 8, 10)
    with torch.no_grad():
        assert torch.allclose(desc.model.eval()(x), model(x), atol=1e-5)
    assert torch.equal(_out(load_generator(path)), _out(model))  # and back into esrgan_lib


def test_export_formats_are_the_registered_key_formats_and_ncnn(tmp_path):
    from esrgan_lib.models import generator_spec

    assert tuple(checkpoint.EXPORTERS) == (*generator_spec("rrdbnet").key_formats, "ncnn")
    for fmt in ("basicsr", "official", "old"):
        with pytest.raises(TypeError, match=f"format '{fmt}' exports RRDBNet models, got SRResNet"):
            export_generator(SRResNet(nf=8, nb=1), tmp_path / f"{fmt}.pth", format=fmt)
    with pytest.raises(ValueError, match="format must be one of 'basicsr', 'official', 'old', 'ncnn'"):
        export_generator(_random_rrdbnet(), tmp_path / "x.pth", format="onnx")
    with pytest.raises(TypeError, match="save_generator saves"):
        save_generator(VGGDiscriminator(), tmp_path / "d.safetensors")
    assert not list(tmp_path.iterdir())


def test_basicsr_export_is_real_esrgans_layout(tmp_path):
    model = _random_rrdbnet(scale=8)
    obj = torch.load(export_generator(model, tmp_path / "g.pth"), weights_only=True)
    assert list(obj) == ["params_ema"] and list(obj["params_ema"]) == list(model.state_dict())
    assert checkpoint.to_basicsr_keys(obj).keys() == model.state_dict().keys()
    old = torch.load(export_generator(model, tmp_path / "old.pth", format="old"), weights_only=True)
    assert "model.0.weight" in old and "model.13.bias" in old  # x8: 3 upsampling convs, then the last two
    back, want = checkpoint.to_basicsr_keys(old), model.state_dict()
    assert back.keys() == want.keys() and all(torch.equal(v, want[k]) for k, v in back.items())
    with pytest.raises(ValueError, match="SRResNet has no BasicSR key format"):
        checkpoint.to_basicsr_keys(SRResNet(nf=8, nb=1).state_dict())


def test_prefers_params_ema_and_strips_module_prefix(tmp_path):
    ema, raw = _random_rrdbnet(seed=1), _random_rrdbnet(seed=2)
    wrap = lambda m: {f"module.{k}": v for k, v in m.state_dict().items()}
    torch.save({"params": wrap(raw), "params_ema": wrap(ema), "iter": 5}, tmp_path / "both.pth")
    torch.save({"params": wrap(raw)}, tmp_path / "params.pth")
    assert torch.equal(_out(load_generator(tmp_path / "both.pth")), _out(ema))
    assert torch.equal(_out(load_generator(tmp_path / "params.pth")), _out(raw))


def test_in_memory_state_dict_and_device():
    model = _random_rrdbnet(scale=8)
    loaded = load_generator(model.state_dict(), device="cpu")
    assert loaded.scale == 8 and torch.equal(_out(loaded, 4), _out(model, 4))


# ---------------------------------------------------------------------------------------------
# bad checkpoints


def test_discriminator_is_rejected_with_what_was_found(tmp_path):
    torch.save(VGGDiscriminator().state_dict(), tmp_path / "d.pth")
    found = r"found 20 tensors with keys like features\.0\.weight.*a VGGDiscriminator.*not a generator"
    with pytest.raises(ValueError, match=found):
        load_generator(tmp_path / "d.pth")


def test_missing_and_extra_keys_are_listed(tmp_path):
    sd = _random_rrdbnet().state_dict()
    missing = {k: v for k, v in sd.items() if k != "body.0.rdb2.conv3.bias"}
    with pytest.raises(ValueError, match=r"1 missing key\(s\), e\.g\. body\.0\.rdb2\.conv3\.bias"):
        load_generator(missing)
    extra = {**sd, "conv_extra.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match=r"unexpected key\(s\), e\.g\. conv_extra\.weight"):
        load_generator(extra)
    with pytest.warns(UserWarning, match="missing"):
        model = load_generator(missing, strict=False)
    assert isinstance(model, RRDBNet)


def test_shape_mismatch_and_bad_files(tmp_path):
    sd = _random_rrdbnet().state_dict()
    sd["conv_hr.weight"] = torch.zeros(8, 8, 5, 5)
    with pytest.raises(ValueError, match="shape mismatch.*conv_hr.weight"):
        load_generator(sd)
    (tmp_path / "junk.pth").write_bytes(b"this is not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth could not be read"):
        load_generator(tmp_path / "junk.pth")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_generator(tmp_path / "junk.safetensors")
    with pytest.raises(FileNotFoundError):
        load_generator(tmp_path / "absent.pth")


class _NotWeights:
    pass


def test_pickles_with_code_are_refused(tmp_path):
    torch.save({"params": _NotWeights()}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match="weights_only=True"):
        load_generator(tmp_path / "evil.pth")


# ---------------------------------------------------------------------------------------------
# interpolation


def test_interpolation_is_per_parameter_lerp():
    a, b = _random_rrdbnet(seed=1), _random_rrdbnet(seed=2)
    a_before = {k: v.clone() for k, v in a.state_dict().items()}
    mid = interpolate(a, b, 0.3)
    for k, v in mid.state_dict().items():
        assert torch.allclose(v, 0.7 * a_before[k] + 0.3 * b.state_dict()[k], atol=1e-7), k
    assert all(torch.equal(v, a_before[k]) for k, v in a.state_dict().items())  # inputs untouched
    assert torch.equal(_out(interpolate(a, b, 0.0)), _out(a))
    assert torch.equal(_out(interpolate(a, b, 1.0)), _out(b))


def test_interpolation_errors():
    a = _random_rrdbnet()
    with pytest.raises(ValueError, match="different architectures"):
        interpolate(a, _random_rrdbnet(nb=2), 0.5)
    with pytest.raises(ValueError, match="different architectures"):
        interpolate(a, SRResNet(nf=8, nb=1), 0.5)
    for alpha in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
            interpolate(a, a, alpha)


# ---------------------------------------------------------------------------------------------
# official weights download (local server; the real URL is unreachable here)


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "srv"
    root.mkdir()
    payload = b"pretend weights " * 1000
    (root / "weights.pth").write_bytes(payload)
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            hits.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/weights.pth", payload, hits
    server.shutdown()
    server.server_close()


def test_official_download_checks_the_hash_prefix(tmp_path, served, monkeypatch):
    import dataclasses

    url, payload, hits = served
    digest = hashlib.sha256(payload).hexdigest()
    wrong = "00000000" if not digest.startswith("00000000") else "11111111"

    def publish(prefix):  # the esrgan_x4 entry, served here, with this published hash prefix
        entry = dataclasses.replace(pretrained.PRETRAINED["esrgan_x4"], url=url, filename="weights.pth",
                                    sha256=prefix)
        monkeypatch.setitem(pretrained.PRETRAINED, "esrgan_x4", entry)

    cache = tmp_path / "cache"
    publish(wrong)
    with pytest.raises(ValueError, match="does not start with"):
        checkpoint.download_official_esrgan(cache, progress=False)
    assert not (cache / "weights.pth").exists()  # the bad file is removed

    publish(digest[:8])
    path = checkpoint.download_official_esrgan(cache, progress=False)
    assert path == cache / "weights.pth" and path.read_bytes() == payload
    n = len(hits)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert checkpoint.download_official_esrgan(cache, progress=False) == path
    assert len(hits) == n  # verified copy reused, nothing fetched again


def test_read_metadata_of_a_pth_file_is_empty_not_an_error(tmp_path):
    """Published ``.pth`` weights carry no metadata; notebooks print ``read_metadata`` of any start file."""
    path = tmp_path / "w.pth"
    torch.save({"params_ema": RRDBNet(3, 3, nf=8, nb=1, gc=4).state_dict()}, path)
    assert checkpoint.read_metadata(path) == {}
    with pytest.raises(FileNotFoundError):
        checkpoint.read_metadata(tmp_path / "missing.safetensors")
