"""Tests for esrgan_lib.losses: perceptual loss (layer, weights, offline behaviour), GAN losses, GP."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import math
import socket
import threading

import pytest
import torch
import torch.nn.functional as F
from _http_server import LocalServer  # the local HTTP server used by the download tests
from torch import nn
from torchvision.models import vgg19

from esrgan_lib.losses import (
    GAN_LOSSES,
    PerceptualLoss,
    gradient_penalty,
    perceptual,
    ragan_d_loss,
    ragan_g_loss,
    vanilla_d_loss,
    vanilla_g_loss,
    wgan_d_loss,
    wgan_g_loss,
)

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


# --- perceptual loss --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_env_weights(monkeypatch):
    monkeypatch.delenv(perceptual.VGG19_ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def reference_vgg(tmp_path_factory):
    """torchvision's vgg19(weights=None) with a fixed seed, and its features saved to a file.

    The file holds the ``features.*`` keys of the model's state dict plus a (tiny) ``classifier`` entry,
    which the loader must drop; the real classifier (400 MB) is left out to keep the test light.
    """
    torch.manual_seed(1234)
    model = vgg19(weights=None).eval()
    state = {k: v for k, v in model.state_dict().items() if k.startswith("features.")}
    state["classifier.0.weight"] = torch.zeros(4, 4)
    path = tmp_path_factory.mktemp("vgg") / "vgg19_seed1234.pth"
    torch.save(state, path)
    return model.features, path


@pytest.fixture(scope="module")
def image_pair():
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(2, 3, 32, 32, generator=g)
    sr = (hr + 0.1 * torch.randn(2, 3, 32, 32, generator=g)).clamp(0, 1)
    return sr, hr


def test_layer_map_matches_torchvision_architecture(reference_vgg):
    feats = reference_vgg[0]
    expected, block, k = {}, 1, 0
    for i, m in enumerate(feats):  # count convs within blocks separated by max pools
        if isinstance(m, nn.MaxPool2d):
            block, k = block + 1, 0
        elif isinstance(m, nn.Conv2d):
            k += 1
            expected[f"conv{block}_{k}"] = i
    assert perceptual.VGG19_LAYERS == expected
    assert expected["conv5_4"] == 34  # features[:35] ends before its ReLU


def test_conv5_4_before_activation_equals_torchvision_features_35(reference_vgg, image_pair):
    ref_features, path = reference_vgg
    loss = PerceptualLoss(weights=path)
    assert loss.weights_source == str(path)
    x = image_pair[1]
    with torch.no_grad():
        expected = ref_features[:35]((x - MEAN) / STD)
        got = loss.features(x)
    assert isinstance(ref_features[34], nn.Conv2d)
    assert got.shape == (2, 512, 2, 2)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert (got < 0).float().mean() > 0.2  # before the ReLU: negative values survive


def test_after_activation_is_relu_of_before_and_sparse(reference_vgg):
    _, path = reference_vgg
    x = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(5))
    before = PerceptualLoss(weights=path, before_activation=True).features(x).detach()
    after = PerceptualLoss(weights=path, before_activation=False).features(x).detach()
    torch.testing.assert_close(after, F.relu(before))
    assert (before == 0).float().mean() < 0.01
    assert (after == 0).float().mean() > 0.2  # many activations are zeroed (paper: ~89% on baboon)


@pytest.mark.parametrize("criterion, fn", [("l1", F.l1_loss), ("mse", F.mse_loss)])
def test_loss_value_gradients_and_frozen_vgg(reference_vgg, image_pair, criterion, fn):
    ref_features, path = reference_vgg
    sr, hr = image_pair
    loss_fn = PerceptualLoss(weights=path, criterion=criterion)
    with torch.no_grad():
        expected = fn(ref_features[:35]((sr - MEAN) / STD), ref_features[:35]((hr - MEAN) / STD))
    sr = sr.clone().requires_grad_(True)
    loss = loss_fn(sr, hr)
    assert loss.ndim == 0
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-5, atol=1e-7)
    loss.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in loss_fn.parameters())
    assert loss_fn(hr, hr).item() == 0.0


def test_vgg_stays_in_eval_mode_inside_a_training_parent(reference_vgg):
    parent = nn.Module()
    parent.percep = PerceptualLoss(layer="conv2_2", weights=reference_vgg[1])
    parent.train()
    assert parent.percep.training and not parent.percep.vgg.training
    assert all(not m.training for m in parent.percep.vgg.modules())


@pytest.mark.parametrize(
    "layer, channels", [("conv1_2", 64), ("conv2_2", 128), ("conv3_4", 256), ("conv4_4", 512)]
)
def test_other_layers(reference_vgg, layer, channels):
    ref_features, path = reference_vgg
    loss = PerceptualLoss(layer=layer, weights=path)
    idx = perceptual.VGG19_LAYERS[layer]
    assert len(loss.vgg) == idx + 1 and isinstance(loss.vgg[-1], nn.Conv2d)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loss.features(x), ref_features[: idx + 1]((x - MEAN) / STD))
    assert loss.features(x).shape[1] == channels


def test_loader_accepts_prefixed_features_only_and_legacy_files(tmp_path):
    conv = nn.Conv2d(3, 64, 3, padding=1)
    rest = {"2.weight": torch.ones(64, 64, 3, 3), "2.bias": torch.zeros(64)}
    cases = {
        "module": {f"module.features.0.{k}": v for k, v in conv.state_dict().items()},
        "features_only": {f"0.{k}": v for k, v in conv.state_dict().items()},
        "legacy": {f"features.0.{k}": v for k, v in conv.state_dict().items()},  # pre-1.6 file format
    }
    for name, state in cases.items():
        torch.save({**state, **rest}, tmp_path / name, _use_new_zipfile_serialization=name != "legacy")
        loss = PerceptualLoss(layer="conv1_2", weights=tmp_path / name)
        torch.testing.assert_close(loss.vgg[0].weight, conv.weight)
        assert torch.equal(loss.vgg[2].weight, torch.ones(64, 64, 3, 3))


def test_missing_keys_and_missing_file(tmp_path):
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match="lack"):
        PerceptualLoss(layer="conv1_2", weights=tmp_path / "partial.pth")
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        PerceptualLoss(weights=tmp_path / "nope.pth")


def test_random_weights_warn():
    with pytest.warns(UserWarning, match="NOT the paper's perceptual loss"):
        loss = PerceptualLoss(layer="conv1_2", weights=None)
    assert loss.weights_source == "random"


def test_input_validation():
    with pytest.warns(UserWarning):
        loss = PerceptualLoss(layer="conv1_2", weights=None)
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\).*\(1, 1, 8, 8\)"):
        loss(torch.rand(1, 1, 8, 8), x)
    with pytest.raises(ValueError, match="shape"):
        loss(torch.rand(3, 8, 8), x)
    with pytest.raises(ValueError, match="differ"):
        loss(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        loss(x, x * 255)
    with pytest.raises(ValueError, match="unknown VGG19 layer"):
        PerceptualLoss(layer="conv6_1", weights=None)
    with pytest.raises(ValueError, match="criterion"):
        PerceptualLoss(criterion="l2", weights=None)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home" / "hub" / "checkpoints"


def test_offline_imagenet_raises_clear_error_fast(empty_hub, monkeypatch):
    url = f"http://127.0.0.1:{_closed_port()}/vgg19-dcbb9e9d.pth"
    monkeypatch.setattr(perceptual, "VGG19_URL", url)
    with pytest.raises(RuntimeError) as info:
        PerceptualLoss()
    message = str(info.value)
    assert "vgg19-dcbb9e9d.pth" in message and str(empty_hub) in message and url in message
    assert not empty_hub.exists() or not any(empty_hub.iterdir())  # no partial file left behind


def test_env_var_overrides_cache(reference_vgg, empty_hub, monkeypatch):
    monkeypatch.setattr(perceptual, "VGG19_URL", f"http://127.0.0.1:{_closed_port()}/x.pth")
    monkeypatch.setenv(perceptual.VGG19_ENV_VAR, str(reference_vgg[1]))
    assert PerceptualLoss(layer="conv1_2").weights_source == str(reference_vgg[1])


@pytest.fixture
def http_folder(tmp_path):
    """A local HTTP server on 127.0.0.1 serving tmp_path/'srv'."""
    root = tmp_path / "srv"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_imagenet_download_into_hub_cache(http_folder, empty_hub, monkeypatch):
    root, base = http_folder
    conv1, conv2 = nn.Conv2d(3, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1)
    state = {f"features.0.{k}": v for k, v in conv1.state_dict().items()}
    state |= {f"features.2.{k}": v for k, v in conv2.state_dict().items()}
    torch.save(state, root / "payload.pth")
    digest = hashlib.sha256((root / "payload.pth").read_bytes()).hexdigest()
    good, bad = f"vgg19-{digest[:8]}.pth", "vgg19-00000000.pth"
    (root / "payload.pth").rename(root / good)
    (root / bad).write_bytes((root / good).read_bytes())  # same bytes, wrong sha256 prefix in the name

    monkeypatch.setattr(perceptual, "VGG19_FILENAME", bad)
    monkeypatch.setattr(perceptual, "VGG19_URL", f"{base}/{bad}")
    with pytest.raises(RuntimeError, match="sha256"):
        PerceptualLoss(layer="conv1_2")
    assert not any(empty_hub.iterdir())

    monkeypatch.setattr(perceptual, "VGG19_FILENAME", good)
    monkeypatch.setattr(perceptual, "VGG19_URL", f"{base}/{good}")
    loss = PerceptualLoss(layer="conv1_2")
    assert loss.weights_source == "imagenet"
    assert (empty_hub / good).is_file()
    torch.testing.assert_close(loss.vgg[2].weight, conv2.weight)
    (root / good).unlink()  # now served from the cache, no network needed
    assert PerceptualLoss(layer="conv1_2").weights_source == "imagenet"


def test_imagenet_download_resumes_and_leaves_the_socket_timeout_alone(empty_hub, monkeypatch):
    conv1, conv2 = nn.Conv2d(3, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1)
    state = {f"features.0.{k}": v for k, v in conv1.state_dict().items()}
    state |= {f"features.2.{k}": v for k, v in conv2.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    name = f"vgg19-{hashlib.sha256(payload).hexdigest()[:8]}.pth"  # torch hub's name-<sha256 prefix>
    timeouts = []
    monkeypatch.setattr(socket, "setdefaulttimeout", timeouts.append)
    with LocalServer({f"/{name}": payload}) as srv:
        monkeypatch.setattr(perceptual, "VGG19_FILENAME", name)
        monkeypatch.setattr(perceptual, "VGG19_URL", f"{srv.url}/{name}")
        empty_hub.mkdir(parents=True)
        (empty_hub / f"{name}.part").write_bytes(payload[:1000])  # an interrupted earlier download
        loss = PerceptualLoss(layer="conv1_2")
        assert srv.requests == [(f"/{name}", "bytes=1000-")]  # esrgan_lib.download.fetch resumed it
    assert sorted(p.name for p in empty_hub.iterdir()) == [name]
    torch.testing.assert_close(loss.vgg[2].weight, conv2.weight)
    assert timeouts == []  # the process-wide socket timeout is never changed


def test_hr_with_nan_is_refused():
    with pytest.warns(UserWarning):
        loss = PerceptualLoss(layer="conv1_2", weights=None)
    hr = torch.rand(1, 3, 8, 8)
    hr[0, 1, 2, 3] = float("nan")
    with pytest.raises(ValueError, match="hr: the image contains NaN"):
        loss(torch.rand(1, 3, 8, 8), hr)


# --- GAN objectives (expected values computed by hand with math) ------------------------------------

REAL = [1.5, -0.25, 0.75]
FAKE = [0.5, -1.0, 2.0, 0.0]


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _mean(v):
    return sum(v) / len(v)


def _t(v):
    return torch.tensor(v, dtype=torch.float64).view(-1, 1)


def test_ragan_losses_are_half_the_paper_formulas():
    """The paper writes the sum of the two terms; the official code (and esrgan_lib) takes half of it."""
    mr, mf = _mean(REAL), _mean(FAKE)
    d_real_fake = [_sig(r - mf) for r in REAL]  # D_Ra(x_r, x_f)
    d_fake_real = [_sig(f - mr) for f in FAKE]  # D_Ra(x_f, x_r)
    paper_d = -_mean([math.log(p) for p in d_real_fake]) - _mean([math.log(1 - p) for p in d_fake_real])
    paper_g = -_mean([math.log(1 - p) for p in d_real_fake]) - _mean([math.log(p) for p in d_fake_real])
    assert ragan_d_loss(_t(REAL), _t(FAKE)).item() == pytest.approx(paper_d / 2, rel=1e-12)
    assert ragan_g_loss(_t(REAL), _t(FAKE)).item() == pytest.approx(paper_g / 2, rel=1e-12)


def _basicsr_ragan(real, fake):
    """BasicSR's ``ESRGANModel`` written out with sigmoid and log (not BCE): D terms ``* 0.5`` each,
    G ``(l_g_real + l_g_fake) / 2``; the authors' code has the same halved form."""
    def bce(x, target):
        return -(torch.log(torch.sigmoid(x)) if target else torch.log(1 - torch.sigmoid(x))).mean()

    l_d_real = bce(real - fake.mean(), True) * 0.5
    l_d_fake = bce(fake - real.mean(), False) * 0.5
    l_g_real = bce(real - fake.mean(), False)
    l_g_fake = bce(fake - real.mean(), True)
    return l_d_real + l_d_fake, (l_g_real + l_g_fake) / 2


