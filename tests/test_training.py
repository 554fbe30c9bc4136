"""Training engine: config/presets, data order, exact resume, NaN stop, Ctrl-C, export, CLI."""

from __future__ import annotations

import hashlib
import json
import os
import signal

import numpy as np
import pytest
import torch

from esrgan_lib.checkpoint import load_generator, read_metadata
from esrgan_lib.data import sample_images
from esrgan_lib.training import History, SeededBatchSampler, TrainConfig, Trainer, TrainingDiverged
from esrgan_lib.training.checkpoints import latest_checkpoint
from esrgan_lib.training.config import parse_value

# small, fast data: two photos for training, one for validation (nothing read from disk but skimage)
IMAGES = None


def images():
    global IMAGES
    if IMAGES is None:
        astro, rocket, chelsea = sample_images(["astronaut", "rocket", "chelsea"])
        IMAGES = ([astro[:256, :256], rocket[:200, :240]], {"chelsea": chelsea[:96, :128]})
    return IMAGES


@pytest.fixture(autouse=True)
def one_thread():
    """1 torch thread: on a busy 2-core machine more threads make tiny models much slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def smoke(tmp_path, stage="psnr", **kw):
    kw.setdefault("out", str(tmp_path / "run"))
    return TrainConfig.smoke(stage, **kw)


def make_trainer(config, **kw):
    train, val = images()
    return Trainer(config, train_images=train, val_images=val, **kw)


def weights(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# -- config --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", TrainConfig.PRESETS)
@pytest.mark.parametrize("stage", ["psnr", "gan"])
def test_presets_validate(preset, stage):
    from esrgan_lib.training.presets import RECIPES

    c = TrainConfig.from_preset(preset, stage)
    assert c.preset == preset and c.stage == stage
    assert c.hr_size % c.scale == 0
    if stage == "gan" and preset != "smoke":
        assert c.gan == "ragan" and {k: getattr(c, k) for k in RECIPES["ragan"]} == RECIPES["ragan"]


def test_paper_preset_matches_reference():
    p = TrainConfig.paper("psnr")
    assert (p.nf, p.nb, p.gc, p.batch_size, p.hr_size, p.steps, p.lr_g) == (
        64,
        23,
        32,
        16,
        128,
        1_000_000,
        2e-4,
    )
    g = TrainConfig.paper("gan")
    assert g.steps == 400_000 and g.lr_g == g.lr_d == 1e-4
    assert g.milestones == (50_000, 100_000, 200_000, 300_000) and g.ema_decay == 0.999
    # ESRGAN's losses (the one place the tests state them): 1e-2 L1 + VGG54 before ReLU (L1) + 5e-3 RaGAN
    assert (g.gan, g.pixel_weight, g.adversarial_weight, g.perceptual_weight) == ("ragan", 1e-2, 5e-3, 1.0)
    assert g.perceptual_before_activation
    assert (g.perceptual_criterion, g.perceptual_layer) == ("l1", "conv5_4")
    seed = TrainConfig.paper("gan", gan="wgan-gp")
    assert seed.betas_g == seed.betas_d == (0.0, 0.9) and seed.gp_weight == 10 and not seed.d_batch_norm
    srgan = TrainConfig.paper("gan", gan="vanilla", arch="srresnet")
    assert srgan.nb == 16 and not srgan.perceptual_before_activation  # its loss weights: the next test
    # the paper trains on DIV2K/DF2K without colour augmentation; only the few-photo cpu preset uses it
    assert not p.color_augment and not TrainConfig.colab_t4().color_augment
    assert TrainConfig.cpu().color_augment
    assert TrainConfig.cpu().override(["color_augment=false"]).color_augment is False


def test_override_converts_types():
    c = TrainConfig.smoke().override(
        [
            "lr_g=1e-3",
            "steps=20",
            "milestones=5,10",
            "betas_g=0.5,0.9",
            "compile=true",
            "data=none",
            "vgg-weights=/x/vgg.pth",
            "steps=3e1",
        ]
    )
    assert c.lr_g == 1e-3 and c.steps == 30 and c.milestones == (5, 10) and c.betas_g == (0.5, 0.9)
    assert c.compile is True and c.data is None and c.vgg_weights == "/x/vgg.pth"
    with pytest.raises(ValueError, match="key=value"):
        c.override(["nonsense=1"])
    with pytest.raises(ValueError, match="integer"):
        c.override(["steps=abc"])
    with pytest.raises(ValueError, match="must be one of"):
        c.override(["stage=foo"])
    assert parse_value("off", bool) is False


def test_wgan_gp_refuses_batchnorm_critic():
    with pytest.raises(ValueError, match="BatchNorm"):
        TrainConfig.smoke("gan", gan="wgan-gp", d_batch_norm=True)
    with pytest.raises(ValueError, match="BatchNorm"):
        TrainConfig.paper("gan").override(["gan=wgan-gp"])  # paper's ragan uses the BN 'vgg128' critic


def test_config_round_trip():
    c = TrainConfig.cpu("gan", gan="wgan-gp")
    assert TrainConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c


# -- data order -----------------------------------------------------------------------------------------


def test_sampler_ranks_split_each_global_batch_and_resume():
    full = list(SeededBatchSampler(50, 8, seed=3))
    parts = [list(SeededBatchSampler(50, 8, seed=3, rank=r, world_size=2)) for r in range(2)]
    assert len(full) == 6
    for step, batch in enumerate(full):
        assert parts[0][step] + parts[1][step] == batch
    s = SeededBatchSampler(50, 8, seed=3)
    s.start(0, 4)
    assert list(s) == full[4:]
    s.start(1)
    assert list(s) != full and sorted(sum(list(s), [])) != sorted(sum(full, []))  # new epoch, new order
    with pytest.raises(ValueError, match="divisible"):
        SeededBatchSampler(50, 7, world_size=2)


def test_rng_state_round_trip():
    import random

    from esrgan_lib.training.checkpoints import rng_state, set_rng_state

    state = rng_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.rand(5), np.random.rand(7), random.random()
    set_rng_state(state)
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1]) and got[2] == expected[2]


# -- the loop -------------------------------------------------------------------------------------------


def test_psnr_stage_learns_and_exports(tmp_path):
    history, events = History(), []
    c = smoke(
        tmp_path,
        steps=30,
        milestones=(25,),
        hr_size=32,
        batch_size=4,
        lr_g=1e-3,
        log_every=5,
        val_every=15,
        sample_every=30,
        checkpoint_every=30,
    )
    trainer = make_trainer(c, callbacks=[history, lambda tr, event, logs: events.append(event)])
    path = trainer.fit()
    assert events[0] == "train_begin" and events[-1] == "train_end" and "checkpoint" in events
    assert [h["step"] for h in history.train] == [5, 10, 15, 20, 25, 30]
    assert history.train[-1]["l1"] < history.train[0]["l1"]
    assert len(history.val) == 2 and np.isfinite(history.val[-1]["psnr"])
    # the exported generator is the EMA model and records how it was made
    g = load_generator(path)
    assert_same(weights(g), weights(trainer.ema.module))
    meta = read_metadata(path)
    assert meta["stage"] == "psnr" and meta["steps"] == "30" and "val_psnr_y" in meta
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert sum(r.get("event") == "validation" for r in log) == 2
    assert (tmp_path / "run" / "samples" / "step_0000030.png").is_file()
    # validation PSNR is that of the EMA model, recomputed independently here
    from esrgan_lib.data import bicubic_downsample, modcrop, to_tensor, to_uint8
    from esrgan_lib.metrics import psnr

    hr = modcrop(images()[1]["chelsea"], 4)
    with torch.no_grad():
        sr = g(to_tensor(bicubic_downsample(hr, 4))[None])
    # (a rounding flip of a few uint8 pixels is allowed: memory formats may differ in the last bit)
    assert abs(psnr(to_uint8(sr.clamp(0, 1)), hr, crop_border=4) - trainer.last_val["psnr"]) < 1e-3


def test_color_augment_reaches_the_dataset(tmp_path):
    assert make_trainer(smoke(tmp_path)).dataset.color_augment is False
    assert make_trainer(smoke(tmp_path, color_augment=True)).dataset.color_augment is True


@pytest.mark.filterwarnings("ignore:PerceptualLoss")
@pytest.mark.parametrize("stage", ["psnr", "gan"])
def test_resume_is_exact(tmp_path, stage):
    """2N steps in one go == N steps, a new process-like Trainer resuming, N more steps (bitwise).

    The gan stage here is RaGAN with BasicSR's BatchNorm discriminator (running statistics, two
    optimisers and schedulers to restore)."""
    n = 3
    kw = dict(steps=2 * n, milestones=(n + 1,), checkpoint_every=n, val_every=100, sample_every=100)
    straight = make_trainer(smoke(tmp_path, stage, out=str(tmp_path / "a"), **kw))
    straight.fit()
    first = make_trainer(smoke(tmp_path, stage, out=str(tmp_path / "b"), **kw))
    first.fit(steps=n)
    torch.manual_seed(1234)  # disturb the global RNG: resume must restore it
    resumed = make_trainer(smoke(tmp_path, stage, out=str(tmp_path / "b"), **kw), resume=True)
    assert resumed.step == n
    resumed.fit()
    assert resumed.step == straight.step == 2 * n
    assert (resumed.batches.epoch, resumed.batches.position) == (
        straight.batches.epoch, straight.batches.position)
    assert_same(weights(resumed.generator), weights(straight.generator))
    assert_same(weights(resumed.ema.module), weights(straight.ema.module))
    if stage == "gan":
        assert_same(weights(resumed.discriminator), weights(straight.discriminator))
    # and the run did move: the weights differ from the checkpoint at step n
    assert not torch.equal(first.generator.conv_first.weight, straight.generator.conv_first.weight)


def test_nan_stops_and_keeps_last_checkpoint(tmp_path):
    c = smoke(tmp_path, steps=8, checkpoint_every=2, val_every=100, sample_every=100, log_every=1)

    def poison(trainer, event, logs):
        if event == "step" and logs["step"] == 3:
            with torch.no_grad():
                trainer.generator.conv_last.bias.fill_(float("nan"))

    trainer = make_trainer(c, callbacks=[poison])
    with pytest.raises(TrainingDiverged, match=r"step 4: loss term\(s\) l1"):
        trainer.fit()
    ckpt = checkpoint_file(tmp_path / "run")
    state = torch.load(ckpt, weights_only=True)
    assert state["step"] == 2
    assert torch.isfinite(state["generator"]["conv_last.bias"]).all()


def test_ctrl_c_saves_then_raises(tmp_path):
    c = smoke(tmp_path, steps=50, checkpoint_every=100, val_every=100, sample_every=100, log_every=1)

    def interrupt(trainer, event, logs):
        if event == "step" and logs["step"] == 3:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C / a notebook interrupt sends

    trainer = make_trainer(c, callbacks=[interrupt])
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    state = torch.load(checkpoint_file(tmp_path / "run"), weights_only=True)
    assert state["step"] == trainer.step >= 3
    assert_same(state["generator"], weights(trainer.generator))
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is restored


def test_gan_stage_from_pretrained_records_random_vgg(tmp_path):
    """The seed's WGAN-GP recipe (VGGDiscriminator, gradient penalty) from a stage-psnr generator."""
    psnr_run = make_trainer(smoke(tmp_path, steps=2, out=str(tmp_path / "psnr")))
    psnr_path = psnr_run.fit()
    c = smoke(
        tmp_path,
        "gan",
        gan="wgan-gp",
        steps=1,
        out=str(tmp_path / "gan"),
        pretrained=str(psnr_path),
        val_every=100,
        sample_every=100,
        log_every=1,
        hr_size=96,
    )
    with pytest.warns(UserWarning, match="RANDOM"):
        trainer = make_trainer(c)
    assert_same(weights(trainer.generator), weights(psnr_run.ema.module))  # starts from the EMA weights
    logs = History()
    trainer.callbacks.append(logs)
    path = trainer.fit()
    assert {"l_pix", "l_percep", "l_g_gan", "l_d", "gp", "d_real", "d_fake"} <= set(logs.train[-1])
    assert logs.train[-1]["gp"] >= 0
    meta = read_metadata(path)
    assert meta["vgg_weights"] == "random" and meta["gan"] == "wgan-gp" and meta["stage"] == "gan"
    # a generator of another size is refused with a clear message
    with pytest.raises(ValueError, match="does not match"):
        make_trainer(smoke(tmp_path, "gan", nf=16, out=str(tmp_path / "x"), pretrained=str(psnr_path)))


