"""Writing generators: our self-describing safetensors files, and ``.pth`` files for other tools.

``EXPORTERS`` is the one dispatch point for export formats: it maps a ``format`` name to a function
``exporter(model, path) -> Path``.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from .._atomic import atomic_path
from ..models import registry, rrdbnet_formats
from .io import META_ARCH, META_CONFIG

__all__ = ["save_generator", "export_generator", "EXPORTERS"]


def save_generator(model: nn.Module, path: str | os.PathLike, metadata: Mapping | None = None) -> Path:
    """Save a registered generator (RRDBNet, SRResNet) as a safetensors file that rebuilds itself.

    The architecture name and ``model.config`` go into the safetensors metadata, so
    ``load_generator(path)`` needs no arguments. ``metadata``: extra information (training recipe,
    ``{"vgg_weights": "random"}`` ...); values that are not strings are stored as JSON.
    The write is atomic (temp file + ``os.replace``): an interrupted save never leaves half a file.
    """
    from safetensors.torch import save_file

    names = sorted(s.cls.__name__ for s in registry.GENERATORS.values())
    try:
        spec = registry.spec_of(model)
    except TypeError:
        spec = None
    if spec is None or spec.role != "generator":
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
    """An exporter writing an RRDBNet's state dict in key format ``fmt`` with ``torch.save``."""

    def export(model: nn.Module, path: Path) -> Path:
        if not isinstance(model, registry.generator_spec("rrdbnet").cls):
            raise TypeError(f"export_generator exports RRDBNet models, got {type(model).__name__}")
        sd = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
        sd = rrdbnet_formats.from_basicsr(sd, fmt, nb=model.nb, num_up=model.num_up)
        obj = {"params_ema": sd} if fmt == "basicsr" else sd  # Real-ESRGAN's layout
        if model.gc != 32:
            warnings.warn(f"gc={model.gc}: spandrel/chaiNNer assume gc=32 and will not load this",
                          stacklevel=3)
        with atomic_path(path) as tmp:
            torch.save(obj, tmp)
        return path

    return export


EXPORTERS: dict[str, Callable[[nn.Module, Path], Path]] = {
    fmt: _pth_exporter(fmt) for fmt in rrdbnet_formats.FORMATS
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
