"""load_benchmark with known checksums: a missing or corrupt file raises, naming it (issue 10, item 17)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from _http_server import LocalServer
from PIL import Image

from esrgan_lib.data import benchmarks as bm
from esrgan_lib.data import load_benchmark


def _png_bytes(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(
        buf, "PNG"
    )
    return buf.getvalue()


def _fake_set5(tmp_path: Path, monkeypatch) -> dict[str, bytes]:
    """Three small PNGs in <tmp>/Set5 whose sha256 become Set5's known checksums."""
    files = {f"{n}.png": _png_bytes(k) for k, n in enumerate(("a", "b", "c"))}
    (tmp_path / "Set5").mkdir()
    for name, data in files.items():
        (tmp_path / "Set5" / name).write_bytes(data)
    sums = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    monkeypatch.setattr(bm, "BENCHMARK_SHA256", {**bm.BENCHMARK_SHA256, "Set5": sums})
    return files


def test_load_benchmark_refuses_a_corrupt_file_when_checksums_are_known(tmp_path, monkeypatch):
    files = _fake_set5(tmp_path, monkeypatch)
    assert list(load_benchmark("Set5", root=tmp_path)) == ["a", "b", "c"]
    (tmp_path / "Set5" / "b.png").write_bytes(files["b.png"][:-10] + b"0123456789")
    with pytest.raises(ValueError, match=r"b\.png"):
        load_benchmark("Set5", root=tmp_path)


def test_load_benchmark_refuses_a_missing_file_when_checksums_are_known(tmp_path, monkeypatch):
    _fake_set5(tmp_path, monkeypatch)
    (tmp_path / "Set5" / "c.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"c\.png"):
        load_benchmark("Set5", root=tmp_path)


def test_load_benchmark_with_download_repairs_a_corrupt_file(monkeypatch, tmp_path):
    files = _fake_set5(tmp_path, monkeypatch)
    (tmp_path / "Set5" / "b.png").write_bytes(b"not a png")
    with LocalServer({f"/CSet5/{n}": d for n, d in files.items()}) as srv:
        monkeypatch.setattr(bm, "GITHUB_BASE_URL", srv.url)
        got = load_benchmark("Set5", root=tmp_path, download=True)
        assert [path for path, _ in srv.requests] == ["/CSet5/b.png"]
    assert list(got) == ["a", "b", "c"]