def test_gan_stage_needs_pretrained_outside_smoke(tmp_path):
    c = TrainConfig.cpu("gan", vgg_weights=None, out=str(tmp_path))
    with pytest.raises(ValueError, match="pretrained"):
        make_trainer(c)


def test_a_missing_pretrained_is_refused_before_the_training_data_is_read(tmp_path):
    """Cutting a folder into sub-images takes minutes: a config that cannot train says so first."""
    c = TrainConfig.cpu("gan", vgg_weights=None, out=str(tmp_path), data=str(tmp_path / "no_such_folder"))
    with pytest.raises(ValueError, match="pretrained"):
        Trainer(c)


# -- CLI ------------------------------------------------------------------------------------------------


def test_cli_runs_resumes_and_reports(tmp_path, capsys):
    from esrgan_lib.train import main

    out = tmp_path / "cli"
    args = ["--preset", "smoke", "--out", str(out), "--set", "steps=2", "--set", "hr_size=24"]
    assert main(args) == 0
    first = hashlib.sha256((out / "generator.safetensors").read_bytes()).hexdigest()
    assert "done: 2 steps" in capsys.readouterr().out
    assert main(args[:-4] + ["--set", "steps=4", "--set", "hr_size=24", "--resume"]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert torch.load(checkpoint_file(out), weights_only=True)["step"] == 4
    assert hashlib.sha256((out / "generator.safetensors").read_bytes()).hexdigest() != first
    meta = read_metadata(out / "generator.safetensors")
    assert meta["command"].startswith("python -m esrgan_lib.train --preset smoke")
    assert main(["--preset", "paper", "--stage", "gan", "--gan", "wgan-gp", "--print-config"]) == 0
    printed = capsys.readouterr().out
    assert "betas_d = (0.0, 0.9)" in printed and "nb = 23" in printed
    with pytest.raises(SystemExit):
        main(["--preset", "smoke", "--set", "nope=1"])


def test_a_shards_folder_is_trained_on_from_memory_maps(tmp_path):
    """``data`` may be a folder made by ``prepare_shards``: the run reads it with ``ShardPatchDataset``."""
    from PIL import Image

    from esrgan_lib.data import ShardPatchDataset, prepare_shards

    folder = tmp_path / "hr"
    folder.mkdir()
    Image.fromarray(images()[0][0]).resize((200, 160)).save(folder / "a.png")
    shards = prepare_shards(folder, tmp_path / "shards", scale=4)
    c = smoke(tmp_path, data=str(shards), steps=1, val_every=100, sample_every=100)
    trainer = Trainer(c, val_images=images()[1])
    assert isinstance(trainer.dataset, ShardPatchDataset) and trainer.dataset.n_images == 1
    trainer.fit()
    assert trainer.step == 1


def test_folder_data_with_subimages(tmp_path):
    """A data folder is cut once into 480x480 tiles (BasicSR's trick) and trained on."""
    from PIL import Image

    folder = tmp_path / "hr"
    folder.mkdir()
    Image.fromarray(images()[0][0]).resize((600, 500)).save(folder / "a.png")
    c = smoke(tmp_path, data=str(folder), subimages=True, steps=1, val_every=100, sample_every=100)
    trainer = Trainer(c, val_images=images()[1])
    tiles = sorted((tmp_path / "hr_sub480").glob("*.png"))
    assert len(tiles) == 4 and trainer.dataset.n_images == 4  # 2 x 2 tiles (last ones flush with the edges)
    assert Image.open(tiles[0]).size == (480, 480)
    trainer.fit()
    assert trainer.step == 1


# -- faults and bad inputs (issue 10 items 2, 10, 11, 13) ---------------------------------------------


def checkpoint_file(out):
    """The checkpoint a resume of the run folder ``out`` would read."""
    return latest_checkpoint(out) or out / "checkpoint-a.pt"


def log_steps(out):
    records = map(json.loads, (out / "log.jsonl").read_text().splitlines())
    return [r["step"] for r in records if "event" not in r]


def test_resume_applies_a_changed_learning_rate(tmp_path):
    """--resume --set lr_g=...: the optimiser and the schedule use the new value (and config.json says so)."""
    kw = dict(steps=2, milestones=(3,), gamma=0.5, log_every=1, val_every=100, sample_every=100)
    make_trainer(smoke(tmp_path, **kw)).fit()
    resumed = make_trainer(smoke(tmp_path, **(kw | dict(steps=4, lr_g=1e-6))), resume=True)
    assert resumed.opt_g.param_groups[0]["lr"] == pytest.approx(1e-6)
    resumed.fit()
    out = tmp_path / "run"
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    lrs = {r["step"]: r["lr"] for r in records if "lr" in r}
    assert lrs[3] == pytest.approx(0.5e-6) and lrs[4] == pytest.approx(0.5e-6)  # milestone 3 halves it
    assert json.loads((out / "config.json").read_text())["lr_g"] == 1e-6


def test_sigterm_saves_then_raises(tmp_path):
    c = smoke(tmp_path, steps=50, checkpoint_every=100, val_every=100, sample_every=100, log_every=1)

    def terminate(trainer, event, logs):
        if event == "step" and logs["step"] == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # kill, a scheduler's pre-emption, Colab's shutdown

    trainer = make_trainer(c, callbacks=[terminate])
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    state = torch.load(checkpoint_file(tmp_path / "run"), weights_only=True)
    assert state["step"] == trainer.step >= 3
    assert signal.getsignal(signal.SIGTERM) is before


def test_resume_truncates_the_log_to_the_checkpoint(tmp_path):
    c = smoke(tmp_path, steps=8, checkpoint_every=3, log_every=1, val_every=100, sample_every=100)

    def crash(trainer, event, logs):
        if event == "step" and logs["step"] == 5:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated"):
        make_trainer(c, callbacks=[crash]).fit()
    assert log_steps(tmp_path / "run") == [1, 2, 3, 4, 5]
    make_trainer(c, resume=True).fit()
    assert log_steps(tmp_path / "run") == list(range(1, 9))


@pytest.mark.parametrize(
    "assignment, field",
    [("device=tpu", "device"), ("gc=0", "gc"), ("lr_g=nan", "lr_g"), ("lr_g=-1", "lr_g"),
     ("lr_d=inf", "lr_d"), ("gamma=0", "gamma"), ("num_workers=-1", "num_workers"),
     ("milestones=-5", "milestones"), ("pixel_weight=nan", "pixel_weight"), ("d_nf=0", "d_nf")],
)
def test_config_validation_names_the_field(assignment, field):
    with pytest.raises(ValueError, match=rf"TrainConfig\.{field}="):
        TrainConfig.smoke().override([assignment])


def test_cli_refuses_bad_config_before_training(tmp_path, capsys):
    from esrgan_lib.train import main

    with pytest.raises(SystemExit) as e:
        main(["--preset", "smoke", "--out", str(tmp_path), "--set", "lr_g=nan", "--print-config"])
    assert e.value.code == 2 and "lr_g" in capsys.readouterr().err


def test_cli_training_errors_are_one_line_with_an_exit_code(tmp_path, capsys):
    from esrgan_lib.train import EXIT_DATA, main

    rc = main(["--preset", "smoke", "--out", str(tmp_path / "a"), "--data", str(tmp_path / "missing")])
    err = capsys.readouterr().err
    assert rc == EXIT_DATA and "Traceback" not in err and str(tmp_path / "missing") in err
    assert len(err.strip().splitlines()) == 1
    if not torch.cuda.is_available():
        args = ["--preset", "smoke", "--out", str(tmp_path / "b"), "--set", "device=cuda:0"]
        assert main(args) == EXIT_DATA
        err = capsys.readouterr().err
        assert "TrainConfig.device" in err and len(err.strip().splitlines()) == 1


def test_cli_divergence_names_only_written_finite_checkpoints(tmp_path, capsys):
    from esrgan_lib.train import EXIT_DIVERGED, main

    out = tmp_path / "div"
    args = ["--preset", "smoke", "--out", str(out), "--set", "hr_size=24", "--set", "lr_g=1e6",
            "--set", "checkpoint_every=1", "--set", "steps=6"]
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == EXIT_DIVERGED and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    written = checkpoint_file(out)
    if written.is_file():  # any checkpoint left as the resume point holds finite weights
        state = torch.load(written, weights_only=True)
        assert all(torch.isfinite(v).all() for v in state["generator"].values())
        assert str(written) in err
    else:
        assert "no checkpoint" in err


def test_too_small_validation_image_names_the_file(tmp_path):
    from PIL import Image

    folder = tmp_path / "val"
    folder.mkdir()
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(folder / "tiny.png")
    with pytest.raises(ValueError, match="tiny.png"):
        Trainer(smoke(tmp_path, val_data=str(folder)), train_images=images()[0])


# -- GPU-session defects rehearsed on the CPU (issue 13) -----------------------------------------------


class SyncCounter(torch.overrides.TorchFunctionMode):
    """Counts host syncs (item, tolist, bool/float/int of a tensor) and per-tensor lerp_ calls."""

    SYNCS = {torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.__bool__, torch.Tensor.__float__,
             torch.Tensor.__int__}

    def __init__(self):
        super().__init__()
        self.syncs = self.lerps = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        import sys

        caller = sys._getframe(1).f_globals.get("__name__", "")
        ours = caller.startswith("esrgan_lib")  # not torch.optim's own reads of its CPU step counters
        self.syncs += func in self.SYNCS and ours
        self.lerps += func is torch.Tensor.lerp_ and ours
        return func(*args, **(kwargs or {}))


@pytest.mark.filterwarnings("ignore:PerceptualLoss")
def test_at_most_one_host_sync_per_logged_step_and_a_fused_ema(tmp_path):
    counts = []
    for steps in (4, 12):
        c = smoke(tmp_path, "gan", out=str(tmp_path / str(steps)), steps=steps, log_every=4,
                  milestones=(100,), val_every=100, sample_every=100, checkpoint_every=100)
        trainer = make_trainer(c)
        with SyncCounter() as counter:
            trainer.fit()
        counts.append(counter)
    assert counts[1].syncs - counts[0].syncs <= 2  # 8 more steps, 2 more logged steps
    assert counts[1].lerps == 0  # the EMA update is one fused call, not a Python loop


def force_fp16(monkeypatch):
    """fp16 + GradScaler on the CPU (what a T4 runs), for the precision-change and overflow tests."""
    from esrgan_lib import runtime

    monkeypatch.setattr(runtime, "pick_precision", lambda device, requested="auto": requested)


@pytest.mark.parametrize("first, second", [("fp32", "fp16"), ("fp16", "fp32"), ("bf16", "fp16")])
def test_resume_across_precision_changes(tmp_path, monkeypatch, first, second):
    force_fp16(monkeypatch)
    kw = dict(val_every=100, sample_every=100, checkpoint_every=2)
    make_trainer(smoke(tmp_path, steps=2, precision=first, **kw)).fit()
    resumed = make_trainer(smoke(tmp_path, steps=4, precision=second, **kw), resume=True)
    assert resumed.precision == second and resumed.step == 2
    resumed.fit()
    assert resumed.step == 4


class Overflow:
    """A forward hook making the generator's output infinite at the chosen calls."""

    def __init__(self, calls):
        self.calls, self.n = calls, 0

    def __call__(self, module, inputs, output):
        self.n += 1
        return output * float("inf") if self.n in self.calls else output


def test_fp16_overflow_is_a_skipped_step_not_a_stop(tmp_path, monkeypatch):
    force_fp16(monkeypatch)
    c = smoke(tmp_path, steps=6, precision="fp16", log_every=1, val_every=100, sample_every=100)
    trainer = make_trainer(c)
    trainer.generator.register_forward_hook(Overflow({3}))
    trainer.fit()
    assert trainer.step == 6 and all(torch.isfinite(p).all() for p in trainer.generator.parameters())


def test_persistent_fp16_overflow_stops(tmp_path, monkeypatch):
    force_fp16(monkeypatch)
    c = smoke(tmp_path, steps=200, precision="fp16", log_every=1, val_every=1000, sample_every=1000,
              checkpoint_every=1000)
    trainer = make_trainer(c)
    trainer.generator.register_forward_hook(Overflow(set(range(2, 1000))))
    with pytest.raises(TrainingDiverged, match="skipped"):
        trainer.fit()


def test_the_dataset_is_indexed_once(tmp_path, monkeypatch):
    import esrgan_lib.data as data

    made = []
    real = data.SRPatchDataset

    class Counting(real):
        def __init__(self, *a, **k):
            made.append(1)
            super().__init__(*a, **k)

    monkeypatch.setattr(data, "SRPatchDataset", Counting)
    make_trainer(smoke(tmp_path))
    assert len(made) == 1


def test_checkpoints_alternate_between_two_slots_and_resume_skips_a_torn_one(tmp_path):
    from esrgan_lib.training.checkpoints import CHECKPOINT_SLOTS

    c = smoke(tmp_path, steps=6, checkpoint_every=2, val_every=100, sample_every=100)
    make_trainer(c).fit()
    out = tmp_path / "run"
    assert sorted(p.name for p in out.glob("*.pt")) == sorted(CHECKPOINT_SLOTS)  # no third file
    newest = latest_checkpoint(out)
    assert torch.load(newest, weights_only=True)["step"] == 6
    newest.write_bytes(newest.read_bytes()[:1000])  # a write cut short (Drive in-place, disk full ...)
    resumed = make_trainer(c, resume=True)
    assert resumed.step == 4


def test_in_place_slots_keep_their_files(tmp_path):
    """On Google Drive a slot is rewritten in place (same file), so nothing goes to Drive's trash."""
    from esrgan_lib.training.checkpoints import save_checkpoint_slot

    state = {"step": 1, "generator": {"w": torch.ones(2)}}
    a = save_checkpoint_slot(state, tmp_path, in_place=True)
    b = save_checkpoint_slot(state | {"step": 2}, tmp_path, in_place=True)
    inode = a.stat().st_ino
    assert save_checkpoint_slot(state | {"step": 3}, tmp_path, in_place=True) == a != b
    assert a.stat().st_ino == inode and latest_checkpoint(tmp_path) == a
    assert torch.load(a, weights_only=True)["step"] == 3


def test_data_is_prepared_before_the_process_group(tmp_path, monkeypatch):
    """torchrun: rank 0 cuts the sub-images before init_process_group; other ranks wait without timeout."""
    import threading

    from PIL import Image

    from esrgan_lib.training import loop, train_data

    folder = tmp_path / "hr"
    folder.mkdir()
    Image.fromarray(images()[0][0]).resize((600, 500)).save(folder / "a.png")
    c = smoke(tmp_path, data=str(folder), subimages=True)
    waiting = {}
    def other_rank():
        waiting["path"] = train_data.training_images(c, rank=1, world_size=2)

    worker = threading.Thread(target=other_rank)
    monkeypatch.setattr(train_data, "POLL_SECONDS", 0.01)
    worker.start()
    assert train_data.training_images(c, rank=0, world_size=2) == tmp_path / "hr_sub480"
    worker.join(timeout=60)
    assert waiting["path"] == tmp_path / "hr_sub480"

    order = []
    real_setup = loop.device_and_processes
    monkeypatch.setattr(loop, "training_images", lambda config: order.append("data") or folder)
    monkeypatch.setattr(loop, "device_and_processes", lambda name: order.append("group") or real_setup(name))
    Trainer(c, val_images=images()[1])
    assert order == ["data", "group"]


def test_resume_never_starts_from_a_non_finite_checkpoint(tmp_path, capsys):
    from esrgan_lib.training.checkpoints import load_latest_checkpoint, save_checkpoint_slot

    good = {"step": 4, "generator": {"w": torch.ones(2)}}
    save_checkpoint_slot(good, tmp_path)
    save_checkpoint_slot({"step": 5, "generator": {"w": torch.full((2,), float("nan"))}}, tmp_path)
    state, path = load_latest_checkpoint(tmp_path)
    assert state["step"] == 4 and "not finite" in capsys.readouterr().out


def test_psnr_stage_with_mse_minimises_the_mean_squared_error(tmp_path):
    """SRResNet's stage 1 (SRGAN paper): ``pixel_criterion="mse"`` logs and minimises the MSE, not L1."""
    c = smoke(tmp_path, arch="srresnet", pixel_criterion="mse", steps=2, log_every=1, val_every=2)
    trainer = make_trainer(c)
    lr_b, hr_b = next(iter(torch.utils.data.DataLoader(trainer.dataset, batch_size=c.batch_size)))
    with torch.no_grad():
        expected = torch.nn.functional.mse_loss(trainer.generator(lr_b), hr_b).item()
    logs = trainer.train_step(lr_b, hr_b)
    assert set(logs) == {"mse"}
    assert logs["mse"] == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="pixel_criterion"):
        smoke(tmp_path, pixel_criterion="l2")


