"""Notebook 09's ``gpu`` profile, the Colab finale, rehearsed end to end on a CPU at toy sizes.

The notebook runs unedited with ``ESRGAN_PROFILE=gpu``. One cell is slipped in after its SETTINGS cell to
shrink the runs (smoke-sized models, 4 steps each of ESRGAN, SRResNet and SRGAN), to point ``runs_root`` at a
rehearsal "Drive" in ``tmp_path`` and the finale's downloads at a server on 127.0.0.1: a small DIV2K-like zip
(with its sha256), tiny "official PSNR" weights (with theirs), no VGG19. ``patch_cell``, ``rehearsal_files``
and ``GPU_PROFILE_ON_CPU`` are module-level so other rehearsals (notebook 10) can reuse them.
A first cell makes ``get_profile()`` answer "gpu" on this CPU. Everything else (the PSNR start, DIV2K
download, decoding into shards, the FLOP plan and budget split, the time guard, training ESRGAN and both
SRGAN stages with checkpoints, export into the FINALE_RUNS folders, the final comparison) is the notebook's
own code.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import nbformat
import pytest
import torch
from _http_server import LocalServer
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "09_training_esrgan.ipynb"


# the set-up cell's get_profile() refuses "gpu" without CUDA: this machine rehearses the gpu code paths
GPU_PROFILE_ON_CPU = """import esrgan_lib.profiles
esrgan_lib.profiles.get_profile = lambda override=None: "gpu"  # rehearsal on a CPU"""


def _div2k_zip() -> bytes:
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for k, photo in enumerate(photos, 1):
            png = io.BytesIO()
            Image.fromarray(photo[:192, :192]).save(png, format="PNG")
            archive.writestr(f"DIV2K_train_HR/{k:04d}.png", png.getvalue())
    return buffer.getvalue()


def _tiny_psnr_weights() -> bytes:
    from esrgan_lib.models import RRDBNet

    torch.manual_seed(0)
    model = RRDBNet(3, 3, nf=8, nb=1, gc=4)
    buffer = io.BytesIO()
    torch.save({"params_ema": model.state_dict()}, buffer)
    return buffer.getvalue()


def rehearsal_files() -> dict[str, bytes]:
    """What the rehearsal's 127.0.0.1 server serves: the DIV2K-like zip and the tiny PSNR weights."""
    return {"DIV2K_train_HR.zip": _div2k_zip(), "psnr.pth": _tiny_psnr_weights()}


def patch_cell(url: str, files: dict[str, bytes], data_root: Path, drive_root: Path | None = None) -> str:
    """The cell inserted after notebook 09's SETTINGS cell: toy sizes, downloads from ``url``, and (with
    ``drive_root``) ``runs_root`` answering ``drive_root``, the rehearsal's Google Drive."""
    sha = {name: hashlib.sha256(blob).hexdigest() for name, blob in files.items()}
    drive = "" if drive_root is None else (
        f"_drive = __import__('pathlib').Path({str(drive_root)!r})\n"
        "runs_root = lambda use_drive=True: (_drive.mkdir(parents=True, exist_ok=True), _drive)[1]\n")
    return f'''# rehearsal: toy sizes, downloads from 127.0.0.1 (inserted by tests/test_finale_rehearsal.py)
import dataclasses
import esrgan_lib.checkpoint.pretrained as _pretrained
import esrgan_lib.data as _data
import esrgan_lib.data.benchmarks as _benchmarks
import esrgan_lib.losses as _losses
from esrgan_lib.data import sample_images as _photos

os.environ["ESRGAN_DATA"] = {str(data_root)!r}
_benchmarks.DIV2K_BASE_URL = {url!r}
_benchmarks.DIV2K_FILES["train"] = (
    "DIV2K_train_HR.zip", {len(files["DIV2K_train_HR.zip"])}, {sha["DIV2K_train_HR.zip"]!r})
for _name in ("esrgan_psnr_x4", "esrgan_x4"):
    _pretrained.PRETRAINED[_name] = dataclasses.replace(
        _pretrained.PRETRAINED[_name], filename=f"{{_name}}.pth", url={url!r} + "/psnr.pth",
        sha256={sha["psnr.pth"]!r})
_pretrained.cache_dir = lambda: __import__("pathlib").Path({str(data_root / "weights")!r})


def _no_vgg(download=True):
    raise RuntimeError("rehearsal: no VGG19 download")


_losses.imagenet_vgg19_path = _no_vgg
_data.load_benchmark = lambda name, download=False: dict(
    zip(["baby", "butterfly"], _photos(["astronaut", "coffee"])))
TrainConfig.colab_t4 = classmethod(lambda cls, **kw: cls.smoke(**kw))
SETTINGS.update(steps={{"esrgan": 4, "srresnet": 4, "srgan": 4}}, log_every=1, val_every=2,
                checkpoint_every=2, budget_min=1)
{drive}'''


def run_in_gpu_profile(nb, cwd: Path) -> str:
    """Execute ``nb`` in the ``gpu`` profile on this CPU (the profile check patched by a first cell), in
    ``cwd``; returns the text of all its stream outputs."""
    from nbclient import NotebookClient

    nb.cells.insert(0, nbformat.v4.new_code_cell(GPU_PROFILE_ON_CPU))
    client = NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}})
    old = dict(os.environ)
    os.environ.update({"ESRGAN_PROFILE": "gpu", "OMP_NUM_THREADS": "1"})
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    return "\n".join(o.get("text", "") for o in outputs)


