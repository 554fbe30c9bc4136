"""Network architectures: one per file.

- ``rrdbnet``: ``ResidualDenseBlock``, ``RRDB``, ``RRDBNet`` (the ESRGAN generator)
- ``srresnet``: ``SRResNet`` (SRGAN's generator)
- ``registry``: ``ArchSpec`` and the ``GENERATORS`` / ``DISCRIMINATORS`` registries (one spec per network):
  ``spec.detect(state_dict)``, ``spec.load(state_dict) -> ModelDescriptor`` (model, scale, channels,
  ``SizeRequirements``, config), ``registry.load`` for whichever generator is detected
- ``state_dict``: ``unwrap_state_dict`` (``params_ema`` / ``params`` / ``module.`` / training checkpoints)
- ``rrdbnet_formats``: RRDBNet's key formats (BasicSR, official new/old arch): detection, renaming,
  config inference
- ``discriminator``: ``VGGDiscriminator`` (the giakou4/gans ESRGAN README's critic / SRGAN's with
  ``batch_norm=True``), ``VGGStyleDiscriminator`` (BasicSR's 128x128 one, BasicSR's parameter names)
"""

from . import registry, state_dict
from .discriminator import VGGDiscriminator, VGGStyleDiscriminator, has_batchnorm
from .registry import (
    DISCRIMINATORS,
    GENERATORS,
    ArchSpec,
    ModelDescriptor,
    SizeRequirements,
    discriminator_spec,
    generator_spec,
    spec_of,
)
from .rrdbnet import RRDB, ResidualDenseBlock, RRDBNet, count_parameters, default_init_weights
from .srresnet import SRResNet

__all__ = [
    "registry",
    "state_dict",
    "ArchSpec",
    "ModelDescriptor",
    "SizeRequirements",
    "GENERATORS",
    "DISCRIMINATORS",
    "generator_spec",
    "discriminator_spec",
    "spec_of",
    "ResidualDenseBlock",
    "RRDB",
    "RRDBNet",
    "SRResNet",
    "VGGDiscriminator",
    "VGGStyleDiscriminator",
    "has_batchnorm",
    "count_parameters",
    "default_init_weights",
]
