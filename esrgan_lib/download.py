"""Downloads: the one function ``fetch`` (resumable, retried, checksummed, atomic), the cache folder,
and safe archive extraction. Only the standard library; nothing happens at import.

``fetch(url, dest, sha256)`` streams to ``<dest>.part``. If that file exists (an earlier run was
interrupted) it asks the server for the rest with an HTTP ``Range`` request, and starts over if the
server ignores it (answers 200 instead of 206) or answers 206 from another byte than the one asked
(``Content-Range``). Connection errors are retried with exponential backoff, each retry resuming where
the last one stopped. At the end the sha256 is checked (the full digest, or a prefix such as the 8 hex
digits in ``ESRGAN_SRx4_DF2KOST_official-ff704c30.pth`` or torchvision's ``vgg19-dcbb9e9d.pth``) and the
file is renamed to ``dest`` in one step: ``dest`` is either absent or complete and checked. It is used
by the VGG19 weights of the perceptual loss, the published generator weights
(``esrgan_lib.checkpoint.download_pretrained``) and the data sets (``esrgan_lib.data``).

The cache: ``cache_home()`` is ``$ESRGAN_HOME``, else ``~/.cache/esrgan_lib``; published weights go to
its ``weights/`` folder and data sets to its ``datasets/`` folder, unless ``$ESRGAN_DATA`` names
another folder for the data sets (``esrgan_lib.data.default_data_root``). The VGG19 file stays in
torch hub's cache (``torch.hub.get_dir()/checkpoints``), where torchvision looks for it too.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

__all__ = ["ChecksumError", "DownloadError", "cache_home", "sha256sum", "fetch", "extract_archive"]

USER_AGENT = "esrgan_lib-downloader/0.1"


class DownloadError(RuntimeError):
    """A download failed for good (HTTP error, or connection errors after all retries)."""


class ChecksumError(DownloadError, ValueError):
    """The downloaded file's sha256 is not the expected one (the bad file is deleted)."""