_patch_cell = patch_cell  # the earlier name


@pytest.mark.slow
def test_notebook_09_gpu_profile_runs_end_to_end_on_cpu(tmp_path):

    from esrgan_lib.notebook.finale import FINALE_RUNS

    files = rehearsal_files()
    drive = tmp_path / "drive"
    nb = nbformat.read(NOTEBOOK, as_version=4)
    settings = next(k for k, c in enumerate(nb.cells)
                    if c.cell_type == "code" and "\nSETTINGS = " in c.source)
    with LocalServer({f"/{name}": blob for name, blob in files.items()}) as server:
        patch = patch_cell(server.url, files, tmp_path / "data", drive)
        nb.cells.insert(settings + 1, nbformat.v4.new_code_cell(patch))
        text = run_in_gpu_profile(nb, tmp_path)
    assert "profile: gpu" in text
    assert "DIV2K_train_HR_shards" in text                      # trained on the decoded DIV2K
    assert "esrgan_psnr_x4.pth" in text                         # started from the downloaded PSNR weights
    assert "TFLOP" in text and "budget" in text                  # the FLOP plan and the split were stated
    for role in ("esrgan", "srresnet", "srgan"):                 # ESRGAN and both SRGAN stages trained,
        assert (drive / FINALE_RUNS[role] / "generator.safetensors").is_file(), role  # on the "Drive"
        assert (drive / FINALE_RUNS[role] / "log.jsonl").is_file(), role
    assert not (tmp_path / "runs").exists()                      # nothing went beside the notebook
    assert len(list((tmp_path / "data" / "DIV2K_train_HR_shards").glob("*.hr.npy"))) == 3
    assert "'your ESRGAN':" in text and "'your SRGAN':" in text  # the final comparison ran
    assert "ESRGAN (paper's weights)" in text


# --- notebook 10's gpu profile: the learner's own models from a rehearsal "Drive" ---------------------------

NOTEBOOK_10 = ROOT / "notebooks" / "10_esrgan_vs_srgan.ipynb"


def _tiny_learner_drive(root: Path) -> None:
    """Tiny stage-1 generators and their GAN stages (slightly perturbed copies: true fine-tuned pairs) in
    the FINALE_RUNS folders under ``root``, saved as notebooks 05 and 09 export them."""
    from esrgan_lib.checkpoint import save_generator
    from esrgan_lib.models import RRDBNet, SRResNet
    from esrgan_lib.notebook.finale import FINALE_RUNS

    torch.manual_seed(0)
    for psnr_role, gan_role, model in (("esrgan_psnr", "esrgan", RRDBNet(3, 3, nf=8, nb=1, gc=4)),
                                       ("srresnet", "srgan", SRResNet(nf=8, nb=1))):
        save_generator(model, root / FINALE_RUNS[psnr_role] / "generator.safetensors")
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01 * p.abs().mean() * torch.randn_like(p))
        save_generator(model, root / FINALE_RUNS[gan_role] / "generator.safetensors",
                       {"pretrained": f"{FINALE_RUNS[psnr_role]}/generator.safetensors"})


def _patch_cell_10(url: str, files: dict[str, bytes], runs: Path, cache: Path) -> str:
    sha = {name: hashlib.sha256(blob).hexdigest() for name, blob in files.items()}
    return f'''# rehearsal (tests/test_finale_rehearsal.py): a "Drive" in tmp_path, weights from 127.0.0.1
import dataclasses
from pathlib import Path
import esrgan_lib.checkpoint.pretrained as _pretrained

runs_root = lambda use_drive=True: Path({str(runs)!r})
for _name in ("esrgan_psnr_x4", "esrgan_x4"):
    _pretrained.PRETRAINED[_name] = dataclasses.replace(
        _pretrained.PRETRAINED[_name], filename=f"{{_name}}.pth", url={url!r} + "/psnr.pth",
        sha256={sha["psnr.pth"]!r})
_pretrained.cache_dir = lambda: Path({str(cache)!r})
SETTINGS.update(max_side=32)
'''


@pytest.mark.slow
def test_notebook_10_gpu_profile_compares_the_learners_models_on_cpu(tmp_path):

    runs = tmp_path / "drive_runs"
    _tiny_learner_drive(runs)
    files = {"psnr.pth": _tiny_psnr_weights()}
    nb = nbformat.read(NOTEBOOK_10, as_version=4)
    settings = next(k for k, c in enumerate(nb.cells) if c.cell_type == "code" and "SETTINGS = {" in c.source)
    with LocalServer({f"/{name}": blob for name, blob in files.items()}) as server:
        nb.cells.insert(settings + 1, nbformat.v4.new_code_cell(
            _patch_cell_10(server.url, files, runs, tmp_path / "weights")))
        text = run_in_gpu_profile(nb, tmp_path)
    assert "profile: gpu" in text
    table = text[text.index("(x4, Y channel, crop 4)"):]
    for row in ("your ESRGAN", "your SRGAN", "your RRDB PSNR", "your SRResNet", "ESRGAN (paper)"):
        assert f"\n{row} " in table, row                        # a row of the measured table
    assert "interpolating your RRDB PSNR -> your ESRGAN: a fine-tuned pair" in text
    assert "RealSR" not in text and "random VGG" not in text    # no demo or unrelated stand-ins
