"""Perceptual (VGG feature) loss.

ESRGAN compares super-resolved and ground-truth images in the feature space of an ImageNet-trained
VGG19: ``features[:35]`` ends at conv5_4 **before** its ReLU (the paper's choice: after the ReLU most
activations are zero, so the signal is sparse); SRGAN used the same layer
**after** the ReLU (``features[:36]``). BasicSR compares the features with L1, the giakou4/gans ESRGAN
README with MSE. The layers are torchvision's own: ``torchvision.models.vgg19(weights=None).features``.

The ImageNet weights are torchvision's ``VGG19_Weights.IMAGENET1K_V1`` file (``vgg19-dcbb9e9d.pth``,
548 MB; its name holds the start of its sha256). They are looked up in torch hub's cache
(``torch.hub.get_dir()/checkpoints``, where torchvision keeps them too), downloaded there with
``esrgan_lib.download.fetch`` when missing, or read from ``$ESRGAN_VGG_WEIGHTS``. Nothing is loaded at
import time.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import VGG19_Weights, vgg19

from ..download import DownloadError, fetch
from ..img_util import check_float_range

VGG19_URL = VGG19_Weights.IMAGENET1K_V1.url  # https://download.pytorch.org/models/vgg19-dcbb9e9d.pth
VGG19_FILENAME = VGG19_URL.rsplit("/", 1)[-1]  # torch hub's name-<sha256 prefix>.pth
VGG19_ENV_VAR = "ESRGAN_VGG_WEIGHTS"
DOWNLOAD_TIMEOUT = 20.0  # seconds per network operation (connect, each read)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _vgg19_conv_indices() -> dict[str, int]:
    """Map 'conv{block}_{k}' to the index of that conv in torchvision's ``vgg19().features``."""
    names, index = {}, 0
    for block, n_convs in enumerate((2, 2, 4, 4, 4), start=1):
        for k in range(1, n_convs + 1):
            names[f"conv{block}_{k}"] = index
            index += 2  # conv, relu
        index += 1  # max pool
    return names


VGG19_LAYERS = _vgg19_conv_indices()  # conv1_1 -> 0, ..., conv5_4 -> 34


def _vgg19_features(end: int, *, init: bool) -> nn.Sequential:
    """``torchvision.models.vgg19(weights=None).features[:end]``, allocated on the CPU.

    The whole VGG19 is built on the meta device (no memory, no time: its 400 MB classifier is never
    made) and only ``features[:end]`` is allocated. ``init=True`` initialises the convs as
    torchvision's ``VGG.__init__`` does (for random weights); otherwise the caller loads a state dict.
    The ReLUs are made out-of-place so a feature map a caller keeps is never overwritten.
    """
    with torch.device("meta"):
        layers = vgg19(weights=None).features[:end]
    layers = layers.to_empty(device="cpu")
    for m in layers:
        if isinstance(m, nn.ReLU):
            m.inplace = False
        elif isinstance(m, nn.Conv2d) and init:
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return layers


def imagenet_vgg19_path(*, download: bool = True) -> Path:
    """Path of torchvision's ImageNet VGG19 file, downloading it into torch hub's cache if needed.

    The download (``esrgan_lib.download.fetch``) checks the sha256 prefix in the file name and makes
    one attempt, so offline it fails at once; a transfer that breaks off keeps its ``.part`` file and
    the next call resumes it. Raises a one-line RuntimeError saying which file to put where.
    """
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    path = folder / VGG19_FILENAME
    if path.is_file():
        return path
    if download:
        match = torch.hub.HASH_REGEX.search(VGG19_FILENAME)
        prefix = match.group(1) if match else None
        try:
            return fetch(VGG19_URL, path, prefix, retries=0, timeout=DOWNLOAD_TIMEOUT)
        except (DownloadError, OSError) as err:
            reason = f"the download failed ({err})"
    else:
        reason = "download=False"
    raise RuntimeError(
        f"VGG19 ImageNet weights '{VGG19_FILENAME}' not found in {folder} and {reason}. "
        f"Download {VGG19_URL} and put it in {folder}, or set {VGG19_ENV_VAR}=/path/to/{VGG19_FILENAME}, "
        "or pass weights='/path/to/file.pth'. (weights=None gives random VGG features, which is NOT the "
        "paper's perceptual loss.)"
    )


