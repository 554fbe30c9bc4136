"""fetch and extract_archive against a local HTTP server on 127.0.0.1 (no internet needed)."""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import zipfile

import pytest
from _http_server import LocalServer

from esrgan_lib.download import ChecksumError, DownloadError, extract_archive, fetch

FAST = {"retries": 2, "timeout": 5, "backoff": 0.01, "progress": False, "chunk": 4096}


def _payload(n: int = 50_000, seed: int = 0) -> bytes:
    return bytes((i * 7919 + seed) % 251 for i in range(n))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def server():
    data = _payload()
    with LocalServer({"/file.bin": data}) as srv:
        srv.data = data
        yield srv


def test_full_download_with_checksum(server, tmp_path):
    dest = fetch(f"{server.url}/file.bin", tmp_path / "sub" / "f.bin", _sha(server.data), **FAST)
    assert dest == tmp_path / "sub" / "f.bin"
    assert dest.read_bytes() == server.data
    assert not (tmp_path / "sub" / "f.bin.part").exists()
    assert server.requests == [("/file.bin", None)]


def test_existing_file_with_right_checksum_is_not_downloaded_again(server, tmp_path):
    dest = tmp_path / "f.bin"
    dest.write_bytes(server.data)
    fetch(f"{server.url}/file.bin", dest, _sha(server.data), **FAST)
    assert server.requests == []
    # a stale copy with the wrong content is replaced
    dest.write_bytes(b"old")
    fetch(f"{server.url}/file.bin", dest, _sha(server.data), **FAST)
    assert dest.read_bytes() == server.data and len(server.requests) == 1


def test_resume_from_partial_file_uses_range(server, tmp_path):
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(server.data[:12_345])
    fetch(f"{server.url}/file.bin", dest, _sha(server.data), **FAST)
    assert dest.read_bytes() == server.data
    assert server.requests == [("/file.bin", "bytes=12345-")]


def test_complete_part_file_gets_416_and_is_kept(server, tmp_path):
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(server.data)
    fetch(f"{server.url}/file.bin", dest, _sha(server.data), **FAST)
    assert dest.read_bytes() == server.data


def test_server_ignoring_range_restarts_from_scratch(server, tmp_path):
    server.ignore_range = True
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(b"X" * 1000)  # garbage that must not survive
    fetch(f"{server.url}/file.bin", dest, _sha(server.data), **FAST)
    assert dest.read_bytes() == server.data
    assert server.requests == [("/file.bin", "bytes=1000-")]


def test_interrupted_connection_is_retried_and_resumed(server, tmp_path):
    server.cut_after = [10_000, 5_000]  # two dropped connections, then a full answer
    dest = fetch(f"{server.url}/file.bin", tmp_path / "f.bin", _sha(server.data), **FAST)
    assert dest.read_bytes() == server.data
    assert [r for _, r in server.requests] == [None, "bytes=10000-", "bytes=15000-"]


def test_interruptions_beyond_retries_keep_part_file(server, tmp_path):
    server.cut_after = [1000] * 10
    with pytest.raises(DownloadError, match="after 2 attempt"):
        fetch(f"{server.url}/file.bin", tmp_path / "f.bin", None, **{**FAST, "retries": 1})
    assert not (tmp_path / "f.bin").exists()
    assert (tmp_path / "f.bin.part").stat().st_size == 2000  # resumable later


def test_wrong_checksum_raises_and_leaves_no_file(server, tmp_path):
    dest = tmp_path / "f.bin"
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        fetch(f"{server.url}/file.bin", dest, "0" * 64, **FAST)
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