@pytest.mark.parametrize("which", ["d", "g"])
def test_ragan_losses_equal_basicsr_averaged_formula_values_and_gradients(which):
    """Same value and same gradient with respect to both the real and the fake logits (float64)."""
    ours = {"d": ragan_d_loss, "g": ragan_g_loss}[which]
    real = torch.tensor(REAL, dtype=torch.float64).view(-1, 1).requires_grad_(True)
    fake = torch.tensor(FAKE, dtype=torch.float64).view(-1, 1).requires_grad_(True)
    mine = ours(real, fake)
    reference = _basicsr_ragan(real, fake)[0 if which == "d" else 1]
    torch.testing.assert_close(mine, reference, rtol=1e-12, atol=0)
    got = torch.autograd.grad(mine, (real, fake))
    want = torch.autograd.grad(reference, (real, fake))
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-15)
        assert w.abs().max() > 1e-3  # the gradients are not trivially zero


def test_ragan_is_stable_for_large_logits():
    real, fake = _t([80.0, 90.0]), _t([-90.0, -80.0])
    assert torch.isfinite(ragan_g_loss(real, fake))  # log(sigmoid(-170)) would underflow naively
    assert ragan_g_loss(real, fake).item() == pytest.approx(170.0, rel=1e-9)  # (170 + 170) / 2
    assert ragan_d_loss(real, fake).item() == pytest.approx(0.0, abs=1e-12)


