"""Network architectures: one per file.

- ``rrdbnet``: ``ResidualDenseBlock``, ``RRDB``, ``RRDBNet`` (the ESRGAN generator)
- ``srresnet``: ``SRResNet`` (SRGAN's generator)
- ``registry``: ``ArchSpec`` and the ``GENERATORS`` / ``DISCRIMINATORS`` registries (one spec per network)
- ``rrdbnet_formats``: RRDBNet's key formats (BasicSR, official new/old arch): detection, renaming,
  config inference
- ``discriminator``: ``VGGDiscriminator`` (the giakou4/gans ESRGAN README's critic / SRGAN's with
  ``batch_norm=True``), ``VGGStyleDiscriminator`` (BasicSR's 128x128 one, BasicSR's parameter names)
"""

from . import registry
from .discriminator import VGGDiscriminator, VGGStyleDiscriminator, has_batchnorm
from .registry import DISCRIMINATORS, GENERATORS, ArchSpec, discriminator_spec, generator_spec, spec_of
from .rrdbnet import RRDB, ResidualDenseBlock, RRDBNet, count_parameters, default_init_weights
from .srresnet import SRResNet

__all__ = [
    "registry",
    "ArchSpec",
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
