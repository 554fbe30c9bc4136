"""Build what a ``TrainConfig`` describes: generator, discriminator, pretrained weights and data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from torch import nn

from ..models import discriminator_spec, generator_spec
from .config import TrainConfig

__all__ = [
    "VAL_SAMPLE_NAMES",
    "build_generator",
    "build_discriminator",
    "load_pretrained",
    "training_images",
    "validation_images",
    "dataset_repeat",
]

# held out of the default training set (the scikit-image photos) and used for validation
VAL_SAMPLE_NAMES = ("chelsea", "coffee")


def build_generator(config: TrainConfig) -> nn.Module:
    """The registered generator ``config.arch`` (``esrgan_lib.models.generator_spec``), freshly
    initialised with the config's ``nf``, ``nb``, ``gc``, ``scale`` (each taken where it applies)."""
    return generator_spec(config.arch).build(nf=config.nf, nb=config.nb, gc=config.gc, scale=config.scale)


def build_discriminator(config: TrainConfig) -> nn.Module:
    """The registered discriminator ``config.discriminator`` (``vgg``: the giakou4/gans ESRGAN README's,
    BatchNorm if ``d_batch_norm``; ``vgg128``: BasicSR's, width ``d_nf``, input ``hr_size``)."""
    spec = discriminator_spec(config.discriminator)
    return spec.build(nf=config.d_nf, batch_norm=config.d_batch_norm, input_size=config.hr_size)


def load_pretrained(model: nn.Module, path: str | Path) -> str:
    """Load generator weights into ``model`` from a stage-psnr result; returns a description.

    ``path``: a run folder (its ``generator.safetensors`` is used), a generator file in any format
    ``esrgan_lib.checkpoint.load_generator`` reads, or a training checkpoint ``*.pt`` (its EMA weights).
    The architecture must match ``model`` exactly (else ``ValueError`` naming both configurations).
    """
    from ..checkpoint import load_generator
    from .state import load_checkpoint

    path = Path(path)
    if path.is_dir():
        path = path / "generator.safetensors"
    if path.suffix == ".pt" and path.is_file():
        state = load_checkpoint(path)
        sd = state["ema"]["module"] if state.get("ema") else state["generator"]
        source_config = state["config"]
        source_config = {k: source_config[k] for k in ("nf", "nb", "gc", "scale") if k in source_config}
    else:
        if not path.is_file():
            raise FileNotFoundError(f"pretrained generator not found: {path}")
        source = load_generator(path)
        if type(source) is not type(model):
            raise ValueError(
                f"{path} holds a {type(source).__name__}, but the config builds a {type(model).__name__}"
            )
        sd, source_config = source.state_dict(), source.config
    try:
        model.load_state_dict(sd)
    except RuntimeError as e:
        raise ValueError(
            f"{path}: its generator ({source_config}) does not match the configured one ({model.config}); "
            "set nf/nb/gc/scale to the stage-psnr values (--set nf=...)"
        ) from e
    return str(path)


def training_images(config: TrainConfig):
    """What ``SRPatchDataset`` trains on: a folder (``config.data``, optionally cut into 480x480
    sub-images first) or, with no data, the scikit-image photos minus ``VAL_SAMPLE_NAMES``."""
    from ..data import SAMPLE_IMAGE_NAMES, sample_images

    if config.data is None:
        return sample_images([n for n in SAMPLE_IMAGE_NAMES if n not in VAL_SAMPLE_NAMES])
    folder = Path(config.data)
    if not folder.is_dir():
        raise FileNotFoundError(f"training data folder not found: {folder}")
    if config.subimages:
        return subimage_folder(folder)
    return folder


def subimage_folder(folder: Path, *, create: bool = True) -> Path:
    """``<folder>_sub480``: 480x480 tiles (step 240) of ``folder``, made once (BasicSR's trick).

    ``create=False`` only names the folder; ``create=True`` cuts what is missing (one process; with
    torchrun, ``run.prepare_training_data`` shares the cutting between ranks)."""
    from ..data import prepare_subimages

    out = folder.with_name(folder.name.rstrip("/") + "_sub480")
    if create:
        prepare_subimages(folder, out, crop=480, step=240)
    return out


def validation_images(config: TrainConfig) -> dict[str, np.ndarray]:
    """``{name: uint8 HR (H, W, 3)}`` from ``config.val_data``, else the held-out sample photos."""
    from ..data import list_images, read_image, sample_images

    if config.val_data is None:
        return dict(zip(VAL_SAMPLE_NAMES, sample_images(VAL_SAMPLE_NAMES)))
    folder = Path(config.val_data)
    if not folder.is_dir():
        raise FileNotFoundError(f"validation folder not found: {folder}")
    images = {}
    for p in list_images(folder):
        images[p.stem] = check_validation_image(read_image(p), config.scale, p)
    return images


def check_validation_image(img: np.ndarray, scale: int, name) -> np.ndarray:
    """``img`` when it is large enough to validate at ``scale`` (each side >= 3 * scale: the LR image
    must keep pixels after cropping ``scale`` border pixels), else ``ValueError`` naming it."""
    h, w = img.shape[:2]
    if min(h, w) < 3 * scale:
        raise ValueError(
            f"validation image {name} is {w}x{h} (W x H): too small for scale {scale} "
            f"(each side must be at least {3 * scale} pixels); remove it from the validation folder"
        )
    return img


def dataset_repeat(config: TrainConfig, n_images: int) -> int:
    """``config.repeat``, or (0) enough repeats for at least 100 global batches per epoch."""
    if config.repeat > 0:
        return config.repeat
    return max(1, math.ceil(100 * config.batch_size / n_images))
