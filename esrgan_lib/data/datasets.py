"""Training data: random aligned (LR, HR) patches, and the colour photos shipped with scikit-image.

``SRPatchDataset`` follows BasicSR's paired-image pipeline, with the LR made on the fly:

1. every HR image is trimmed to a multiple of ``scale``;
2. item ``i`` picks image ``i % n_images`` and a random HR crop ``hr_size x hr_size`` whose corner
   ``(y, x)`` is a multiple of ``scale``;
3. the LR patch is exactly the crop at ``(y / s, x / s)``, size ``hr_size / s``, of the LR image
   ``bicubic_downsample(HR)`` rounded to uint8 -- what the LR PNG files of DIV2K are. Only the HR region
   around the crop (plus a margin of ``3 * scale`` pixels that covers the bicubic kernel) is
   downsampled, so no full-size LR image is ever computed or stored, and the result equals cropping
   the full LR image;
4. with ``augment=True``: random horizontal flip, vertical flip and transpose (together: the 8
   rotations/flips of the square), applied to LR and HR alike;
5. with ``color_augment=True``: a random permutation of the RGB channels, applied to LR and HR alike.
   Bicubic degradation acts on each channel separately, so a permuted pair is still an exact
   (LR, HR) pair; it shows a small training set colours it lacks (six training photos with few
   saturated yellows and greens otherwise leave a colour cast on Set5's bird). Off by default, as in
   the ESRGAN paper.

Randomness is deterministic: item ``i`` in epoch ``e`` uses ``numpy.random.default_rng((seed, e, i))``,
so the same item is identical whichever DataLoader worker makes it. Call ``set_epoch(e)`` each epoch
(with ``persistent_workers=True`` the workers keep their own copy of the dataset and do not see
``set_epoch``: keep the default ``persistent_workers=False`` or make a new DataLoader per epoch).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..img_util import list_images, probe_image, read_image, to_rgb_uint8, to_tensor
from .degradation import bicubic_downsample

__all__ = ["SRPatchDataset", "sample_images", "SAMPLE_IMAGE_NAMES"]

# name -> (skimage.data function, index into its result when it returns a tuple)
_SKIMAGE_PHOTOS = {
    "astronaut": ("astronaut", None),
    "chelsea": ("chelsea", None),
    "coffee": ("coffee", None),
    "hubble_deep_field": ("hubble_deep_field", None),
    "ihc": ("immunohistochemistry", None),
    "motorcycle_left": ("stereo_motorcycle", 0),
    "motorcycle_right": ("stereo_motorcycle", 1),
    "retina": ("retina", None),
    "rocket": ("rocket", None),
}
SAMPLE_IMAGE_NAMES = tuple(_SKIMAGE_PHOTOS)


def sample_images(names: Sequence[str] | None = None) -> list[np.ndarray]:
    """The colour photos shipped inside scikit-image's wheel, as uint8 RGB arrays ``(H, W, 3)``.

    ``names`` is a subset of ``SAMPLE_IMAGE_NAMES`` (default: all nine, 300x451 up to 1411x1411
    pixels). Nothing is downloaded; the images are read only when this function is called.
    """
    import skimage.data  # imported lazily: importing esrgan_lib does no I/O

    names = SAMPLE_IMAGE_NAMES if names is None else ([names] if isinstance(names, str) else list(names))
    out = []
    for name in names:
        if name not in _SKIMAGE_PHOTOS:
            raise ValueError(f"unknown sample image {name!r}; choose from {', '.join(SAMPLE_IMAGE_NAMES)}")
        fn_name, index = _SKIMAGE_PHOTOS[name]
        img = getattr(skimage.data, fn_name)()
        img = np.asarray(img if index is None else img[index])
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        out.append(np.ascontiguousarray(img[:, :, :3], dtype=np.uint8))  # drop alpha if any
    return out


class SRPatchDataset(Dataset):
    """Random aligned (LR, HR) patches from HR images; LR by MATLAB-style bicubic (see module doc).

    Args:
        images_or_folder: a folder of images, a list of image paths, or a list of uint8 RGB arrays
            ``(H, W, 3)`` / PIL images (e.g. ``sample_images()``).
        scale: integer upscaling factor (LR side = HR side / scale).
        hr_size: side of the square HR patch; must be a multiple of ``scale``.
        augment: random flips and 90-degree rotations.
        color_augment: random permutation of the RGB channels (see the module doc, point 5).
        repeat: each image appears ``repeat`` times per epoch (``len = n_images * repeat``).
        seed: base seed; item ``i`` of epoch ``e`` uses the RNG seeded by ``(seed, e, i)``.
        cache: keep decoded images in memory. ``"auto"`` (default) caches when all decoded images
            together take at most 2 GiB; otherwise files are decoded each time they are used. Each
            DataLoader worker holds its own cache. For DIV2K-sized sets (about 7 GB decoded) use
            ``prepare_shards`` and ``ShardPatchDataset`` (decoded once, cropped from memory maps:
            the same items), or at least cut the images into tiles with ``prepare_subimages``.

    Items: ``(lr, hr)`` float32 tensors ``(3, hr_size/scale, hr_size/scale)`` and ``(3, hr_size, hr_size)``
    in [0, 1]. Every image must be at least ``hr_size`` on both sides (checked when constructed).
    """

    CACHE_LIMIT_BYTES = 2 << 30

    def __init__(
        self,
        images_or_folder,
        scale: int = 4,
        hr_size: int = 128,
        augment: bool = True,
        *,
        repeat: int = 1,
        seed: int = 0,
        cache: bool | str = "auto",
        color_augment: bool = False,
    ):
        self._set_options(scale, hr_size, augment, repeat, seed, color_augment)
        if isinstance(images_or_folder, (str, os.PathLike)):  # one pass over the headers only
            sources = list_images(images_or_folder, check="header")
        elif isinstance(images_or_folder, (np.ndarray, Image.Image)):
            sources = [images_or_folder]
        else:
            sources = list(images_or_folder)
        if not sources:
            raise ValueError("SRPatchDataset needs at least one image")

        self._paths: list[Path | None] = []
        self._cache: dict[int, np.ndarray] = {}
        sizes = []
        for i, src in enumerate(sources):
            if isinstance(src, (str, os.PathLike)):
                self._paths.append(Path(src))
                sizes.append(probe_image(src).shape[:2])  # the header, read once (remembered)
                name = str(src)
            else:
                arr = to_rgb_uint8(src) if isinstance(src, Image.Image) else np.asarray(src)
                if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
                    raise ValueError(
                        f"image {i}: expected a uint8 (H, W, 3) array, got {arr.dtype} {tuple(arr.shape)}"
                    )
                self._paths.append(None)
                self._cache[i] = arr
                sizes.append(arr.shape[:2])
                name = f"image {i}"
            h, w = sizes[-1]
            if h < self.hr_size or w < self.hr_size:
                raise ValueError(
                    f"{name} is {w}x{h} (W x H), smaller than hr_size={self.hr_size}; "
                    "use a smaller hr_size or drop the image"
                )
        self.sizes = sizes
        total = sum(h * w * 3 for h, w in sizes)
        self.cache = (total <= self.CACHE_LIMIT_BYTES) if cache == "auto" else bool(cache)

    def _set_options(self, scale, hr_size, augment, repeat, seed, color_augment) -> None:
        """Validate and store the sampling options (shared with subclasses)."""
        if isinstance(scale, bool) or int(scale) != scale or scale < 1:
            raise ValueError(f"scale must be an integer >= 1, got {scale!r}")
        if int(hr_size) != hr_size or hr_size < scale or hr_size % scale:
            raise ValueError(f"hr_size must be a positive multiple of scale={scale}, got {hr_size}")
        if int(repeat) != repeat or repeat < 1:
            raise ValueError(f"repeat must be an integer >= 1, got {repeat!r}")
        self.scale, self.hr_size, self.augment = int(scale), int(hr_size), bool(augment)
        self.color_augment = bool(color_augment)
        self.repeat, self.seed, self.epoch = int(repeat), int(seed), 0

    # ------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._paths) * self.repeat

    @property
    def n_images(self) -> int:
        return len(self._paths)

    def set_epoch(self, epoch: int) -> None:
        """Select the random crops/augmentations of ``epoch`` (call at the start of every epoch)."""
        self.epoch = int(epoch)

    def image(self, k: int) -> np.ndarray:
        """HR image ``k`` as a uint8 RGB array (decoded from disk, or from the cache)."""
        if k in self._cache:
            return self._cache[k]
        img = read_image(self._paths[k])
        if self.cache:
            self._cache[k] = img
        return img

    def patch_pair(self, k: int, y: int, x: int) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (LR, HR) patches of image ``k`` whose HR corner is ``(y, x)`` (multiples of scale).

        Shapes ``(hr_size/scale, hr_size/scale, 3)`` and ``(hr_size, hr_size, 3)``; no augmentation.
        """
        return self._crop_pair(self.image(k), y, x)

    def _crop_pair(self, hr_img: np.ndarray, y: int, x: int) -> tuple[np.ndarray, np.ndarray]:
        """HR crop at (y, x) and the aligned crop of the full image's bicubic LR (uint8 arrays)."""
        s, size = self.scale, self.hr_size
        h, w = hr_img.shape[0] - hr_img.shape[0] % s, hr_img.shape[1] - hr_img.shape[1] % s
        margin = 3 * s  # covers the antialiased bicubic kernel (half-width 2 * s, plus rounding)
        y0, x0 = max(0, y - margin), max(0, x - margin)
        y1, x1 = min(h, y + size + margin), min(w, x + size + margin)
        lr_region = bicubic_downsample(np.ascontiguousarray(hr_img[y0:y1, x0:x1]), s)
        ly, lx = (y - y0) // s, (x - x0) // s
        lr = lr_region[ly : ly + size // s, lx : lx + size // s]
        return lr, hr_img[y : y + size, x : x + size]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of length {len(self)}")
        rng = np.random.default_rng((self.seed, self.epoch, index))
        k, s = index % self.n_images, self.scale
        h, w = self.sizes[k][0] - self.sizes[k][0] % s, self.sizes[k][1] - self.sizes[k][1] % s
        y = s * int(rng.integers(0, (h - self.hr_size) // s + 1))
        x = s * int(rng.integers(0, (w - self.hr_size) // s + 1))
        lr, hr = self.patch_pair(k, y, x)
        if self.augment:
            hflip, vflip, transpose = rng.random(3) < 0.5
            if hflip:
                lr, hr = lr[:, ::-1], hr[:, ::-1]
            if vflip:
                lr, hr = lr[::-1], hr[::-1]
            if transpose:
                lr, hr = lr.transpose(1, 0, 2), hr.transpose(1, 0, 2)
        if self.color_augment:  # drawn after the flips: turning it on leaves the crops unchanged
            perm = rng.permutation(3)
            lr, hr = lr[:, :, perm], hr[:, :, perm]
        return to_tensor(lr), to_tensor(hr)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_images={self.n_images}, scale={self.scale}, hr_size={self.hr_size}, "
            f"augment={self.augment}, color_augment={self.color_augment}, repeat={self.repeat}, "
            f"seed={self.seed}, epoch={self.epoch})"
        )
