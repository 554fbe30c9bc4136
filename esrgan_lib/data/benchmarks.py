"""SR benchmark sets (Set5, Set14, BSD100, Urban100) and DIV2K (sub-images: see ``subimages``).

Images live in ``<root>/<name>/`` with ``root`` = the ``root`` argument, else ``default_data_root()``.
``load_benchmark(..., download=True)`` fetches missing sets (with ``esrgan_lib.download.fetch``):

- Set5 and Set14: one PNG at a time from GitHub ``majedelhelou/denoising_datasets`` (folders
  ``CSet5/`` and ``CSet14/``, pinned commit), each checked against the sha256 listed below;
- BSD100 and Urban100: the ``<name>_HR.tar.gz`` archives of the Hugging Face dataset repositories
  ``eugenesiow/<name>``. No published checksum is known for them, so they are **not verified**.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ..download import cache_home, extract_archive, fetch, sha256sum
from ..img_util import IMAGE_EXTENSIONS, list_images, read_image

__all__ = [
    "BENCHMARKS",
    "BENCHMARK_SHA256",
    "GITHUB_BASE_URL",
    "HF_BASE_URL",
    "DIV2K_BASE_URL",
    "DIV2K_FILES",
    "default_data_root",
    "load_benchmark",
    "download_benchmark",
    "download_div2k",
]

BENCHMARKS = ("Set5", "Set14", "BSD100", "Urban100")

# raw files of the GitHub repository at a pinned commit (2022-05-03): <base>/CSet5/baby.png ...
GITHUB_REPO = "majedelhelou/denoising_datasets"
GITHUB_COMMIT = "58234876fef6f1b56306705c78dfd40cdb837b86"
GITHUB_BASE_URL = f"https://raw.githubusercontent.com/{GITHUB_REPO}/{GITHUB_COMMIT}"
HF_BASE_URL = "https://huggingface.co/datasets/eugenesiow"  # <base>/<name>/resolve/main/data/<name>_HR.tar.gz
DIV2K_BASE_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K"

# sha256 of every HR file (PNG bytes as stored in the GitHub repository above)
BENCHMARK_SHA256 = {
    "Set5": {
        "baby.png": "cb85956d68f708a1030c790d143cbcd108f5ac5988d3349180cdcb54dd80597d",
        "bird.png": "5dcf863f7c3802e68fbb0fca2ec351052a1f97a4db613e510dbd105cee9a6a32",
        "butterfly.png": "487d841c9dbc46c7ab496c319ec1f13268de7ea7e02f94ae18781ca86a5abd0d",
        "head.png": "f524c1ce41641c1cf269a20c4dfbe965e07e471d609abc19dfadfb71037cc873",
        "woman.png": "f276625a222b9ce18d18d86e1ec603fea50427b7c0a2927b3750b1bb86a07b83",
    },
    "Set14": {
        "baboon.png": "bf6fb300762bcbe1340098b4309c179b2007c3bb81b7afde18c38a3ae70ac8a9",
        "barbara.png": "1ea77fe82564b55230d7c2439bef5738d18a4624280e263be48484c002b6280b",
        "bridge.png": "c0eb089ad3dacfa96ee79d9c112216265b36aaba205e06f80846b03b21884a53",
        "coastguard.png": "fc6c2acd5ca2116f37b1b38c0c2908ce64e2e414086fb43349c246d410669da6",
        "comic.png": "49ccc5e33deff33992b929b07549d803f176e01bf9f41b73de6b15437bc2280d",
        "face.png": "5cc7a1c5c013b46a7ab4850cb709974d26971550106375a36fd641c725bce9aa",
        "flowers.png": "609e9fc9ffd6c9689c6200a11e057c19e6e4ec5d385fe0d6eb59a7b24f327894",
        "foreman.png": "af4ad4771fd2def0a09ba0011e67225f10ad1590e85b48aab4f6820fa932b1ed",
        "lenna.png": "72d70a7a5051c6193f02b03decb6c7b1d336abe2d024f441a2384acaee84af55",
        "man.png": "ba7a7e45f690a542fc32fdefe1e04e0128d1cdf8c3817c1ee7b0300961636bfe",
        "monarch.png": "ed96187293a37c931250d137553928e1a9a63e31296b82a4968dde63683bb101",
        "pepper.png": "46339a09e2ae31d2f0513642607586a00d82feaf48dc3cc770e42be5684a11a9",
        "ppt3.png": "a9276fa3f7fbd4257ccede14d1004f836c10fcc2bac174b2428f43fe899b8f9d",
        "zebra.png": "af146347f19b1ab9f1da26113a88505d600e2dcb84bf91bb8e2013691e79bcc7",
    },
}

# split -> (file name, size in bytes, sha256)
DIV2K_FILES = {
    "train": (
        "DIV2K_train_HR.zip",
        3_530_603_713,
        "9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335",
    ),
    "valid": (
        "DIV2K_valid_HR.zip",
        448_993_893,
        "20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc",
    ),
}


def default_data_root() -> Path:
    """Where data sets live: ``$ESRGAN_DATA`` if set (a folder of your own for them), else ``datasets/``
    in ``esrgan_lib.download.cache_home()`` (``$ESRGAN_HOME``, else ``~/.cache/esrgan_lib``)."""
    env = os.environ.get("ESRGAN_DATA")
    return Path(env).expanduser() if env else cache_home() / "datasets"


def _check_name(name: str) -> str:
    for known in BENCHMARKS:
        if name.lower() == known.lower():
            return known
    raise ValueError(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")


def _has_images(folder: Path) -> bool:
    return folder.is_dir() and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in folder.iterdir())


def download_benchmark(name: str, root: str | os.PathLike | None = None, *, progress: bool = True) -> Path:
    """Download benchmark ``name`` into ``<root>/<name>/`` (skips files already there); returns the folder.

    ``progress`` shows a bar for the BSD100/Urban100 archives (Set5/Set14 files are small).
    """
    name = _check_name(name)
    folder = Path(root) if root is not None else default_data_root()
    folder = folder / name
    if name in BENCHMARK_SHA256:
        for fname, sha in BENCHMARK_SHA256[name].items():
            fetch(f"{GITHUB_BASE_URL}/C{name}/{fname}", folder / fname, sha, progress=False)
        return folder
    warnings.warn(
        f"{name}: no published checksum is known for {HF_BASE_URL}/{name}; the archive is not verified",
        stacklevel=2,
    )
    url = f"{HF_BASE_URL}/{name}/resolve/main/data/{name}_HR.tar.gz"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{name}-") as tmp:
        archive = fetch(url, Path(tmp) / f"{name}_HR.tar.gz", None, progress=progress)
        extracted = extract_archive(archive, Path(tmp) / "x")
        files = extracted.rglob("*")
        images = sorted(p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        if not images:
            raise ValueError(f"the archive {url} holds no image files")
        staged = Path(tmp) / name  # flattened, whatever folder layout the archive uses
        staged.mkdir()
        for p in images:
            os.replace(p, staged / p.name)
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        if not folder.exists():  # the whole set at once: no checksums would reveal a partial one
            os.replace(staged, folder)
        else:  # a folder of the user's: the images are added to it
            for p in staged.iterdir():
                os.replace(p, folder / p.name)
    return folder


def _verify_known_files(name: str, folder: Path) -> None:
    """Raise, naming the files, unless every file of ``name`` is in ``folder`` with its sha256."""
    sums = BENCHMARK_SHA256[name]
    missing = [f for f in sorted(sums) if not (folder / f).is_file()]
    if len(missing) == len(sums):
        raise FileNotFoundError(
            f"benchmark {name} not found: put its HR images in {folder} "
            f"(or set ESRGAN_DATA / pass root=...), or call load_benchmark({name!r}, download=True)"
        )
    fix = f"call load_benchmark({name!r}, download=True) to fetch them again"
    if missing:
        raise FileNotFoundError(f"benchmark {name} in {folder} lacks {', '.join(missing)}; {fix}")
    bad = [f for f in sorted(sums) if sha256sum(folder / f) != sums[f]]
    if bad:
        raise ValueError(
            f"benchmark {name}: {', '.join(bad)} in {folder} differ from the published files "
            f"(sha256 mismatch: corrupt or another version); {fix}"
        )


def load_benchmark(
    name: str, root: str | os.PathLike | None = None, download: bool = False
) -> dict[str, np.ndarray]:
    """HR images of a benchmark: ``{file stem: uint8 RGB array (H, W, 3)}``, sorted by name.

    ``name``: "Set5", "Set14", "BSD100" or "Urban100". Images are read from ``<root>/<name>/``
    (``root`` defaults to ``default_data_root()``); grayscale files come back as 3-channel RGB.
    With ``download=True`` a missing set is downloaded first (see the module docstring).
    Images are full size: trim with ``modcrop(img, scale)`` before making LR/HR pairs.
    For Set5 and Set14 every file is checked against its known sha256: a missing file raises
    ``FileNotFoundError`` and a corrupt one ``ValueError``, naming the files (a set with one image
    less would give scores that look comparable and are not); ``download=True`` repairs both.
    """
    name = _check_name(name)
    base = Path(root) if root is not None else default_data_root()
    folder = base / name
    if name in BENCHMARK_SHA256:  # every file known: all must be there and intact
        if download:
            download_benchmark(name, base)  # fetches missing files, replaces corrupt ones
        _verify_known_files(name, folder)
        return {Path(f).stem: read_image(folder / f) for f in sorted(BENCHMARK_SHA256[name])}
    if not _has_images(folder):
        if not download:
            raise FileNotFoundError(
                f"benchmark {name} not found: put its HR images in {folder} "
                f"(or set ESRGAN_DATA / pass root=...), or call load_benchmark({name!r}, download=True)"
            )
        download_benchmark(name, base)
    return {p.stem: read_image(p) for p in list_images(folder)}


def download_div2k(
    root: str | os.PathLike | None = None,
    split: str = "train",
    extract: bool = True,
    *,
    progress: bool = True,
) -> Path:
    """Download DIV2K HR images (train: 800 images, 3.5 GB; valid: 100 images, 449 MB).

    The zip is checked against its sha256 and, with ``extract=True``, unpacked to
    ``<root>/DIV2K_<split>_HR/`` (returned; the zip is then deleted). With ``extract=False`` the
    zip's path is returned. Existing complete files are not downloaded again.
    """
    if split not in DIV2K_FILES:
        raise ValueError(f"split must be one of {tuple(DIV2K_FILES)}, got {split!r}")
    fname, _size, sha = DIV2K_FILES[split]
    root = Path(root) if root is not None else default_data_root()
    folder = root / fname.removesuffix(".zip")
    if extract and _has_images(folder):
        return folder
    archive = fetch(f"{DIV2K_BASE_URL}/{fname}", root / fname, sha, progress=progress)
    if not extract:
        return archive
    extract_archive(archive, root)
    archive.unlink()
    return folder
