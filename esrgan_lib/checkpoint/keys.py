"""Key formats: which architecture a state dict belongs to, and renaming between formats.

Detection asks the model registry (``esrgan_lib.models.registry``): each generator's ``ArchSpec``
says whether it recognises a state dict (``detect``), how to rename it to the class's own keys
(``canonical``) and to the other tools' key formats it lists (``key_formats``, ``convert``). RRDBNet's
formats (BasicSR, official new arch, official old arch) are described in
``esrgan_lib.models.rrdbnet_formats``; spandrel/chaiNNer read all three.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..models import registry
from ..models.state_dict import unwrap_state_dict
from .io import CheckpointError

__all__ = ["BASICSR", "detect_architecture", "to_canonical_keys", "to_basicsr_keys"]

BASICSR = "basicsr"  # BasicSR's key format (and Real-ESRGAN's, spandrel's): an ArchSpec.key_formats entry


def detect_architecture(sd: Mapping) -> registry.ArchSpec:
    """The registered generator spec that recognises ``sd`` (else ``CheckpointError`` naming its keys)."""
    spec = registry.detect_generator(sd)
    if spec is None:
        raise CheckpointError(registry.describe_keys(unwrap_state_dict(sd)))
    return spec


def to_canonical_keys(spec: registry.ArchSpec, sd: Mapping) -> dict:
    """``sd`` renamed to ``spec.cls``'s own parameter names (``CheckpointError`` if it cannot be)."""
    try:
        return spec.canonical(sd)
    except ValueError as e:
        raise CheckpointError(str(e)) from None


def to_basicsr_keys(sd: Mapping) -> dict:
    """A generator's state dict in any key format (wrapped or not) -> BasicSR keys (``RRDBNet``'s own)."""
    spec = detect_architecture(sd)
    if BASICSR not in spec.key_formats:
        raise CheckpointError(f"{spec.cls.__name__} has no BasicSR key format (its: {spec.key_formats})")
    try:
        return spec.convert(sd, BASICSR)
    except ValueError as e:
        raise CheckpointError(str(e)) from None