def test_wgan_losses_and_sign():
    expected_d = -_mean(REAL) + _mean(FAKE)
    assert wgan_d_loss(_t(REAL), _t(FAKE)).item() == pytest.approx(expected_d, rel=1e-12)
    assert wgan_g_loss(_t(FAKE)).item() == pytest.approx(-_mean(FAKE), rel=1e-12)
    # a critic that scores real above fake must have the lower loss (the seed README's sign fails this)
    assert wgan_d_loss(_t([5.0]), _t([-5.0])) < wgan_d_loss(_t([-5.0]), _t([5.0]))


def test_vanilla_losses():
    expected_d = -_mean([math.log(_sig(r)) for r in REAL]) - _mean([math.log(1 - _sig(f)) for f in FAKE])
    expected_g = -_mean([math.log(_sig(f)) for f in FAKE])
    assert vanilla_d_loss(_t(REAL), _t(FAKE)).item() == pytest.approx(expected_d, rel=1e-12)
    assert vanilla_g_loss(_t(FAKE)).item() == pytest.approx(expected_g, rel=1e-12)


def test_registry_uniform_signature():
    assert set(GAN_LOSSES) == {"ragan", "wgan-gp", "vanilla"}
    real, fake = _t(REAL), _t(FAKE)
    for d_fn, g_fn in GAN_LOSSES.values():
        assert d_fn(real, fake).ndim == 0 and g_fn(real, fake).ndim == 0
    assert GAN_LOSSES["wgan-gp"][1](real, fake) == wgan_g_loss(fake)
    assert GAN_LOSSES["wgan-gp"][1](real * 7, fake) == wgan_g_loss(fake)  # ignores real_out
    assert GAN_LOSSES["vanilla"][1](real, fake) == vanilla_g_loss(fake)
    assert GAN_LOSSES["ragan"][1](real * 7, fake) != GAN_LOSSES["ragan"][1](real, fake)


