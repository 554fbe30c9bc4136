"""Published ESRGAN-family weights: where they come from, what they are, and a checked download.

``PRETRAINED`` lists each file with its URL, its sha256 (or the hash prefix in its name, the only
checksum published), what it is, how it was trained and its licence. ``download_pretrained(name)``
downloads it with ``esrgan_lib.download.fetch`` (resumable; the sha256 or its prefix checked before the
file takes its name) into ``cache_dir()`` and checks a cached copy again before reuse. Load any of them
with ``load_generator(path)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..download import cache_home, fetch

__all__ = ["PretrainedWeights", "PRETRAINED", "download_pretrained", "download_official_esrgan", "cache_dir"]

_REAL_ESRGAN = "https://github.com/xinntao/Real-ESRGAN/releases/download"


@dataclass(frozen=True)
class PretrainedWeights:
    """One published weights file. ``sha256``: the full digest or a published prefix of it."""

    name: str
    filename: str
    url: str
    sha256: str
    description: str
    training: str
    paper: str
    license: str


PRETRAINED: dict[str, PretrainedWeights] = {w.name: w for w in (
    PretrainedWeights(
        name="esrgan_x4", filename="ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",
        url=f"{_REAL_ESRGAN}/v0.1.1/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth", sha256="ff704c30",
        description="the official ESRGAN generator (GAN stage), RRDBNet nf 64 nb 23 gc 32 x4, BasicSR keys",
        training="DIV2K + Flickr2K + OutdoorSceneTraining, bicubic x4 degradation",
        paper="Wang et al., ESRGAN, ECCV Workshops 2018", license="Apache-2.0 (xinntao/ESRGAN, BasicSR)"),
    PretrainedWeights(
        name="esrgan_psnr_x4", filename="ESRGAN_PSNR_SRx4_DF2K_official-150ff491.pth",
        url=("https://drive.usercontent.google.com/download?id=1swaV5iBMFfg-DL6ZyiARztbhutDCWXMM"
             "&export=download&confirm=t"),
        sha256="150ff491",
        description="the official PSNR-oriented RRDBNet (RRDB_PSNR_x4.pth in BasicSR keys), nf 64 nb 23 x4; "
                    "stage 1 of ESRGAN and the alpha=0 end of network interpolation",
        training="DIV2K + Flickr2K, bicubic x4 degradation, L1 loss only",
        paper="Wang et al., ESRGAN, ECCV Workshops 2018",
        license="Apache-2.0 (BasicSR; Google Drive link of its download_pretrained_models script)"),
    PretrainedWeights(
        name="realesrnet_x4plus", filename="RealESRNet_x4plus.pth",
        url=f"{_REAL_ESRGAN}/v0.1.1/RealESRNet_x4plus.pth",
        sha256="df35f2bff19ca942eef14a8f291e29e3b0e5a5db436f58e451968a69ad995b5c",
        description="Real-ESRNet x4plus: Real-ESRGAN's PSNR-oriented stage, same RRDBNet (nf 64 nb 23 x4)",
        training="DIV2K + Flickr2K + OST with Real-ESRGAN's high-order synthetic degradations (not bicubic)",
        paper="Wang et al., Real-ESRGAN, ICCV Workshops 2021", license="BSD-3-Clause (xinntao/Real-ESRGAN)"),
    PretrainedWeights(
        name="realesrgan_x4plus", filename="RealESRGAN_x4plus.pth",
        url=f"{_REAL_ESRGAN}/v0.1.0/RealESRGAN_x4plus.pth",
        sha256="4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
        description="Real-ESRGAN x4plus: GAN-trained RRDBNet (nf 64 nb 23 x4) for real-world photos",
        training="DIV2K + Flickr2K + OST with Real-ESRGAN's high-order synthetic degradations (not bicubic)",
        paper="Wang et al., Real-ESRGAN, ICCV Workshops 2021", license="BSD-3-Clause (xinntao/Real-ESRGAN)"),
)}


def cache_dir() -> Path:
    """Where weights are kept: ``weights/`` in ``esrgan_lib.download.cache_home()`` (``$ESRGAN_HOME``,
    else ``~/.cache/esrgan_lib``); nothing is created."""
    return cache_home() / "weights"


def download_pretrained(name: str, dest: str | os.PathLike | None = None, *, progress: bool = True) -> Path:
    """Download the weights ``name`` (a key of ``PRETRAINED``) with their checksum; returns the path.

    ``dest``: a folder (existing, or a path without a suffix) to put the file in under its published
    name, or a file path; default ``cache_dir()``. A verified file already there is reused without
    any network access. Raises ``ValueError`` for an unknown name or a checksum mismatch
    (``esrgan_lib.download.ChecksumError``; the bad file is removed) and
    ``esrgan_lib.download.DownloadError`` when the server cannot be reached.
    """
    entry = PRETRAINED.get(name)
    if entry is None:
        raise ValueError(f"unknown pretrained weights {name!r}; choose one of {', '.join(PRETRAINED)}")
    target = Path(dest) if dest is not None else cache_dir()
    if target.is_dir() or not target.suffix:
        target = target / entry.filename
    return fetch(entry.url, target, entry.sha256, progress=progress)


def download_official_esrgan(root: str | os.PathLike | None = None, *, progress: bool = True) -> Path:
    """The paper's ESRGAN x4 weights: ``download_pretrained("esrgan_x4", root, progress=progress)``.

    Kept as the short name notebook 10 and the README use; ``PRETRAINED["esrgan_x4"]`` says what
    the file is and where it comes from.
    """
    return download_pretrained("esrgan_x4", root, progress=progress)
