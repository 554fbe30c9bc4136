"""Data for SR training and evaluation: MATLAB-style bicubic degradation, patch datasets, decode-once
shards, sub-images and benchmark sets.

Reading, writing and listing image files, and the array/tensor conversions, live in
``esrgan_lib.img_util``; the names the notebooks use from here (``read_image``, ``list_images``,
``to_tensor``, ``to_uint8``) are that module's. Downloads go through ``esrgan_lib.download.fetch``.
Importing this package does no I/O; images are read only when a function is called.
"""

from ..img_util import list_images, read_image, to_tensor, to_uint8
from .benchmarks import BENCHMARKS, default_data_root, download_benchmark, download_div2k, load_benchmark
from .datasets import SAMPLE_IMAGE_NAMES, SRPatchDataset, sample_images
from .degradation import bicubic_downsample, imresize, modcrop
from .shards import ShardPatchDataset, prepare_shards, shard_index_path
from .subimages import SUBIMAGE_SIZE, SUBIMAGE_STEP, extract_subimages, prepare_subimages

__all__ = [
    "read_image",
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
    "SUBIMAGE_SIZE",
    "SUBIMAGE_STEP",
    "prepare_shards",
    "ShardPatchDataset",
    "shard_index_path",
]