def test_the_config_builds_its_networks_with_its_own_sizes():
    """Which config field is which constructor option lives in TrainConfig; SRResNet takes no gc and
    the 'vgg' critic no nf/input_size, so those are the only fields left out."""
    c = TrainConfig.smoke("gan", nf=8, nb=2, gc=4, scale=2, d_nf=8)
    g = c.build_generator()
    assert (g.config["nf"], g.config["nb"], g.config["gc"], g.config["scale"]) == (8, 2, 4, 2)
    assert g(torch.zeros(1, 3, 8, 8)).shape == (1, 3, 16, 16)
    assert c.override(["arch=srresnet"]).generator_options() == {"nf": 8, "nb": 2, "scale": 2}
    wgan = TrainConfig.smoke("gan", gan="wgan-gp")
    assert wgan.discriminator == "vgg" and wgan.discriminator_options() == {"batch_norm": False}
    assert c.discriminator_options() == {"nf": 8, "input_size": c.hr_size}
    assert sum(p.numel() for p in c.build_discriminator().parameters()) > 0


# -- presets and recipes: one table, one rule (esrgan_lib.training.presets) ------------------------------


def test_the_recipe_wins_over_the_preset_and_keywords_win_over_both():
    from esrgan_lib.training.presets import PRESETS, RECIPES

    assert PRESETS["smoke"]["gan"]["discriminator"] == "vgg128"  # the smoke preset's choice ...
    assert TrainConfig.smoke("gan").discriminator == "vgg128"  # ... kept where the recipe leaves it open
    wgan = TrainConfig.smoke("gan", gan="wgan-gp")
    assert (wgan.discriminator, wgan.d_batch_norm) == ("vgg", False)  # WGAN-GP: a critic without BatchNorm
    assert (wgan.d_nf, wgan.perceptual_layer, wgan.hr_size) == (8, "conv2_2", 128)  # the rest: the preset's
    srgan = TrainConfig.smoke("gan", gan="vanilla")
    assert (srgan.discriminator, srgan.d_batch_norm) == ("vgg", True)  # SRGAN's BatchNorm discriminator
    assert TrainConfig.smoke("gan", gan="vanilla", d_batch_norm=False).d_batch_norm is False  # keywords win
    for gan, values in RECIPES.items():  # every preset, both stages: the recipe's values, and valid
        for preset in TrainConfig.PRESETS:
            for stage in ("psnr", "gan"):
                c = TrainConfig.from_preset(preset, stage, gan=gan)
                assert {k: getattr(c, k) for k in values} == values, (preset, stage, gan)