def load_vgg19_features_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a VGG19 state dict and return the ``features`` part with keys like '0.weight', '34.bias'.

    Accepts torchvision's full model state dict (``features.*`` + ``classifier.*``, the classifier is
    dropped), a features-only one, with or without prefixes such as ``module.`` or ``vgg.``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VGG19 weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # legacy (non-zip) files cannot be memory-mapped
        state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    features = {}
    for key, value in state.items():
        parts = key.split(".")  # [prefixes...,] [features,] <index>, weight|bias
        if "classifier" in parts or len(parts) < 2 or not parts[-2].isdigit():
            continue
        features[f"{parts[-2]}.{parts[-1]}"] = value
    if not features:
        raise ValueError(f"{path}: no VGG19 feature weights found (keys start with {list(state)[:3]})")
    return features


class PerceptualLoss(nn.Module):
    """Distance between VGG19 feature maps of ``sr`` and ``hr``.

    Args:
        layer: VGG19 conv layer name, ``conv{1..5}_{k}`` (e.g. conv1_2, conv2_2, conv3_4, conv4_4,
            conv5_4). Default conv5_4.
        before_activation: True (ESRGAN paper, ``features[:35]`` for conv5_4) compares the conv output;
            False (SRGAN, ``features[:36]``) compares it after the ReLU.
        criterion: "l1" (BasicSR) or "mse" (the giakou4/gans ESRGAN README).
        weights: "imagenet" (torchvision's ImageNet file: ``$ESRGAN_VGG_WEIGHTS``, torch hub's cache,
            or a download), a path to a VGG19 state dict, or None for random weights (warns: that is
            not a perceptual loss, only a way to run code without the file).

    Attributes:
        weights_source: "imagenet", the path of the loaded file, or "random" (record it in metadata).

    Shapes: ``forward(sr, hr)`` takes two (B, 3, H, W) RGB tensors in [0, 1] and returns a scalar;
    gradients flow into ``sr`` only. The VGG is frozen and always in eval mode.
    """

    def __init__(
        self,
        layer: str = "conv5_4",
        before_activation: bool = True,
        criterion: str = "l1",
        weights: str | os.PathLike | None = "imagenet",
    ):
        super().__init__()
        if layer not in VGG19_LAYERS:
            raise ValueError(f"unknown VGG19 layer {layer!r}; choose one of {', '.join(VGG19_LAYERS)}")
        if criterion not in ("l1", "mse"):
            raise ValueError(f"criterion must be 'l1' or 'mse', got {criterion!r}")
        self.layer, self.before_activation, self.criterion = layer, before_activation, criterion
        end = VGG19_LAYERS[layer] + (1 if before_activation else 2)
        self.vgg = _vgg19_features(end, init=weights is None)

        if weights is None:
            warnings.warn(
                "PerceptualLoss(weights=None): VGG19 has RANDOM weights, so this is NOT the paper's "
                "perceptual loss (use only to test code paths).",
                UserWarning,
                stacklevel=2,
            )
            self.weights_source = "random"
        else:
            if weights == "imagenet":
                env = os.environ.get(VGG19_ENV_VAR)
                path, self.weights_source = (
                    (Path(env), str(Path(env))) if env else (imagenet_vgg19_path(), "imagenet")
                )
            else:
                path = Path(weights)
                self.weights_source = str(path)
            state = load_vgg19_features_state_dict(path)
            wanted = self.vgg.state_dict().keys()
            missing = [k for k in wanted if k not in state]
            if missing:
                raise ValueError(f"{path}: VGG19 weights lack {missing[:4]} (needed up to {layer})")
            self.vgg.load_state_dict({k: state[k] for k in wanted})

        self.vgg.requires_grad_(False)
        self.vgg.eval()
        self._range_checked = False
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.vgg.eval()  # frozen feature extractor: never in training mode
        return self

    @staticmethod
    def _check(x: torch.Tensor, name: str) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"{name} must be (B, 3, H, W) RGB in [0, 1], got shape {tuple(x.shape)}")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """VGG19 feature map of ``x`` ((B, 3, H, W) in [0, 1]) at the chosen layer: (B, C, H/k, W/k)."""
        self._check(x, "x")
        return self.vgg((x - self.mean) / self.std)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        self._check(sr, "sr")
        self._check(hr, "hr")
        if sr.shape != hr.shape:
            raise ValueError(f"sr and hr shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}")
        if not self._range_checked:  # first call only: the check is a host sync (a GPU stall)
            lo, hi = torch.aminmax(hr.detach())  # sr may overshoot (no output activation); hr may not
            check_float_range(lo.item(), hi.item(), "hr")
            self._range_checked = True
        sr_features = self.features(sr)
        with torch.no_grad():
            hr_features = self.features(hr)
        loss = F.l1_loss if self.criterion == "l1" else F.mse_loss
        return loss(sr_features, hr_features)

    def extra_repr(self) -> str:
        return (
            f"layer={self.layer}, before_activation={self.before_activation}, "
            f"criterion={self.criterion!r}, weights_source={self.weights_source!r}"
        )
