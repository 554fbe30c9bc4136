"""The hand-off of the Colab finale: which notebook writes which run folder, and which pairs notebook 10 blends.

Notebook 05 (``gpu`` profile) writes ESRGAN's stage 1, notebook 09 (``gpu``) trains ESRGAN's stage 2 and both
SRGAN stages, notebook 10 (``gpu``) finds them all. They meet in ``runs_root()`` (Google Drive on Colab), in
the folders named by ``FINALE_RUNS``; each finished run holds ``generator.safetensors`` (the EMA generator, or
the plain one without EMA, as ``Trainer.fit`` exports it).

``INTERPOLATION_PAIRS`` lists, best first, the (PSNR-oriented, GAN) pairs for network interpolation where the
GAN model was fine-tuned from the PSNR one, as the paper requires: the learner's own, the paper's, Real-ESRGAN's.
"""

from __future__ import annotations

from pathlib import Path

from ..training.checkpoints import GENERATOR_NAME

__all__ = ["FINALE_RUNS", "INTERPOLATION_PAIRS", "learner_models"]

# role -> run folder under runs_root(); who writes it
FINALE_RUNS: dict[str, str] = {
    "esrgan_psnr": "05_psnr_gpu",  # notebook 05: RRDBNet nf 64 nb 23, L1 (ESRGAN stage 1)
    "esrgan": "09_esrgan_gpu",  # notebook 09: ESRGAN stage 2 from esrgan_psnr (or published PSNR weights)
    "srresnet": "09_srresnet_gpu",  # notebook 09: SRResNet 16 blocks, MSE (SRGAN stage 1)
    "srgan": "09_srgan_gpu",  # notebook 09: SRGAN stage 2 from srresnet
}

# (psnr, gan) pairs, best first: roles of FINALE_RUNS, or "pretrained:<name>" for esrgan_lib.checkpoint.PRETRAINED
INTERPOLATION_PAIRS: tuple[tuple[str, str], ...] = (
    ("esrgan_psnr", "esrgan"),
    ("srresnet", "srgan"),
    ("pretrained:esrgan_psnr_x4", "pretrained:esrgan_x4"),
    ("pretrained:realesrnet_x4plus", "pretrained:realesrgan_x4plus"),
)


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
