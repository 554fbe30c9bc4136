"""Architecture tests: parameter counts from the paper's code, shapes, residual scaling, bad input."""

import dataclasses

import pytest
import torch
from torch import nn

from esrgan_lib.models import (
    RRDB,
    ResidualDenseBlock,
    RRDBNet,
    SRResNet,
    VGGDiscriminator,
    VGGStyleDiscriminator,
    count_parameters,
    has_batchnorm,
)


@pytest.mark.parametrize(
    "model, expected",
    [
        (lambda: ResidualDenseBlock(64, 32), 239_808),
        (lambda: RRDB(64, 32), 719_424),
        (lambda: RRDBNet(), 16_697_987),
        (lambda: RRDBNet(nb=6), 4_467_779),
        (lambda: VGGDiscriminator(), 23_561_793),
        (lambda: VGGStyleDiscriminator(), 14_499_401),
    ],
    ids=["rdb", "rrdb", "rrdbnet", "rrdbnet_nb6", "vgg_disc", "vggstyle_disc"],
)
def test_parameter_counts(model, expected):
    assert count_parameters(model()) == expected


def test_rdb_parameter_count_by_formula():
    nf, gc = 48, 16
    convs = [(nf + k * gc, gc) for k in range(4)] + [(nf + 4 * gc, nf)]
    expected = sum(cin * cout * 9 + cout for cin, cout in convs)
    assert count_parameters(ResidualDenseBlock(nf, gc)) == expected


@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_rrdbnet_output_shape(scale):
    model = RRDBNet(nf=8, nb=1, gc=4, scale=scale).eval()
    x = torch.rand(2, 3, 12, 16)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 3, 12 * scale, 16 * scale)


def test_rrdbnet_scale2_uses_pixel_unshuffle_like_basicsr():
    model = RRDBNet(nf=8, nb=1, gc=4, scale=2)
    assert model.conv_first.in_channels == 12  # 3 * 2**2
    assert RRDBNet(nf=8, nb=1, gc=4, scale=1).conv_first.in_channels == 48  # 3 * 4**2


def test_rrdbnet_state_dict_uses_basicsr_keys():
    keys = set(RRDBNet(nf=8, nb=2, gc=4).state_dict())
    for k in ["conv_first.weight", "body.1.rdb3.conv5.bias", "conv_body.weight", "conv_up1.weight",
              "conv_up2.weight", "conv_hr.weight", "conv_last.bias"]:
        assert k in keys


def test_no_batchnorm_and_no_activation_after_first_conv():
    model = RRDBNet(nf=8, nb=1, gc=4)
    assert not has_batchnorm(model)
    assert not any(isinstance(m, nn.PReLU) for m in model.modules())
    # conv_first's output goes straight into the trunk: check by hooking the first RDB's input
    seen = {}
    model.body[0].rdb1.register_forward_pre_hook(lambda m, inputs: seen.update(x=inputs[0]))
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        model(x)
        assert torch.allclose(seen["x"], model.conv_first(x))