# --- gradient penalty -------------------------------------------------------------------------------


class LinearCritic(nn.Module):
    """D(x) = <w, x> per sample: gradient w everywhere, so the penalty is (||w|| - 1)^2."""

    def __init__(self, shape, seed=0):
        super().__init__()
        self.w = nn.Parameter(
            torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        )

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1, keepdim=True)


class QuadraticCritic(nn.Module):
    """D(x) = c/2 * ||x||^2 per sample: gradient c * x, norm c * ||x||."""

    def __init__(self, c):
        super().__init__()
        self.c = nn.Parameter(torch.tensor(float(c), dtype=torch.float64))

    def forward(self, x):
        return 0.5 * self.c * (x**2).flatten(1).sum(1)


def test_gradient_penalty_linear_critic():
    g = torch.Generator().manual_seed(1)
    real = torch.rand(4, 3, 5, 5, generator=g, dtype=torch.float64)
    fake = torch.rand(4, 3, 5, 5, generator=g, dtype=torch.float64)
    critic = LinearCritic((3, 5, 5))
    norm_w = math.sqrt(sum(v * v for v in critic.w.detach().flatten().tolist()))
    gp = gradient_penalty(critic, real, fake)
    assert gp.item() == pytest.approx((norm_w - 1) ** 2, rel=1e-10)
    gp.backward()  # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    torch.testing.assert_close(critic.w.grad, 2 * (norm_w - 1) * critic.w.detach() / norm_w)


