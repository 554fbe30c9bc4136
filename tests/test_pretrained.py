"""The published-weights table and its checksummed downloads (local HTTP server; no internet here),
and the device ``load_generator`` picks by default (issue 13)."""

import dataclasses
import hashlib
import re

import pytest
import torch
from _http_server import LocalServer  # the local HTTP server used by the download tests

from esrgan_lib import runtime
from esrgan_lib.checkpoint import (
    PRETRAINED,
    download_pretrained,
    export_generator,
    load_generator,
    pretrained,
)
from esrgan_lib.models import RRDBNet


def _weights_bytes(tmp_path):
    torch.manual_seed(0)
    path = export_generator(RRDBNet(nf=8, nb=1), tmp_path / "w.pth")
    return path.read_bytes()


def test_table_lists_the_published_weights_with_checksums():
    official = PRETRAINED["esrgan_x4"]
    assert official.url.endswith("/v0.1.1/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth")
    assert official.sha256 == "ff704c30"
    assert PRETRAINED["esrgan_psnr_x4"].sha256 == "150ff491"
    assert PRETRAINED["realesrnet_x4plus"].url.endswith("/v0.1.1/RealESRNet_x4plus.pth")
    assert PRETRAINED["realesrnet_x4plus"].sha256.startswith("df35f2bff19ca942")
    assert PRETRAINED["realesrgan_x4plus"].url.endswith("/v0.1.0/RealESRGAN_x4plus.pth")
    assert PRETRAINED["realesrgan_x4plus"].sha256.startswith("4fa0d38905f75ac0")
    for entry in PRETRAINED.values():
        assert entry.license and entry.training and entry.paper and entry.description
        _check_checksum(entry)


def _check_checksum(entry):
    """``sha256`` is a full digest (64 hex digits) or, only where the file name publishes one, the hash
    prefix in that name (BasicSR's ``name-<8 hex>.pth``, torch.hub's convention), which it must equal."""
    named = re.search(r"-([0-9a-f]{8,})\.pth$", entry.filename)
    if re.fullmatch(r"[0-9a-f]{64}", entry.sha256):
        assert named is None or entry.sha256.startswith(named[1]), entry.name
    else:
        assert named is not None and entry.sha256 == named[1], entry.name


@pytest.mark.parametrize("sha256, filename", [
    ("ff704c3g", "ESRGAN_SRx4_DF2KOST_official-ff704c3g.pth"),  # not hex
    ("ff704c30", "RealESRGAN_x4plus.pth"),  # a prefix the file name does not publish
    ("ff704c31", "ESRGAN_SRx4_DF2KOST_official-ff704c30.pth"),  # disagrees with the name
    ("0" * 64, "ESRGAN_SRx4_DF2KOST_official-ff704c30.pth"),
    ("ff704c30" + "0" * 55, "RealESRGAN_x4plus.pth"),  # 63 digits
])
def test_checksum_check_refuses_bad_entries(sha256, filename):
    entry = dataclasses.replace(PRETRAINED["esrgan_x4"], sha256=sha256, filename=filename)
    with pytest.raises(AssertionError):
        _check_checksum(entry)


@pytest.fixture
def served_table(tmp_path, monkeypatch):
    payload = _weights_bytes(tmp_path)
    digest = hashlib.sha256(payload).hexdigest()
    with LocalServer({"/good.pth": payload, "/bad.pth": payload + b"tampered"}) as srv:
        entry = dataclasses.replace(PRETRAINED["realesrnet_x4plus"], url=f"{srv.url}/good.pth",
                                    sha256=digest, filename="tiny.pth")
        table = {**PRETRAINED, "tiny": entry,
                 "tampered": dataclasses.replace(entry, url=f"{srv.url}/bad.pth")}
        monkeypatch.setattr(pretrained, "PRETRAINED", table)
        yield srv, payload


def test_download_checks_the_sha256_and_reuses_the_verified_file(tmp_path, served_table):
    srv, payload = served_table
    dest = tmp_path / "cache"
    path = download_pretrained("tiny", dest, progress=False)
    assert path == dest / "tiny.pth" and path.read_bytes() == payload
    assert isinstance(load_generator(path, device="cpu"), RRDBNet)
    n = len(srv.requests)
    assert download_pretrained("tiny", dest, progress=False) == path
    assert len(srv.requests) == n  # no second download
    path.write_bytes(b"corrupted on disk")
    assert download_pretrained("tiny", dest, progress=False).read_bytes() == payload  # fetched again


def test_bad_hash_is_refused_and_nothing_is_kept(tmp_path, served_table):
    dest = tmp_path / "cache"
    with pytest.raises(ValueError, match="sha256 does not start with"):
        download_pretrained("tampered", dest, progress=False)
    assert not dest.exists() or not any(dest.iterdir())


def test_download_to_a_file_path_and_unknown_names(tmp_path, served_table, monkeypatch):
    path = download_pretrained("tiny", tmp_path / "x" / "mine.pth", progress=False)
    assert path == tmp_path / "x" / "mine.pth" and path.is_file()
    monkeypatch.setenv("ESRGAN_HOME", str(tmp_path / "home"))
    assert download_pretrained("tiny", progress=False) == tmp_path / "home" / "weights" / "tiny.pth"
    with pytest.raises(ValueError, match="unknown pretrained weights 'nope'.*esrgan_x4"):
        download_pretrained("nope")


def test_an_interrupted_download_is_resumed_and_checked(tmp_path, served_table):
    srv, payload = served_table
    dest = tmp_path / "cache"
    dest.mkdir()
    (dest / "tiny.pth.part").write_bytes(payload[:1000])  # what an interrupted run leaves
    path = download_pretrained("tiny", dest, progress=False)
    assert path.read_bytes() == payload and not (dest / "tiny.pth.part").exists()
    assert srv.requests == [("/good.pth", "bytes=1000-")]  # only the rest was asked for


def test_load_generator_defaults_to_the_best_device(monkeypatch):
    calls = []

    def fake_default():
        calls.append(1)
        return torch.device("cpu")

    monkeypatch.setattr(runtime, "default_device", fake_default)
    sd = RRDBNet(nf=8, nb=1, gc=8).state_dict()
    model = load_generator(sd)
    assert calls and next(model.parameters()).device == torch.device("cpu")
    calls.clear()
    load_generator(sd, device="cpu")
    assert not calls  # an explicit device is used as given