def test_rdb_residual_scaling_is_0_2():
    torch.manual_seed(0)
    rdb = ResidualDenseBlock(8, 4)
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        x1 = rdb.lrelu(rdb.conv1(x))
        x2 = rdb.lrelu(rdb.conv2(torch.cat((x, x1), 1)))
        x3 = rdb.lrelu(rdb.conv3(torch.cat((x, x1, x2), 1)))
        x4 = rdb.lrelu(rdb.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = rdb.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        assert torch.allclose(rdb(x), 0.2 * x5 + x, atol=1e-6)


def test_rrdb_residual_scaling_is_0_2():
    torch.manual_seed(0)
    block = RRDB(8, 4)
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        inner = block.rdb3(block.rdb2(block.rdb1(x)))
        assert torch.allclose(block(x), 0.2 * inner + x, atol=1e-6)


def test_dense_block_init_is_kaiming_scaled_by_0_1():
    torch.manual_seed(0)
    conv = ResidualDenseBlock(64, 32).conv5  # fan_in = 192 * 9
    expected_std = 0.1 * (2.0 / (192 * 9)) ** 0.5
    assert conv.weight.std().item() == pytest.approx(expected_std, rel=0.05)
    assert torch.all(conv.bias == 0)


def test_dense_block_is_near_identity_at_init():
    # 0.1-scaled init plus 0.2 residual scaling: each RDB starts close to the identity
    torch.manual_seed(0)
    rdb = ResidualDenseBlock(16, 8)
    x = torch.randn(1, 16, 8, 8)
    with torch.no_grad():
        rel = (rdb(x) - x).norm() / x.norm()
    assert rel < 0.05


@pytest.mark.parametrize("scale", [2, 4])
def test_srresnet_shapes_and_batchnorm(scale):
    model = SRResNet(nf=8, nb=2, scale=scale).eval()
    assert has_batchnorm(model)
    with torch.no_grad():
        assert model(torch.rand(1, 3, 10, 7)).shape == (1, 3, 10 * scale, 7 * scale)


def test_srresnet_default_parameter_count():
    # 9x9 convs, 16 BN residual blocks, two PixelShuffle stages; computed by formula
    nf = 64
    conv = lambda cin, cout, k: cin * cout * k * k + cout
    expected = conv(3, nf, 9) + nf  # + PReLU
    expected += 16 * (2 * conv(nf, nf, 3) + 2 * 2 * nf + nf)  # two convs, two BN (w, b), PReLU
    expected += conv(nf, nf, 3) + 2 * nf
    expected += 2 * (conv(nf, 4 * nf, 3) + nf)
    expected += conv(nf, 3, 9)
    assert count_parameters(SRResNet()) == expected


def test_vgg_discriminator_any_size_at_least_96():
    d = VGGDiscriminator()
    for size in [(96, 96), (128, 128), (100, 140)]:
        assert d(torch.rand(2, 3, *size)).shape == (2, 1)
    with pytest.raises(ValueError, match="96"):
        d(torch.rand(1, 3, 64, 64))


def test_vgg_discriminator_batchnorm_variant():
    assert not has_batchnorm(VGGDiscriminator())
    bn = VGGDiscriminator(batch_norm=True)
    assert has_batchnorm(bn)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in bn.modules()) == 7  # none after the first conv


def test_vggstyle_discriminator_needs_its_input_size():
    d = VGGStyleDiscriminator()
    assert d(torch.rand(2, 3, 128, 128)).shape == (2, 1)
    with pytest.raises(ValueError, match="128"):
        d(torch.rand(2, 3, 96, 96))


@pytest.mark.parametrize(
    "x, match",
    [
        (torch.rand(3, 16, 16), "shape"),
        (torch.rand(1, 1, 16, 16), "shape"),
        (torch.rand(1, 3, 0, 16), "empty"),
    ],
)
def test_rrdbnet_rejects_bad_input(x, match):
    with pytest.raises(ValueError, match=match):
        RRDBNet(nf=8, nb=1, gc=4)(x)


def test_rrdbnet_scale2_needs_even_size():
    with pytest.raises(ValueError, match="divisible by 2"):
        RRDBNet(nf=8, nb=1, gc=4, scale=2)(torch.rand(1, 3, 15, 16))


def test_unsupported_scale():
    with pytest.raises(ValueError, match="scale"):
        RRDBNet(scale=3)


@pytest.mark.parametrize("make", [lambda: RRDBNet(nf=8, nb=2, gc=4, scale=2), lambda: SRResNet(nf=8, nb=1)])
def test_config_round_trip(make):
    torch.manual_seed(0)
    model = make().eval()
    torch.manual_seed(1)  # another initialisation: only the loaded weights can make the outputs agree
    rebuilt = type(model)(**model.config).eval()
    assert rebuilt.config == model.config
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert not torch.equal(rebuilt(x), model(x))
        rebuilt.load_state_dict(model.state_dict())
        assert torch.equal(rebuilt(x), model(x))