def test_gradient_penalty_quadratic_critic_uses_per_sample_alpha():
    g = torch.Generator().manual_seed(2)
    real = torch.rand(3, 2, 4, 4, generator=g, dtype=torch.float64)
    fake = torch.rand(3, 2, 4, 4, generator=g, dtype=torch.float64)
    c = 0.3
    gp = gradient_penalty(QuadraticCritic(c), real, fake, generator=torch.Generator().manual_seed(7))
    alphas = torch.rand((3, 1, 1, 1), generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    expected = 0.0
    for i in range(3):
        a = alphas[i].item()
        x_hat = [a * r + (1 - a) * f for r, f in zip(real[i].flatten().tolist(), fake[i].flatten().tolist())]
        norm = c * math.sqrt(sum(v * v for v in x_hat))
        expected += (norm - 1) ** 2 / 3
    assert gp.item() == pytest.approx(expected, rel=1e-10)


def test_gradient_penalty_trains_critic_not_generator():
    critic = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.2), nn.Flatten(), nn.LazyLinear(1))
    real = torch.rand(2, 3, 8, 8)
    fake = torch.rand(2, 3, 8, 8, requires_grad=True)
    critic(real)  # materialise the lazy layer
    gp = gradient_penalty(critic, real, fake * 1.0)
    gp.backward()
    weights = [p for name, p in critic.named_parameters() if name.endswith("weight")]
    # (biases do not change the input gradient, so they get none)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in weights)
    assert fake.grad is None


def test_gradient_penalty_refuses_batchnorm_and_mismatched_shapes():
    critic = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten())
    with pytest.raises(ValueError, match="BatchNorm"):
        gradient_penalty(critic, torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="differ"):
        gradient_penalty(LinearCritic((3, 8, 8)), torch.rand(2, 3, 8, 8), torch.rand(1, 3, 8, 8))


def test_gan_recipes_hold_their_losses_as_fields():
    """Each recipe carries its two loss functions (not names looked up elsewhere); GAN_LOSSES is the same
    pair; only RaGAN's generator loss reads D(real), only WGAN-GP has a penalty."""
    from esrgan_lib.losses import GAN_RECIPES

    assert set(GAN_RECIPES) == set(GAN_LOSSES)
    real, fake = _t(REAL), _t(FAKE)
    for name, recipe in GAN_RECIPES.items():
        assert (recipe.d_loss, recipe.g_loss) == GAN_LOSSES[name]
        assert recipe.d_loss(real, fake).ndim == 0 and recipe.g_loss(real, fake).ndim == 0
    assert GAN_RECIPES["ragan"].d_loss is ragan_d_loss and GAN_RECIPES["ragan"].g_loss is ragan_g_loss
    assert GAN_RECIPES["vanilla"].d_loss is vanilla_d_loss and GAN_RECIPES["wgan-gp"].d_loss is wgan_d_loss
    assert GAN_RECIPES["wgan-gp"].g_loss(None, fake) == wgan_g_loss(fake)  # needs no D(real)
    assert [n for n, r in GAN_RECIPES.items() if r.g_uses_real] == ["ragan"]
    assert [n for n, r in GAN_RECIPES.items() if r.penalty] == ["wgan-gp"]


def test_perceptual_range_check_is_not_a_sync_every_step():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = PerceptualLoss("conv1_2", weights=None)
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        loss(x, x * 255)  # the first call checks the range
    loss(x, x)
    calls = []
    real = torch.aminmax
    try:
        torch.aminmax = lambda *a, **k: calls.append(1) or real(*a, **k)
        loss(x, x)
    finally:
        torch.aminmax = real
    assert calls == []
