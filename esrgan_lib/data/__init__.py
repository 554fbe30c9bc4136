"""Data for SR training and evaluation: image I/O, MATLAB-style bicubic degradation, patch datasets,
benchmark sets and robust downloads.

Importing this package does no I/O; images are read only when a function is called.
"""

from .benchmarks import (
    BENCHMARKS,
    default_data_root,
    download_benchmark,
    download_div2k,
    extract_subimages,
    load_benchmark,
)
from .datasets import SAMPLE_IMAGE_NAMES, SRPatchDataset, sample_images
from .degradation import bicubic_downsample, imresize
from .download import ChecksumError, DownloadError, download_file, extract_archive, sha256sum
from .io import list_images, modcrop, read_image, to_rgb_array, to_tensor, to_uint8
from .shards import ShardPatchDataset, prepare_shards
from .subimages import prepare_subimages

__all__ = [
    "read_image",
    "to_rgb_array",
    "list_images",
    "to_tensor",
    "to_uint8",
    "modcrop",
    "bicubic_downsample",
    "imresize",
    "SRPatchDataset",
    "sample_images",
    "SAMPLE_IMAGE_NAMES",
    "BENCHMARKS",
    "default_data_root",
    "load_benchmark",
    "download_benchmark",
    "download_div2k",
    "extract_subimages",
    "prepare_subimages",
    "prepare_shards",
    "ShardPatchDataset",
    "download_file",
    "extract_archive",
    "sha256sum",
    "DownloadError",
    "ChecksumError",
]