# ---------------------------------------------------------------------------------------------
# signatures, BasicSR names, the registry (issue 11, items 3 and 5)


@pytest.mark.parametrize("build", [
    lambda: RRDBNet(3, 3, 4),
    lambda: SRResNet(3, 3, 8),
    lambda: VGGDiscriminator(3, True),
    lambda: VGGStyleDiscriminator(3, 64),
])
def test_options_after_channel_counts_are_keyword_only(build):
    with pytest.raises(TypeError):
        build()


def _basicsr_vggstyle_keys(input_size):
    """The parameter names of BasicSR's VGGStyleDiscriminator (basicsr/archs/discriminator_arch.py)."""
    keys = ["conv0_0.weight", "conv0_0.bias", "conv0_1.weight"]
    keys += [f"bn0_1.{p}" for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]
    for i in range(1, 5 if input_size == 128 else 6):
        for j in (0, 1):
            keys.append(f"conv{i}_{j}.weight")
            keys += [f"bn{i}_{j}.{p}" for p in ("weight", "bias", "running_mean", "running_var",
                                                "num_batches_tracked")]
    return set(keys + ["linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias"])


@pytest.mark.parametrize("size", [128, 256])
def test_vggstyle_discriminator_uses_basicsr_names(size):
    d = VGGStyleDiscriminator(input_size=size)
    assert set(d.state_dict()) == _basicsr_vggstyle_keys(size)
    assert d.linear1.in_features == 512 * 4 * 4 and d.linear2.out_features == 1
    assert d.conv1_0.in_channels == 64 and d.conv1_0.out_channels == 128
    assert d.conv0_1.kernel_size == (4, 4) and d.conv0_1.stride == (2, 2) and d.conv0_1.bias is None
    assert d.bn4_1.num_features == 512


def test_registry_detects_generators_and_gives_inference_properties():
    from esrgan_lib.models.registry import detect_generator, generator_spec, inference_properties

    for model, name in [(RRDBNet(nf=8, nb=1, scale=2), "rrdbnet"), (SRResNet(nf=8, nb=1), "srresnet")]:
        spec = detect_generator(model.state_dict())
        assert spec is generator_spec(name)
        assert spec.infer_config(model.state_dict()) == model.config
    assert detect_generator(VGGDiscriminator().state_dict()) is None
    assert inference_properties(RRDBNet(nf=8, nb=1, scale=1)) == {"scale": 1, "multiple": 4, "in_ch": 3,
                                                                   "out_ch": 3}
    assert inference_properties(RRDBNet(nf=8, nb=1, scale=8))["multiple"] == 1
    assert inference_properties(SRResNet(nf=8, nb=1, scale=2))["scale"] == 2


# ---------------------------------------------------------------------------------------------
# the spec: exact build options, detect + load -> descriptor (issue 18, item 3)


def test_build_takes_exactly_the_constructor_options():
    from esrgan_lib.models import discriminator_spec, generator_spec

    rrdbnet = generator_spec("rrdbnet")
    with pytest.raises(TypeError, match="scael"):
        rrdbnet.build(nf=8, nb=1, scael=2)  # a typo used to give a x4 model silently
    assert rrdbnet.build(nf=8, nb=1, scale=2).scale == 2
    with pytest.raises(TypeError, match="'gc'"):
        generator_spec("srresnet").build(nf=8, nb=1, gc=4)
    with pytest.raises(TypeError, match="input_size"):
        discriminator_spec("vgg").build(batch_norm=True, input_size=128)
    assert generator_spec("srresnet").options == ("in_ch", "out_ch", "nf", "nb", "scale")


def _wrapped(sd, how):
    """``sd`` as other tools save it: Real-ESRGAN's params_ema (DDP prefixes) or BasicSR's params."""
    if how == "params_ema":
        return {"params": {}, "params_ema": {f"module.{k}": v for k, v in sd.items()}}
    if how == "params":
        return {"params": dict(sd), "iter": 10}
    return dict(sd)