def test_404_is_a_clear_error_without_retries(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404.*missing.bin"):
        fetch(f"{server.url}/missing.bin", tmp_path / "m.bin", None, **FAST)
    assert len(server.requests) == 1
    assert not (tmp_path / "m.bin").exists()


def test_unreachable_port_fails_after_retries(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: connection refused
    with pytest.raises(DownloadError, match="after 3 attempt"):
        fetch(f"http://127.0.0.1:{port}/x.bin", tmp_path / "x.bin", None, **FAST)
    assert not (tmp_path / "x.bin").exists()


def test_progress_bar_does_not_break_download(server, tmp_path):
    dest = fetch(
        f"{server.url}/file.bin", tmp_path / "f.bin", _sha(server.data), **{**FAST, "progress": True}
    )
    assert dest.read_bytes() == server.data


# ---------------------------------------------------------------------------------- extraction


def _make_tar(path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def test_extract_zip_and_targz(tmp_path):
    members = {"top/a.txt": b"alpha", "top/sub/b.bin": _payload(300)}
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    _make_tar(tmp_path / "x.tar.gz", members)
    for archive in ("x.zip", "x.tar.gz"):
        out = extract_archive(tmp_path / archive, tmp_path / f"out_{archive}")
        for name, data in members.items():
            assert (out / name).read_bytes() == data
        assert sorted(p.name for p in out.iterdir()) == ["top"]  # the temporary folder is gone


@pytest.mark.parametrize("bad", ["../evil.txt", "/tmp/evil_abs.txt", "ok/../../evil.txt"])
def test_extract_refuses_paths_escaping_the_target(tmp_path, bad):
    _make_tar(tmp_path / "bad.tar.gz", {"fine.txt": b"x", bad: b"evil"})
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as zf:
        zf.writestr("fine.txt", b"x")
        zf.writestr(bad, b"evil")
    for archive in ("bad.tar.gz", "bad.zip"):
        with pytest.raises(ValueError, match="outside"):
            extract_archive(tmp_path / archive, tmp_path / "out")
        assert not (tmp_path / "out" / "fine.txt").exists()  # refused before writing anything
    assert not (tmp_path / "evil.txt").exists()


def test_extract_refuses_symlink_out_of_target(tmp_path):
    with tarfile.open(tmp_path / "link.tar", "w") as tf:
        info = tarfile.TarInfo("link")
        info.type = tarfile.SYMTYPE
        info.linkname = "../../etc/passwd"
        tf.addfile(info)
    with pytest.raises(ValueError, match="outside"):
        extract_archive(tmp_path / "link.tar", tmp_path / "out")


def test_extract_rejects_non_archive(tmp_path):
    (tmp_path / "plain.txt").write_text("not an archive")
    with pytest.raises(ValueError, match="not a zip or tar"):
        extract_archive(tmp_path / "plain.txt", tmp_path / "out")


# ------------------------------------------------------------------- issue 10, items 8 and 18


@pytest.mark.parametrize("start", [0, 7])
def test_206_from_another_offset_does_not_corrupt_a_resume(server, tmp_path, start):
    server.range_start = start  # the server answers 206 but from byte `start`, not the one asked
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(server.data[:12_345])
    fetch(f"{server.url}/file.bin", dest, None, **FAST)  # no sha256 to catch it
    assert dest.read_bytes() == server.data


def test_206_mismatch_with_only_one_attempt_leaves_a_restartable_state(server, tmp_path):
    server.range_start = 9
    part = tmp_path / "f.bin.part"
    part.write_bytes(server.data[:12_345])
    with pytest.raises(DownloadError, match="restart"):
        fetch(f"{server.url}/file.bin", tmp_path / "f.bin", None, **{**FAST, "retries": 0})
    assert not part.exists() or server.data.startswith(part.read_bytes())


def test_dest_that_is_a_directory_is_a_clear_error(server, tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder.*file path"):
        fetch(f"{server.url}/file.bin", tmp_path / "d", None, **FAST)
    assert server.requests == []


def test_connection_refused_does_not_claim_a_partial_file(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(DownloadError) as info:
        fetch(f"http://127.0.0.1:{port}/x.bin", tmp_path / "x.bin", None, **FAST)
    assert "partial file" not in str(info.value) and "Nothing was downloaded" in str(info.value)
    assert not (tmp_path / "x.bin.part").exists()


# ------------------------------------------------------------- issue 18: one fetch, hash prefixes


def test_a_sha256_prefix_is_checked_like_a_full_digest(server, tmp_path):
    url, prefix = f"{server.url}/file.bin", _sha(server.data)[:8]
    dest = fetch(url, tmp_path / "f-prefix.bin", prefix.upper(), **FAST)
    assert dest.read_bytes() == server.data
    assert fetch(url, dest, prefix, **FAST) == dest and len(server.requests) == 1  # verified, not fetched
    wrong = "00000000" if not prefix.startswith("00000000") else "11111111"
    message = rf"file\.bin -> .*g\.bin: its sha256 does not start with {wrong}"
    with pytest.raises(ChecksumError, match=message):
        fetch(url, tmp_path / "g.bin", wrong, **FAST)
    assert isinstance(ChecksumError("x"), ValueError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f-prefix.bin"]  # nothing kept of the bad one


@pytest.mark.parametrize("bad", ["abc", "not-hex!", "0" * 65, ""])
def test_a_malformed_sha256_is_refused_before_any_request(server, tmp_path, bad):
    with pytest.raises(ValueError, match="sha256 must be 8 to 64 hex digits"):
        fetch(f"{server.url}/file.bin", tmp_path / "f.bin", bad, **FAST)
    assert server.requests == [] and not any(tmp_path.iterdir())


def test_errors_name_the_url_and_the_file(server, tmp_path):
    with pytest.raises(DownloadError) as info:
        fetch(f"{server.url}/missing.bin", tmp_path / "m.bin", None, **FAST)
    message = str(info.value)
    assert "\n" not in message and "missing.bin" in message and str(tmp_path / "m.bin") in message
