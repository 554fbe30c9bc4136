"""Network architectures: one per file.

- ``rrdbnet``: ``ResidualDenseBlock``, ``RRDB``, ``RRDBNet`` (the ESRGAN generator)
- ``srresnet``: ``SRResNet`` (SRGAN's generator)
- ``discriminator``: ``VGGDiscriminator`` (the seed's critic / SRGAN's with ``batch_norm=True``),
  ``VGGStyleDiscriminator`` (BasicSR's 128x128 one)
"""

from .discriminator import VGGDiscriminator, VGGStyleDiscriminator, has_batchnorm
from .rrdbnet import RRDB, ResidualDenseBlock, RRDBNet, count_parameters, default_init_weights
from .srresnet import SRResNet

__all__ = [
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
