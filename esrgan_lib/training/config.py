"""``TrainConfig``: every knob of a training run in one dataclass, with named presets.

Presets (a table of values in ``esrgan_lib.training.presets``) return a ready config; keyword
arguments override fields::

    TrainConfig.smoke()                      # seconds: tiny RRDBNet, a few steps, sample images
    TrainConfig.cpu(stage="psnr")            # minutes on a laptop CPU (measured figures: README)
    TrainConfig.colab_t4(stage="gan", pretrained="psnr/generator.safetensors", out="/content/drive/...")
    TrainConfig.paper(stage="gan", gan="ragan")  # the paper's recipe (BasicSR's reproduction)

``stage="psnr"`` trains the generator with its pixel loss only (``pixel_criterion``: L1, or MSE for
SRGAN's SRResNet); ``stage="gan"`` starts from a stage-psnr generator (``pretrained``) and adds the
perceptual and adversarial losses. ``gan`` picks the recipe (its values: ``presets.RECIPES``; which value
wins over which: the ``presets`` docstring):

========== ====================================================================================
gan        losses and optimiser
========== ====================================================================================
ragan      ESRGAN paper: 1e-2 L1 + 1.0 VGG conv5_4 before ReLU (L1) + 5e-3 relativistic GAN, Adam (0.9, 0.99)
wgan-gp    giakou4/gans ESRGAN README: 1e-2 L1 + 1.0 VGG (MSE) + 5e-3 WGAN + 10 GP, Adam (0.0, 0.9), no BN
vanilla    SRGAN: VGG conv5_4 after ReLU (MSE) / 12.75^2 + 1e-3 BCE GAN, BatchNorm D (with arch="srresnet")
========== ====================================================================================

``config.override(["key=value", ...])`` converts strings to the field's type (the CLI's ``--set``).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch

from ..losses.gan import GAN_RECIPES
from ..models import DISCRIMINATORS as DISCRIMINATOR_SPECS
from ..models import GENERATORS, discriminator_spec, generator_spec
from ..runtime import PRECISIONS
from .presets import PRESETS, RECIPE_OPEN, RECIPES

__all__ = ["TrainConfig", "gan_recipe", "parse_value", "STAGES", "ARCHS", "GANS", "DISCRIMINATORS"]

STAGES = ("psnr", "gan")
ARCHS = tuple(GENERATORS)  # from the model registry
GANS = tuple(GAN_RECIPES)  # from the GAN recipe registry
DISCRIMINATORS = tuple(DISCRIMINATOR_SPECS)
DEVICE_TYPES = ("cpu", "cuda", "mps")


def gan_recipe(gan: str) -> dict:
    """The ``TrainConfig`` values the recipe ``gan`` fixes (``presets.RECIPES``; see the module table)."""
    if gan not in RECIPES:
        raise ValueError(f"gan must be one of {GANS}, got {gan!r}")
    return dict(RECIPES[gan])


@dataclass
class TrainConfig:
    """All settings of a run. Sizes are global (summed over DDP processes); steps are iterations."""

    preset: str = "custom"
    stage: str = "psnr"  # "psnr" (L1 only) | "gan" (ESRGAN/SRGAN stage 2)
    out: str = "runs/esrgan"  # checkpoints, log.jsonl, samples/, generator.safetensors

    # generator
    arch: str = "rrdbnet"  # "rrdbnet" | "srresnet"
    nf: int = 64
    nb: int = 23
    gc: int = 32  # RRDBNet only
    scale: int = 4
    pretrained: str | None = None  # stage-psnr generator (.safetensors / .pth / our checkpoint-*.pt)
    allow_scratch: bool = False  # stage gan without `pretrained` (smoke tests and benchmarks only)

    # data
    data: str | None = None  # folder of HR images; None = scikit-image sample photos (offline)
    val_data: str | None = None  # folder of HR images (e.g. Set5); None = held-out sample photos
    subimages: bool = False  # cut `data` once into 480x480 tiles (BasicSR) in <data>_sub480 (colab_t4, paper)
    hr_size: int = 128  # HR patch side
    color_augment: bool = False  # random RGB permutation of training pairs (cpu preset: few photos)
    batch_size: int = 16  # global batch; per process = batch_size / world size
    repeat: int = 0  # dataset repeats per epoch (0: enough for 100 batches per epoch)
    num_workers: int = 0
    seed: int = 0

    # optimisation
    pixel_criterion: str = "l1"  # "l1" (ESRGAN) | "mse" (SRResNet): stage psnr loss, stage gan pixel term
    steps: int = 1_000_000
    lr_g: float = 2e-4
    lr_d: float = 1e-4
    betas_g: tuple[float, float] | None = None  # Adam betas; None: the recipe's (stage psnr too)
    betas_d: tuple[float, float] | None = None
    milestones: tuple[int, ...] = (200_000, 400_000, 600_000, 800_000)
    gamma: float = 0.5
    ema_decay: float = 0.999  # 0 disables the EMA copy
    grad_clip: float = 0.0  # max global grad norm (0: off)

    # GAN stage. None: the value of the recipe `gan` (presets.RECIPES, else presets.RECIPE_OPEN)
    gan: str = "ragan"  # "ragan" | "wgan-gp" | "vanilla"
    pixel_weight: float | None = None
    perceptual_weight: float | None = None
    adversarial_weight: float | None = None
    gp_weight: float | None = None  # WGAN-GP's lambda
    perceptual_layer: str = "conv5_4"
    perceptual_before_activation: bool | None = None
    perceptual_criterion: str | None = None  # "l1" | "mse"
    vgg_weights: str | None = "imagenet"  # "imagenet" | path | None (RANDOM VGG: code tests only)
    discriminator: str | None = None  # "vgg" (giakou4/gans README, SRGAN; HR >= 96) | "vgg128" (BasicSR)
    d_batch_norm: bool | None = None  # "vgg" only; never with wgan-gp
    d_nf: int = 64  # "vgg128" only

    # engineering
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:1" ...
    precision: str = "auto"  # "auto" | "bf16" | "fp16" | "fp32" (see esrgan_lib.runtime)
    channels_last: bool | None = None  # None: on CUDA only (no training gain measured on an AVX2 CPU)
    threads: int = 0  # torch.set_num_threads(threads) when > 0 (1 is best on a busy shared CPU)
    compile: bool = False
    log_every: int = 10
    val_every: int = 1000
    sample_every: int = 1000
    checkpoint_every: int = 1000
    progress: bool = True  # tqdm bar (rank 0)

    extra: dict = field(default_factory=dict)  # free-form notes stored in the metadata

    def __post_init__(self):
        """Fill the recipe fields left None from the recipe ``gan`` (an unknown ``gan`` is left to
        ``validate``)."""
        for name, value in (RECIPE_OPEN | RECIPES.get(self.gan, {})).items():
            if getattr(self, name) is None:
                setattr(self, name, value)

    # -- presets (the data and the rule of which value wins: esrgan_lib.training.presets) -----------
    PRESETS: typing.ClassVar[tuple[str, ...]] = tuple(PRESETS)

    @classmethod
    def from_preset(
        cls, name: str, stage: str = "psnr", *, gan: str = "ragan", arch: str = "rrdbnet", **overrides
    ) -> TrainConfig:
        """``TrainConfig.from_preset("cpu", "gan", gan="wgan-gp")``: the preset's base values, its stage's,
        its changes for ``arch``, then the recipe's values, then ``overrides`` (later wins)."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {cls.PRESETS}")
        table = PRESETS[name]
        values = table["base"] | table["gan" if stage == "gan" else "psnr"] | table["arch"].get(arch, {})
        values |= gan_recipe(gan) | overrides  # the recipe wins over the preset, your keywords over both
        return cls(preset=name, stage=stage, gan=gan, arch=arch, **values).validate()

    @classmethod
    def smoke(cls, stage: str = "psnr", **kwargs) -> TrainConfig:
        """Seconds on a CPU: nf 8, nb 1, 8 steps on 32-pixel patches. The gan stage (128-pixel patches,
        BasicSR's discriminator with nf 8, perceptual loss at conv2_2) uses a RANDOM VGG
        (``vgg_weights=None``) and may start from scratch: it checks code paths, nothing more."""
        return cls.from_preset("smoke", stage, **kwargs)

    @classmethod
    def cpu(cls, stage: str = "psnr", **kwargs) -> TrainConfig:
        """A small CPU run (stage psnr): RRDBNet nf 32, nb 3, gc 16, HR 64, batch 8, 4400 steps, lr 4e-4
        halved at 2900 and 3800, RGB-permutation colour augmentation (``color_augment``); its measured
        time and Set5 PSNR are in the README. The gan stage (600 steps) needs a VGG19 file or the
        explicit ``vgg_weights=None`` opt-in (random VGG)."""
        return cls.from_preset("cpu", stage, **kwargs)

    @classmethod
    def colab_t4(cls, stage: str = "psnr", **kwargs) -> TrainConfig:
        """A 16 GB T4 (fp16 + GradScaler, chosen by ``precision="auto"``): full-size RRDBNet (nb 23),
        batch 16, HR 128, 100k/50k steps with the paper's schedule scaled down, checkpoints every
        1000 steps so a disconnected session resumes (``out`` on Google Drive, ``--resume``)."""
        return cls.from_preset("colab_t4", stage, **kwargs)

    @classmethod
    def paper(cls, stage: str = "psnr", **kwargs) -> TrainConfig:
        """The paper's recipe as reproduced by BasicSR: RRDBNet nf 64 nb 23 gc 32, batch 16, HR 128;
        stage psnr 1M steps at lr 2e-4 halved every 200k; stage gan 400k steps, G and D lr 1e-4 halved
        at 50k/100k/200k/300k, EMA 0.999. Train on DF2K (``data``), ideally with ``subimages``."""
        return cls.from_preset("paper", stage, **kwargs)

    # -- checks and conversions -------------------------------------------------------------------
    def validate(self) -> TrainConfig:
        """Raise ``ValueError`` naming the offending field; returns ``self``."""

        def bad(name, why):
            raise ValueError(f"TrainConfig.{name}={getattr(self, name)!r}: {why}")

        choices = dict(
            stage=STAGES,
            arch=ARCHS,
            gan=GANS,
            discriminator=DISCRIMINATORS,
            precision=PRECISIONS,
            perceptual_criterion=("l1", "mse"),
            pixel_criterion=("l1", "mse"),
        )
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                bad(name, f"must be one of {allowed}")
        positive = ("nf", "nb", "gc", "d_nf", "hr_size", "scale", "batch_size", "steps", "log_every",
                    "val_every", "sample_every", "checkpoint_every")
        for name in positive:
            if getattr(self, name) < 1:
                bad(name, "must be >= 1")
        for name in ("num_workers", "repeat", "threads", "seed"):
            if getattr(self, name) < 0:
                bad(name, "must be >= 0")
        self._validate_numbers(bad)
        self._validate_device(bad)
        if self.hr_size % self.scale:
            bad("hr_size", f"must be a multiple of scale={self.scale}")
        if not 0.0 <= self.ema_decay < 1.0:
            bad("ema_decay", "must be in [0, 1)")
        if self.stage == "gan":
            self._validate_discriminator(bad)
        return self

    # -- the networks: which config field is which architecture option, in one place ---------------------
    def generator_options(self) -> dict:
        """The keyword options of ``arch``'s constructor (SRResNet has no ``gc``: it is not passed)."""
        spec = generator_spec(self.arch)
        fields = {"nf": self.nf, "nb": self.nb, "gc": self.gc, "scale": self.scale}
        return {k: v for k, v in fields.items() if k in spec.options}

    def discriminator_options(self) -> dict:
        """The keyword options of ``discriminator``'s constructor (``vgg`` has no ``nf``/``input_size``)."""
        spec = discriminator_spec(self.discriminator)
        fields = {"nf": self.d_nf, "batch_norm": self.d_batch_norm, "input_size": self.hr_size}
        return {k: v for k, v in fields.items() if k in spec.options}

    def build_generator(self) -> torch.nn.Module:
        """The generator this config describes, on the CPU (or the current default device)."""
        return generator_spec(self.arch).build(**self.generator_options())

    def build_discriminator(self) -> torch.nn.Module:
        """The discriminator (stage gan) this config describes."""
        return discriminator_spec(self.discriminator).build(**self.discriminator_options())

    def _validate_discriminator(self, bad) -> None:
        """The discriminator's own requirements (its registry spec) and the recipe's (no BatchNorm
        in a gradient-penalty critic)."""
        spec = discriminator_spec(self.discriminator)
        options = self.discriminator_options()
        if GAN_RECIPES[self.gan].penalty and spec.uses_batchnorm(options):
            fix = "use discriminator='vgg', d_batch_norm=False"
            bad("gan", f"WGAN-GP needs a critic without BatchNorm: {fix}")
        why = spec.check_input_size(self.hr_size, options) if spec.check_input_size else None
        if why:
            bad("hr_size", why)

    def _validate_numbers(self, bad) -> None:
        """Learning rates, weights and schedule: finite numbers in their ranges."""
        for name in ("lr_g", "lr_d", "gamma"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                bad(name, "must be a finite number > 0")
        for name in ("pixel_weight", "perceptual_weight", "adversarial_weight", "gp_weight", "grad_clip"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                bad(name, "must be a finite number >= 0")
        for name in ("betas_g", "betas_d"):
            if not all(math.isfinite(b) and 0.0 <= b < 1.0 for b in getattr(self, name)):
                bad(name, "must be two numbers in [0, 1)")
        if any(m < 0 for m in self.milestones) or list(self.milestones) != sorted(self.milestones):
            bad("milestones", "must be increasing step numbers >= 0")

    def _validate_device(self, bad) -> None:
        """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (availability is checked when training)."""
        if self.device == "auto":
            return
        try:
            kind = torch.device(self.device).type
        except (RuntimeError, ValueError):
            kind = None
        if kind not in DEVICE_TYPES:
            bad("device", f"must be 'auto' or a torch device of type {DEVICE_TYPES} (e.g. 'cuda:0')")

    def to_dict(self) -> dict:
        """Plain JSON-able dict (tuples become lists)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        hints = typing.get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {unknown}")
        tuples = {k for k, tp in hints.items()  # tuple[...] or tuple[...] | None: JSON gives lists
                  if tuple in (typing.get_origin(tp), *map(typing.get_origin, typing.get_args(tp)))}
        return cls(**{k: tuple(v) if isinstance(v, list) and k in tuples else v for k, v in values.items()})

    def override(self, assignments: Iterable[str]) -> TrainConfig:
        """Apply ``"key=value"`` strings (the CLI's ``--set``), converted to each field's type; returns a
        new, validated config. ``none``/``null`` give None for optional fields; tuples are comma lists."""
        hints = typing.get_type_hints(type(self))
        changes = {}
        for item in assignments:
            key, sep, text = item.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in hints or key in ("PRESETS", "extra"):
                fields = ", ".join(f.name for f in dataclasses.fields(self) if f.name != "extra")
                raise ValueError(f"--set {item!r}: expected key=value with key one of: {fields}")
            try:
                changes[key] = parse_value(text.strip(), hints[key])
            except ValueError as e:
                raise ValueError(f"--set {item!r}: {e}") from None
        return dataclasses.replace(self, **changes).validate()


def parse_value(text: str, tp):
    """Convert ``text`` to the type annotation ``tp`` (bool, int, float, str, X | None, tuple[...])."""
    args = typing.get_args(tp)
    if type(None) in args:  # Optional[X]
        if text.lower() in ("none", "null", ""):
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return parse_value(text, inner)
    if typing.get_origin(tp) is tuple:
        parts = [p for p in text.replace(" ", "").strip("()[]").split(",") if p]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(parse_value(p, args[0]) for p in parts)
        if len(parts) != len(args):
            raise ValueError(f"expected {len(args)} comma-separated values, got {text!r}")
        return tuple(parse_value(p, a) for p, a in zip(parts, args))
    if tp is bool:
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected a boolean (true/false), got {text!r}")
    if tp is int:
        try:
            return int(float(text)) if "e" in text.lower() and float(text).is_integer() else int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    return text
