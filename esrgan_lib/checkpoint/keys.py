"""Key formats: which architecture a state dict belongs to, and renaming between formats.

Detection asks the model registry (``esrgan_lib.models.registry``): each generator's ``ArchSpec``
says whether it recognises a state dict (``detect``), how to rename it to the class's own keys
(``to_canonical``) and which constructor arguments its tensor shapes imply (``infer_config``).
RRDBNet's formats (BasicSR, official new arch, official old arch) are described in
``esrgan_lib.models.rrdbnet_formats``; spandrel/chaiNNer read all three.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..models import registry, rrdbnet_formats
from .io import CheckpointError, unwrap_state_dict

__all__ = ["describe_unknown", "detect_architecture", "to_canonical_keys", "to_basicsr_keys",
           "EXPORT_FORMATS"]

EXPORT_FORMATS = rrdbnet_formats.FORMATS


def describe_unknown(sd: Mapping) -> str:
    """What a state dict that no generator recognises seems to be, with a few of its keys."""
    keys = list(sd)
    guess = "not an ESRGAN generator"
    if any(k.startswith(("features.", "classifier.")) for k in keys):
        guess = "looks like a VGG/discriminator, not an ESRGAN generator"
    elif any(k.startswith(("conv0_0", "linear1")) for k in keys):
        guess = "looks like a BasicSR discriminator, not an ESRGAN generator"
    return f"found {len(keys)} tensors with keys like {', '.join(keys[:3]) or '(none)'}: {guess}"


def detect_architecture(sd: Mapping) -> registry.ArchSpec:
    """The registered generator spec that recognises ``sd`` (``CheckpointError`` if none does)."""
    spec = registry.detect_generator(sd)
    if spec is None:
        raise CheckpointError(describe_unknown(sd))
    return spec


def to_canonical_keys(spec: registry.ArchSpec, sd: Mapping) -> dict:
    """``sd`` renamed to ``spec.cls``'s own parameter names (``CheckpointError`` if it cannot be)."""
    if spec.to_canonical is None:
        return dict(sd)
    try:
        return spec.to_canonical(sd)
    except ValueError as e:
        raise CheckpointError(str(e)) from None


def to_basicsr_keys(sd: Mapping) -> dict:
    """Any RRDBNet key format (wrapped or not) -> BasicSR keys (the names ``RRDBNet`` uses)."""
    sd = unwrap_state_dict(sd)
    if not rrdbnet_formats.detect(sd):
        raise CheckpointError(describe_unknown(sd))
    return to_canonical_keys(registry.generator_spec("rrdbnet"), sd)