def test_config_defaults_restate_no_recipe():
    """Recipe fields default to None and take the recipe's value, so a config built by hand is consistent."""
    import dataclasses

    from esrgan_lib.training.presets import RECIPE_OPEN, RECIPES

    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    named = set(RECIPE_OPEN).union(*RECIPES.values())
    assert {k: defaults[k] for k in named} == dict.fromkeys(named)
    srgan = TrainConfig(stage="gan", gan="vanilla")
    assert {k: getattr(srgan, k) for k in RECIPES["vanilla"]} == RECIPES["vanilla"]
    assert (TrainConfig().betas_g, TrainConfig().gp_weight) == (RECIPES["ragan"]["betas_g"], 0.0)


def test_srgan_presets_follow_ledig_et_al():
    stage1 = TrainConfig.colab_t4(stage="psnr", arch="srresnet")
    assert (stage1.arch, stage1.nb, stage1.hr_size, stage1.pixel_criterion) == ("srresnet", 16, 96, "mse")
    stage2 = TrainConfig.colab_t4(stage="gan", arch="srresnet", gan="vanilla")
    assert (stage2.nb, stage2.hr_size, stage2.discriminator, stage2.d_batch_norm) == (16, 96, "vgg", True)
    assert (stage2.pixel_weight, stage2.adversarial_weight) == (0.0, 1e-3)
    assert (stage2.perceptual_layer, stage2.perceptual_before_activation, stage2.perceptual_criterion) == (
        "conv5_4", False, "mse")
    assert stage2.perceptual_weight == pytest.approx(1 / 12.75**2)
    assert TrainConfig.colab_t4(stage="gan", arch="srresnet").discriminator == "vgg"  # any GAN at HR 96


