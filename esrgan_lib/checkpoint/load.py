"""``load_generator``: any supported checkpoint -> a ready generator, checked before it is built.

Order of checks (nothing large is allocated before the tensors have confirmed the configuration):

1. read the file (``io.FILE_READERS``) and unwrap it (``io.unwrap_state_dict``: EMA weights first);
2. find the architecture: the file's metadata, else the registry's ``detect``;
3. rename to the class's keys and infer the config from the tensor shapes; a config stored in the
   metadata must agree with it (a file cannot make us allocate a model its tensors do not fill);
4. refuse NaN/Inf weights; 5. ``spec.load``: compare keys and shapes against a model built on the
   ``meta`` device (no memory), then build on ``device`` and copy the weights in.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ..models import registry
from ..models.state_dict import unwrap_state_dict
from .io import META_ARCH, META_CONFIG, CheckpointError, check_finite, read_file
from .keys import detect_architecture, to_canonical_keys

__all__ = ["load_generator"]


def _spec_and_config(sd: dict, meta: Mapping, source: str) -> tuple[registry.ArchSpec, dict, dict]:
    """(spec, config, canonical state dict); the metadata's config is checked against the tensors."""
    arch = meta.get(META_ARCH)
    if arch is not None:
        try:
            spec = registry.spec_for_class(arch)
        except ValueError as e:
            raise CheckpointError(f"{source}: {e} in metadata") from None
        if spec.role != "generator":
            raise CheckpointError(f"{source}: the metadata names a {spec.role} ({arch}), not a generator")
    else:
        try:
            spec = detect_architecture(sd)
        except CheckpointError as e:
            raise CheckpointError(f"{source}: {e}") from None
    try:
        sd = to_canonical_keys(spec, sd)
        inferred = spec.infer_config(sd) if spec.infer_config is not None else None
    except ValueError as e:
        raise CheckpointError(f"{source}: {e}") from None
    config = inferred
    if META_CONFIG in meta:
        config = json.loads(meta[META_CONFIG])
        if inferred is not None:
            diff = {k: (config[k], v) for k, v in inferred.items() if k in config and config[k] != v}
            if diff:
                said = ", ".join(f"{k}={a}" for k, (a, _) in diff.items())
                found = ", ".join(f"{k}={b}" for k, (_, b) in diff.items())
                raise CheckpointError(f"{source}: the metadata says {said} but the tensors say {found}")
        unknown = [k for k in config if k not in spec.options]
        if unknown:
            names, options = ", ".join(map(repr, unknown)), ", ".join(spec.options)
            raise CheckpointError(f"{source}: the metadata's config names {names}, which {spec.cls.__name__} "
                                  f"does not take (its options: {options})")
    if config is None:
        raise CheckpointError(f"{source}: no configuration in the metadata and none can be inferred")
    return spec, config, sd


def load_generator(
    path_or_state_dict: str | os.PathLike | Mapping,
    *,
    device: str | torch.device | None = None,
    strict: bool = True,
    descriptor: bool = False,
) -> nn.Module | registry.ModelDescriptor:
    """Build and load a generator from any supported checkpoint; returns it in eval mode.

    Args:
        path_or_state_dict: a ``.safetensors`` file from ``save_generator``, a ``.pth``/``.pt``
            file in one of the supported key formats (a training checkpoint gives its EMA
            weights), an ncnn ``.param``, or an in-memory state dict.
        device: where the returned model lives; None (default) picks the best available device
            (``esrgan_lib.runtime.default_device()``: a GPU when one is visible, else the CPU).
        strict: missing/unexpected keys raise (default) or only warn.
        descriptor: return the ``esrgan_lib.models.ModelDescriptor`` (the model and its architecture
            name, scale, channels, size requirements, config) instead of the model alone.

    The model has ``.config`` (its constructor arguments) and ``.metadata`` (the file's metadata
    without the architecture and config: training recipe; for ncnn: format, storage, description; and
    ``source``: the file's absolute path, None for a state dict).

    Raises ``CheckpointError`` (a ``ValueError``) naming what was found when the file is not a
    generator (e.g. a discriminator), is incomplete, has NaN/Inf weights, has metadata that its
    tensors contradict, or has missing/extra keys or mismatching shapes; ``FileNotFoundError``.
    """
    meta: dict = {}
    if isinstance(path_or_state_dict, Mapping):
        raw, source = dict(path_or_state_dict), "state dict"
    else:
        raw, meta = read_file(path_or_state_dict)
        source = str(Path(path_or_state_dict))
    spec, config, sd = _spec_and_config(unwrap_state_dict(raw), meta, source)
    check_finite(sd, source)
    if device is None:
        from ..runtime import default_device

        device = default_device()
    try:  # keys and shapes against a model on the meta device first, then built on the device
        desc = spec.load(sd, config=config, device=device, strict=strict, source=source)
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    # where it came from: the file (``source``, absolute; None for a state dict) and its metadata
    desc.model.metadata = {k: v for k, v in meta.items() if k not in (META_ARCH, META_CONFIG)}
    from_file = not isinstance(path_or_state_dict, Mapping)
    desc.model.metadata["source"] = str(Path(path_or_state_dict).absolute()) if from_file else None
    return desc if descriptor else desc.model