@pytest.mark.parametrize("how", ["plain", "params", "params_ema"])
@pytest.mark.parametrize("fmt", ["basicsr", "official", "old"])
def test_spec_detects_every_key_format_wrapped_or_not(fmt, how):
    from esrgan_lib.models import generator_spec, registry

    rrdbnet = generator_spec("rrdbnet")
    model = RRDBNet(nf=8, nb=2, gc=32, scale=8).eval()  # gc 32: what other tools assume
    sd = _wrapped(rrdbnet.convert(model.state_dict(), fmt), how)
    assert rrdbnet.detect(sd) and not generator_spec("srresnet").detect(sd)
    assert registry.detect_generator(sd) is rrdbnet
    desc = registry.load(sd)
    assert desc.config == model.config
    x = torch.rand(1, 3, 4, 6)
    with torch.no_grad():
        assert torch.equal(desc.model(x), model(x))


@pytest.mark.parametrize("make, multiple", [
    (lambda: RRDBNet(nf=8, nb=1, gc=4, scale=1), 4),
    (lambda: RRDBNet(nf=8, nb=1, gc=4, scale=2), 2),
    (lambda: RRDBNet(nf=8, nb=1, gc=4, scale=4), 1),
    (lambda: RRDBNet(2, 1, nf=8, nb=1, gc=4, scale=8), 1),
    (lambda: SRResNet(nf=8, nb=1, scale=2), 1),
])
def test_load_gives_the_model_and_what_a_caller_needs_to_know(make, multiple):
    from esrgan_lib.models import registry, spec_of

    torch.manual_seed(0)
    model = make().eval()
    desc = registry.load(model.state_dict())
    assert desc.spec is spec_of(model) and desc.name == spec_of(model).name
    assert type(desc.model) is type(model) and not desc.model.training
    assert desc.config == model.config
    assert (desc.scale, desc.in_ch, desc.out_ch) == (model.scale, model.in_ch, model.out_ch)
    assert desc.size.multiple_of == multiple
    x = torch.rand(1, model.in_ch, 4, 8)
    with torch.no_grad():
        y = desc.model(x)
        assert y.shape == (1, desc.out_ch, 4 * desc.scale, 8 * desc.scale) and torch.equal(y, model(x))
        for side in range(1, 10):  # the size requirements say exactly which inputs the model takes
            try:
                desc.model(torch.rand(1, model.in_ch, side, 2 * side))
                ran = True
            except ValueError:
                ran = False
            assert desc.size.fits(side, 2 * side) == ran, side
    assert registry.describe(model) == dataclasses.replace(desc, model=model)


def test_load_refuses_what_is_not_the_architecture():
    from esrgan_lib.models import generator_spec, registry

    with pytest.raises(ValueError, match=r"RRDBNet \('rrdbnet'\) does not recognise.*conv_first\.0\.weight"):
        generator_spec("rrdbnet").load(SRResNet(nf=8, nb=1).state_dict())
    with pytest.raises(ValueError, match="keys like features.*like a VGGDiscriminator.*not a generator"):
        registry.load(VGGDiscriminator().state_dict())
    with pytest.raises(ValueError, match="conv0_0.*VGGStyleDiscriminator"):
        registry.load({"params": VGGStyleDiscriminator().state_dict()})
    with pytest.raises(ValueError, match="found 1 tensors.*not a generator esrgan_lib knows"):
        registry.load({"weight": torch.zeros(2)})
    sd = RRDBNet(nf=8, nb=1, gc=4).state_dict()
    sd["conv_hr.weight"] = torch.zeros(8, 8, 5, 5)
    with pytest.raises(ValueError, match="shape mismatch.*conv_hr.weight"):
        registry.load(sd)
    with pytest.raises(TypeError, match="discriminator"):
        registry.describe(VGGDiscriminator())