@pytest.mark.filterwarnings("ignore:PerceptualLoss")
def test_an_srgan_step_uses_the_batchnorm_discriminator_and_no_pixel_term(tmp_path):
    from esrgan_lib.models import has_batchnorm

    trainer = make_trainer(smoke(tmp_path, "gan", gan="vanilla", arch="srresnet"))
    assert has_batchnorm(trainer.discriminator) and isinstance(trainer.perceptual.vgg[-1], torch.nn.ReLU)
    lr_b, hr_b = next(iter(torch.utils.data.DataLoader(trainer.dataset, batch_size=2)))
    logs = trainer.train_step(lr_b, hr_b)
    assert set(logs) == {"l_percep", "l_g_gan", "l_d", "gp", "d_real", "d_fake"} and logs["gp"] == 0


@pytest.mark.filterwarnings("ignore:PerceptualLoss")
def test_the_trainer_objects_are_plain_attributes(tmp_path):
    trainer = make_trainer(smoke(tmp_path, "gan"))
    names = ("generator train_model ema discriminator opt_g opt_d sched_g sched_d perceptual scaler dataset "
             "batches device precision dist step config out").split()
    assert [n for n in names if n not in vars(trainer)] == []
    assert not hasattr(Trainer, "__getattr__") and trainer.eval_model is trainer.ema.module


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step()`")  # the skipped first step
def test_an_fp16_overflow_is_counted_as_skipped_and_leaves_the_weights(tmp_path, monkeypatch, recwarn):
    """GradScaler skips a step whose gradients are not finite; the trainer sees it on the device (no
    private GradScaler state) and counts it; the next finite step trains and resets the count. A skipped
    first step (common on a T4: the initial scale overflows) does not show learners torch's warning
    about the scheduler stepping before the optimizer: the schedule counts iterations, as BasicSR's."""
    force_fp16(monkeypatch)
    trainer = make_trainer(smoke(tmp_path, precision="fp16"))
    assert trainer.scaler.is_enabled()
    lr_b, hr_b = next(iter(torch.utils.data.DataLoader(trainer.dataset, batch_size=2)))
    trainer.generator.register_forward_hook(Overflow({1}))
    before = weights(trainer.generator)
    trainer.train_step(lr_b, hr_b)  # an infinite output: NaN/Inf gradients
    assert_same(weights(trainer.generator), before)
    assert trainer.read_losses(reset=False).skipped_in_a_row == 1
    trainer.train_step(lr_b, hr_b)
    assert trainer.read_losses(reset=False).skipped_in_a_row == 0
    assert not torch.equal(trainer.generator.conv_first.weight, before["conv_first.weight"])
    assert not [w for w in recwarn if "lr_scheduler.step()" in str(w.message)]


# -- the time limit (issue 17: the Colab finale shares one budget between runs) --------------------------


def test_fit_stops_at_the_time_limit_with_a_checkpoint_and_returns(tmp_path, monkeypatch):
    from esrgan_lib.training import loop

    c = smoke(tmp_path, steps=20, log_every=2, val_every=100, sample_every=100, checkpoint_every=100)
    history = History()
    trainer = make_trainer(c, callbacks=[history])
    monkeypatch.setattr(loop, "perf_counter", lambda: 10.0 * trainer.step)  # a fake clock: 10 s a step
    path = trainer.fit(max_seconds=35)  # returns normally: no KeyboardInterrupt
    assert trainer.step == 4  # 40 s >= 35 s
    assert torch.load(checkpoint_file(tmp_path / "run"), weights_only=True)["step"] == 4
    assert path == tmp_path / "run" / "generator.safetensors" and read_metadata(path)["steps"] == "4"
    assert [(h["step"], h["elapsed_s"], h["it_per_s"]) for h in history.train] == [(2, 20, 0.1), (4, 40, 0.1)]
    trainer.fit(max_seconds=35)  # a second run of the budget: this call's time only
    assert trainer.step == 8
    trainer.fit()
    assert trainer.step == 20


def test_cli_max_minutes_stops_cleanly(tmp_path, capsys):
    from esrgan_lib.train import main

    out = tmp_path / "cli"
    assert main(["--preset", "smoke", "--out", str(out), "--set", "hr_size=24", "--max-minutes", "0"]) == 0
    assert "time limit" in capsys.readouterr().out
    assert torch.load(checkpoint_file(out), weights_only=True)["step"] == 1
    assert (out / "generator.safetensors").is_file()
