"""Reading checkpoint files safely: safetensors and torch pickles, and refusing non-finite weights.

``torch.load`` always runs with ``weights_only=True``: a ``.pth`` file cannot run code here.

``FILE_READERS`` is the one dispatch point for file formats: it maps a file suffix to a function
``reader(path) -> (raw mapping, metadata dict)``; any other suffix is read as a torch pickle. A
format whose files carry their own architecture puts ``"esrgan_lib.arch"`` (the class name) and
``"esrgan_lib.config"`` (JSON constructor arguments) into the metadata, as ``save_generator`` does.
What is inside a file's mapping is unwrapped by ``esrgan_lib.models.state_dict.unwrap_state_dict``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

__all__ = ["CheckpointError", "FILE_READERS", "METADATA_READERS", "META_ARCH", "META_CONFIG", "read_metadata",
           "read_file", "check_finite"]

META_ARCH, META_CONFIG = "esrgan_lib.arch", "esrgan_lib.config"
_SAFETENSORS = ".safetensors"


class CheckpointError(ValueError):
    """The file or state dict is not a usable generator checkpoint (the message says why).

    A ``ValueError``, so callers that catch ``ValueError`` (the ``esrgan-upscale`` command line maps
    it to exit code 2, "bad weights") keep working.
    """


def _safetensors_metadata(path: str | os.PathLike) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


# suffix -> reader of a file's metadata only (cheap: no weights read); a torch pickle has none
METADATA_READERS: dict[str, Callable[[Path], dict]] = {_SAFETENSORS: _safetensors_metadata}


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata of a checkpoint file (all values strings): what ``save_generator`` stored in a
    safetensors file; for an ncnn ``.param``, its format and what the weights are; ``{}`` for a ``.pth``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return METADATA_READERS.get(path.suffix.lower(), lambda _: {})(path)


def _read_safetensors(path: Path) -> tuple[dict, dict]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path)), _safetensors_metadata(path)
    except Exception as e:
        raise CheckpointError(f"{path} is not a readable safetensors file: {e}") from e


def _read_torch(path: Path) -> tuple[dict, dict]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(
            f"{path} could not be read as a PyTorch checkpoint with weights_only=True "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        ) from e
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict")
    return dict(obj), {}


FILE_READERS: dict[str, Callable[[Path], tuple[dict, dict]]] = {_SAFETENSORS: _read_safetensors}


def read_file(path: str | os.PathLike) -> tuple[dict, dict]:
    """(raw mapping, metadata) of a checkpoint file, read by ``FILE_READERS`` by suffix."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return FILE_READERS.get(path.suffix.lower(), _read_torch)(path)


def check_finite(sd: Mapping, source: str) -> None:
    """Raise ``CheckpointError`` naming the tensors holding NaN or Inf (they give black images)."""
    bad = []
    for k, v in sd.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            hits = (("NaN", torch.isnan(v).any()), ("Inf", torch.isinf(v).any()))
            kinds = [name for name, hit in hits if hit]
            bad.append(f"{k} ({'/'.join(kinds)})")
    if bad:
        raise CheckpointError(
            f"{source}: non-finite weights in {len(bad)} tensor(s), e.g. {', '.join(bad[:4])}; "
            "the model would output NaN or black images (a diverged training run?)"
        )
