"""Published ESRGAN-family weights: where they come from, what they are, and a checked download.

``PRETRAINED`` lists each file with its URL, its sha256 (or the hash prefix in its name, the only
checksum published), what it is, how it was trained and its licence. ``download_pretrained(name)``
downloads with ``torch.hub.download_url_to_file(hash_prefix=...)`` (temp file, hash check, then a
rename: a bad download never takes the final name) and checks a cached copy again before reuse.
Load any of them with ``load_generator(path)``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PretrainedWeights", "PRETRAINED", "download_pretrained", "download_official_esrgan",
           "cache_dir", "OFFICIAL_X4_URL", "OFFICIAL_X4_SHA256_PREFIX"]

_REAL_ESRGAN = "https://github.com/xinntao/Real-ESRGAN/releases/download"
OFFICIAL_X4_URL = f"{_REAL_ESRGAN}/v0.1.1/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth"
OFFICIAL_X4_SHA256_PREFIX = "ff704c30"


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
        name="esrgan_x4", filename="ESRGAN_SRx4_DF2KOST_official-ff704c30.pth", url=OFFICIAL_X4_URL,
        sha256=OFFICIAL_X4_SHA256_PREFIX,
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
    """Where weights are kept: ``$ESRGAN_HOME`` or ``~/.cache/esrgan_lib`` (nothing is created)."""
    return Path(os.environ.get("ESRGAN_HOME") or Path.home() / ".cache" / "esrgan_lib")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch_checked(url: str, dest: Path, expected: str, *, progress: bool) -> Path:
    """``dest`` holding ``url``'s bytes whose sha256 starts with ``expected`` (ValueError if not).

    A cached ``dest`` is re-hashed; a bad one is deleted and downloaded again.
    """
    import torch.hub

    if dest.is_file():
        if _sha256(dest).startswith(expected):
            return dest
        dest.unlink()
    if dest.is_dir():
        raise IsADirectoryError(f"{dest} is a folder; pass a file path or the folder to download into")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(dest), hash_prefix=expected, progress=progress)
    except RuntimeError as e:
        if "invalid hash value" not in str(e):
            raise
        raise ValueError(
            f"{dest.name}: the downloaded file's sha256 does not start with {expected} ({e}); the download "
            "is corrupt or not the published file (nothing was kept, try again)"
        ) from None
    return dest


def download_pretrained(name: str, dest: str | os.PathLike | None = None, *, progress: bool = True) -> Path:
    """Download the weights ``name`` (a key of ``PRETRAINED``) with their checksum; returns the path.

    ``dest``: a folder (existing, or a path without a suffix) to put the file in under its published
    name, or a file path; default ``cache_dir()``. A verified file already there is reused without
    any network access. Raises ``ValueError`` for an unknown name or a checksum mismatch (the bad
    file is removed) and ``OSError`` (``urllib.error.URLError``) when the server cannot be reached.
    """
    entry = PRETRAINED.get(name)
    if entry is None:
        raise ValueError(f"unknown pretrained weights {name!r}; choose one of {', '.join(PRETRAINED)}")
    target = Path(dest) if dest is not None else cache_dir()
    if target.is_dir() or not target.suffix:
        target = target / entry.filename
    return _fetch_checked(entry.url, target, entry.sha256, progress=progress)


def download_official_esrgan(root: str | os.PathLike | None = None, *, progress: bool = True) -> Path:
    """Fetch the official ESRGAN x4 weights (BasicSR format, 64 nf, 23 nb) and return the path.

    Source: the Real-ESRGAN v0.1.1 GitHub release (``OFFICIAL_X4_URL``). The only checksum published
    is the file name's ``ff704c30``, the start of its sha256: a file whose hash does not start with it
    is removed and ``ValueError`` raised. ``root`` defaults to ``cache_dir()``; an already downloaded,
    verified file is reused. Load it with ``load_generator(path)``.
    """
    root = Path(root) if root is not None else cache_dir()
    dest = root / OFFICIAL_X4_URL.rsplit("/", 1)[-1]
    return _fetch_checked(OFFICIAL_X4_URL, dest, OFFICIAL_X4_SHA256_PREFIX, progress=progress)
