"""Writing generators: our self-describing safetensors files, and ``.pth`` files for other tools.

``EXPORTERS`` is the one dispatch point for export formats: it maps a ``format`` name to a function
``exporter(model, path) -> Path``. The ``.pth`` formats are the registered generators' ``key_formats``
(``esrgan_lib.models.registry``); ``ncnn`` adds its own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from .._atomic import atomic_path
from ..models import registry
from ..models.state_dict import EMA_WRAPPER
from .io import META_ARCH, META_CONFIG
from .keys import BASICSR

__all__ = ["save_generator", "export_generator", "EXPORTERS", "generator_spec_of"]


def generator_spec_of(model: nn.Module) -> registry.ArchSpec | None:
    """The registered generator spec whose class ``model`` is; None for anything else (a wrapper too)."""
    return next((s for s in registry.GENERATORS.values() if type(model) is s.cls), None)


def save_generator(model: nn.Module, path: str | os.PathLike, metadata: Mapping | None = None) -> Path:
    """Save a registered generator (RRDBNet, SRResNet) as a safetensors file that rebuilds itself.

    The architecture name and ``model.config`` go into the safetensors metadata, so
    ``load_generator(path)`` needs no arguments. ``metadata``: extra information (training recipe,
    ``{"vgg_weights": "random"}`` ...); values that are not strings are stored as JSON.
    The write is atomic (temp file + ``os.replace``): an interrupted save never leaves half a file.
    """
    from safetensors.torch import save_file

    spec = generator_spec_of(model)
    if spec is None:
        names = sorted(s.cls.__name__ for s in registry.GENERATORS.values())
        raise TypeError(f"save_generator saves {names}, got {type(model).__name__}")
    meta = {"format": "pt", META_ARCH: spec.cls.__name__, META_CONFIG: json.dumps(model.config)}
    for key, value in (metadata or {}).items():
        meta[str(key)] = value if isinstance(value, str) else json.dumps(value)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def _pth_exporter(fmt: str) -> Callable[[nn.Module, Path], Path]:
    """An exporter writing a generator's state dict in key format ``fmt`` with ``torch.save``."""

    def export(model: nn.Module, path: Path) -> Path:
        spec = generator_spec_of(model)
        if spec is None or fmt not in spec.key_formats:
            takers = [s.cls.__name__ for s in registry.GENERATORS.values() if fmt in s.key_formats]
            raise TypeError(f"format {fmt!r} exports {', '.join(takers)} models, got {type(model).__name__}")
        sd = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
        sd = spec.convert(sd, fmt)
        obj = {EMA_WRAPPER: sd} if fmt == BASICSR else sd  # Real-ESRGAN's layout
        with atomic_path(path) as tmp:
            torch.save(obj, tmp)
        return path

    return export


EXPORTERS: dict[str, Callable[[nn.Module, Path], Path]] = {
    fmt: _pth_exporter(fmt) for spec in registry.GENERATORS.values() for fmt in spec.key_formats
}


def export_generator(model: nn.Module, path: str | os.PathLike, format: str = "basicsr") -> Path:
    """Write a generator in a format other ESRGAN tools load (spandrel/chaiNNer/ComfyUI ...).

    ``format``: ``"basicsr"`` -> ``{"params_ema": <BasicSR keys>}`` (Real-ESRGAN's layout);
    ``"official"`` -> the official repository's new-arch keys (``RRDB_trunk...``);
    ``"old"`` -> the official old-arch keys (``model.1.sub...``). spandrel assumes ``gc=32``.
    Every format is an entry of ``EXPORTERS``. Returns the path written.
    """
    exporter = EXPORTERS.get(format)
    if exporter is None:
        choices = ", ".join(repr(f) for f in EXPORTERS)
        raise ValueError(f"format must be one of {choices}, got {format!r}")
    return exporter(model, Path(path))