def cache_home() -> Path:
    """``$ESRGAN_HOME`` if set, else ``~/.cache/esrgan_lib`` (nothing is created)."""
    env = os.environ.get("ESRGAN_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "esrgan_lib"


def sha256sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 (64 lower-case digits) of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _progress_bar(total: int | None, initial: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=desc)


def _range_start(content_range: str | None) -> int | None:
    """First byte of a ``Content-Range: bytes START-END/TOTAL`` header, or None if unparsable."""
    unit, _, spec = (content_range or "").strip().partition(" ")
    start = spec.partition("-")[0].strip()
    return int(start) if unit.lower() == "bytes" and start.isdigit() else None


def _attempt(url: str, part: Path, desc: str, *, timeout: float, progress: bool, chunk: int) -> None:
    """One attempt: append the rest of ``url`` to ``part`` (or rewrite it if Range is ignored)."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # our partial file is already complete (or longer than the file)
            length = e.headers.get("Content-Range", "").rpartition("/")[2]
            if length.isdigit() and int(length) == have:
                return
            part.unlink()  # inconsistent partial file: start over on the next attempt
            raise ConnectionError(f"server refused the resume request for {url}; restarting") from e
        raise
    with response:
        start = _range_start(response.headers.get("Content-Range"))
        if have and response.status == 206 and start == have:
            mode = "ab"
        elif have and response.status == 206 and start != 0:  # a part we cannot place: start over
            part.unlink()
            raise ConnectionError(
                f"{url} answered the resume request from byte {start}, not {have}; restarting from zero"
            )
        else:  # 200 (Range ignored, or nothing to resume) or 206 from byte 0: the whole file
            mode, have = "wb", 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None and length.isdigit() else None
        bar = _progress_bar(total, have, desc, progress)
        received = 0
        try:
            with open(part, mode) as f:
                while block := response.read(chunk):
                    f.write(block)
                    received += len(block)
                    if bar is not None:
                        bar.update(len(block))
        finally:
            if bar is not None:
                bar.close()
        if length is not None and length.isdigit() and received < int(length):
            raise ConnectionError(f"connection closed after {received} of {length} bytes from {url}")


def _give_up_message(url: str, dest: Path, part: Path, attempts: int, error: Exception) -> str:
    """The final error text: mention the partial file only when there is one to resume."""
    if part.exists() and part.stat().st_size > 0:
        advice = f"The partial file {part} is kept; run again to resume."
    else:
        advice = "Nothing was downloaded; check the URL and the network, then run again."
    return f"could not download {url} to {dest} after {attempts} attempt(s): {error}. {advice}"


def _expected(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    expected = sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{8,64}", expected):
        raise ValueError(f"sha256 must be 8 to 64 hex digits (a digest or its start), got {sha256!r}")
    return expected


def fetch(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    *,
    progress: bool = True,
    retries: int = 3,
    timeout: float = 30.0,
    backoff: float = 1.0,
    chunk: int = 1 << 20,
) -> Path:
    """Download ``url`` to the file ``dest`` (resumable, retried, checked, atomic); returns ``Path(dest)``.

    Args:
        url: http(s) URL.
        dest: the file to write; parent folders are created. A folder raises ``IsADirectoryError``.
        sha256: the expected hex sha256: the full digest or its first 8+ digits (a published prefix).
            If ``dest`` already exists and its sha256 matches, nothing is downloaded; a ``dest`` that
            does not match is deleted and downloaded again; with ``sha256=None`` an existing ``dest``
            is trusted as is. A download that does not match raises ``ChecksumError`` (a
            ``ValueError``) and is deleted.
        progress: show a tqdm progress bar.
        retries: extra attempts after a connection error or timeout (each resumes the partial file
            ``<dest>.part``), waiting ``backoff * 2**k`` seconds before retry ``k``. HTTP errors such
            as 404 are not retried.
        timeout: seconds for the connection and for each read of this download (no global setting
            is touched).
        chunk: read size in bytes.

    Raises ``DownloadError`` (one line naming the URL and the file) when the server answers with an
    HTTP error or cannot be reached after all attempts; the ``.part`` file is kept for a later resume.
    """
    dest = Path(dest)
    expected = _expected(sha256)
    if dest.is_dir():
        raise IsADirectoryError(
            f"download destination {dest} is a folder: pass a file path, e.g. {dest / 'name'}"
        )
    if dest.exists():
        if expected is None or sha256sum(dest).startswith(expected):
            return dest
        dest.unlink()  # stale or corrupt copy: download again
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")

    for attempt in range(retries + 1):
        try:
            _attempt(url, part, dest.name, timeout=timeout, progress=progress, chunk=chunk)
            break
        except urllib.error.HTTPError as e:
            raise DownloadError(f"HTTP {e.code} {e.reason} while downloading {url} to {dest}") from e
        except (OSError, http.client.HTTPException) as e:  # URLError, timeouts, resets, IncompleteRead
            if attempt == retries:
                raise DownloadError(_give_up_message(url, dest, part, retries + 1, e)) from e
            time.sleep(backoff * 2**attempt)

    if expected is not None:
        got = sha256sum(part)
        if not got.startswith(expected):
            part.unlink()
            raise ChecksumError(
                f"checksum mismatch for {url} -> {dest}: its sha256 does not start with {expected} "
                f"(it is {got}); the download was deleted: run again, or check the URL"
            )
    os.replace(part, dest)
    return dest


# ------------------------------------------------------------------------------------------ archives


def _check_member(root: Path, name: str, shown: Path) -> None:
    """Refuse archive member ``name`` if extracting it under ``root`` would land outside ``root``."""
    target = (root / name).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ValueError(f"refusing to extract {name!r}: it would be written outside {shown}")


def extract_archive(archive: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Extract a .zip, .tar, .tar.gz/.tgz or .tar.bz2/.tar.xz archive into ``out_dir``; returns it.

    Members with absolute paths, ``..`` components or links pointing outside ``out_dir`` are
    refused (``ValueError``) before anything is written. The archive is extracted into a hidden
    temporary folder inside ``out_dir`` first and its entries are moved into place at the end, so
    an interrupted extraction never leaves half-written entries in ``out_dir``. Existing entries
    in ``out_dir`` are kept; an entry of the same name is replaced.
    """
    archive, out_dir = Path(archive), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=out_dir))  # same file system: cheap moves
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    _check_member(tmp, name, out_dir)
                zf.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                for m in members:
                    _check_member(tmp, m.name, out_dir)
                    if m.issym() or m.islnk():
                        link = m.linkname if m.islnk() else str(Path(m.name).parent / m.linkname)
                        _check_member(tmp, link, out_dir)
                    if m.isdev():
                        raise ValueError(f"refusing to extract device file {m.name!r} from {archive}")
                if hasattr(tarfile, "data_filter"):
                    tf.extractall(tmp, members=members, filter="data")
                else:  # Python < 3.12 without the filter backport: members were checked above
                    tf.extractall(tmp, members=members)
        else:
            raise ValueError(f"{archive}: not a zip or tar archive")
        for entry in tmp.iterdir():
            target = out_dir / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            os.replace(entry, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
