"""The widget helpers under ipywidgets 7.7.1, the version Google Colab ships.

``esrgan_lib.notebook.widgets`` must only use APIs present in both ipywidgets 7 and 8. The main environment
has ipywidgets 8, so this test builds a small side environment (cached in
``~/.cache/esrgan_course/venv-ipyw77``, reused on later runs) whose own site-packages holds ipywidgets
7.7.1 (+ widgetsnbextension 3.6, jupyterlab-widgets 1.x, ipython-genutils), while torch, numpy, Pillow,
IPython, ... come from the main environment through a ``.pth`` file that appends the main site-packages
*after* the side environment's own (so 7.7.1 shadows 8). A script run in that environment builds each
widget, moves its slider, checks the image bytes against an independent wipe, and feeds the upload widget
the 7.x ``FileUpload`` value format.

Skips with the reason when pip cannot fetch ipywidgets 7.7.1 (e.g. offline).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
IPYWIDGETS_VERSION = "7.7.1"
SIDE_PACKAGES = (
    f"ipywidgets=={IPYWIDGETS_VERSION}",
    "widgetsnbextension~=3.6.0",
    "jupyterlab-widgets>=1,<2",
    "ipython-genutils~=0.2.0",
)


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "esrgan_course"


def _run(cmd: list[str], *, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)


def _side_site_packages(python: Path) -> str:
    proc = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"{python} does not run: {proc.stderr[-500:]}")
    return proc.stdout.strip()


def _build_side_env(venv: Path, stamp: dict) -> Path:
    """Create the side environment at ``venv`` (replacing a stale one); returns its python."""
    shutil.rmtree(venv, ignore_errors=True)
    proc = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], timeout=120)
    if proc.returncode != 0:
        pytest.skip(f"cannot create a virtual environment: {proc.stderr[-500:]}")
    python = venv / "bin" / "python"
    site = _side_site_packages(python)
    proc = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--disable-pip-version-check",
            "--target",
            site,
            *SIDE_PACKAGES,
        ],
        timeout=300,
    )
    if proc.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        pytest.skip(f"pip cannot install ipywidgets {IPYWIDGETS_VERSION} (offline?): {proc.stderr[-500:]}")
    # Appended after the side site-packages, and processed as a site dir so the main environment's own .pth
    # files (e.g. editable installs) work too.
    main_site = sysconfig.get_paths()["purelib"]
    Path(site, "zz_main_env.pth").write_text(f"import site; site.addsitedir({main_site!r})\n")
    (venv / "stamp.json").write_text(json.dumps(stamp))
    return python


@pytest.fixture(scope="module")
def side_python() -> Path:
    """Python of the cached ipywidgets-7.7.1 environment (built on first use, under a file lock)."""
    root = _cache_root()
    root.mkdir(parents=True, exist_ok=True)
    venv = root / "venv-ipyw77"
    stamp = {
        "main_site": sysconfig.get_paths()["purelib"],
        "python": sys.version,
        "packages": list(SIDE_PACKAGES),
    }
    with open(root / "venv-ipyw77.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current = json.loads((venv / "stamp.json").read_text())
        except (OSError, ValueError):
            current = None
        python = venv / "bin" / "python"
        if current != stamp or not python.exists():
            python = _build_side_env(venv, stamp)
        fcntl.flock(lock, fcntl.LOCK_UN)
    return python


# Runs inside the side environment; prints one JSON line with what it saw. Assertions here are plain `assert`s
# so a failure shows up as a traceback in the test's message.
SCRIPT = textwrap.dedent(
    r"""
    import io, json, sys
    sys.path.insert(0, sys.argv[1])  # this checkout's esrgan_lib, ahead of any installed copy

    import ipywidgets
    import numpy as np
    import torch
    from PIL import Image

    from esrgan_lib.models import RRDBNet
    from esrgan_lib.notebook import widgets as W

    out = {"ipywidgets": ipywidgets.__version__, "ipywidgets_file": ipywidgets.__file__,
           "torch_file": torch.__file__}

    def decode(png):
        return np.asarray(Image.open(io.BytesIO(bytes(png))).convert("RGB"))

    rng = np.random.default_rng(0)
    left = rng.integers(0, 256, (16, 40, 3), dtype=np.uint8)
    right = rng.integers(0, 256, (16, 40, 3), dtype=np.uint8)

    # 1. comparison slider: moving it re-renders the wipe.
    box = W.comparison_slider(left, right, labels=("bicubic", "model"), split=50)
    assert isinstance(box, ipywidgets.VBox)
    assert isinstance(box.slider, ipywidgets.IntSlider) and isinstance(box.image, ipywidgets.Image)
    assert "esrgan-compare-slider" in box.slider._dom_classes
    assert "esrgan-compare-image" in box.image._dom_classes
    first = bytes(box.image.value)
    box.slider.value = 75
    moved = bytes(box.image.value)
    assert moved != first, "image unchanged after moving the comparison slider"
    shown = decode(moved)
    x = round(40 * 0.75)  # independent: columns left of 75 % come from `left` (away from the divider)
    assert (shown[:, : x - 2] == left[:, : x - 2]).all() and (shown[:, x + 2 :] == right[:, x + 2 :]).all()
    out["compare_ok"] = True

    # 2. interpolation slider with two tiny generators.
    torch.manual_seed(0)
    psnr = RRDBNet(nf=8, nb=1, gc=4, scale=2).eval()
    gan = RRDBNet(nf=8, nb=1, gc=4, scale=2).eval()
    with torch.no_grad():
        for p in gan.parameters():
            p.add_(0.05 * torch.randn_like(p))
    lr = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    box = W.interpolation_slider(psnr, gan, lr, value=0.0)
    assert isinstance(box.slider, ipywidgets.FloatSlider)
    at0 = bytes(box.image.value)
    box.slider.value = 1.0
    at1 = bytes(box.image.value)
    assert at0 != at1, "image unchanged after moving the interpolation slider"
    assert decode(at1).shape == (16, 16, 3)
    with torch.no_grad():  # alpha = 1 is the GAN model itself
        ref = gan(torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255)[0]
    ref = np.clip(np.rint(ref.permute(1, 2, 0).numpy() * 255), 0, 255).astype(np.int16)
    assert np.abs(decode(at1).astype(np.int16) - ref).max() <= 1
    out["interp_ok"] = True

    # 3. upload widget fed the ipywidgets 7.x FileUpload format: the browser sets `metadata` and `data`, then
    #    bumps `_counter`, which makes 7.x build `value` = {name: {"metadata": ..., "content": bytes}}.
    model = RRDBNet(nf=8, nb=1, gc=4, scale=2).eval()
    box = W.upscale_your_own(model)
    assert isinstance(box.upload, ipywidgets.FileUpload)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(buf, format="PNG")
    content = buf.getvalue()
    meta = {"name": "cat.png", "type": "image/png", "size": len(content), "lastModified": 0}
    box.upload.metadata = [meta]
    box.upload.data = [content]
    box.upload._counter += 1
    value = box.upload.value
    assert isinstance(value, dict) and value["cat.png"]["content"] == content, "not the 7.x value format"
    assert W._uploaded_files(value) == [("cat.png", content)]
    labels = [c.value for c in box.children if isinstance(c, ipywidgets.Label)]
    assert any("cat.png" in t and "12x10" in t for t in labels), labels  # the observer processed the upload
    out["upload_ok"] = True
    print(json.dumps(out))
    """
)


def test_widgets_work_with_ipywidgets_7_7_1(side_python, tmp_path):
    script = tmp_path / "check_ipywidgets77.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONNOUSERSITE="1")
    env.pop("PYTHONPATH", None)
    proc = _run([str(side_python), str(script), str(REPO)], timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, (
        f"widget check failed under ipywidgets {IPYWIDGETS_VERSION}:\n{proc.stderr[-4000:]}"
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ipywidgets"] == IPYWIDGETS_VERSION, result
    assert Path(result["ipywidgets_file"]).resolve().is_relative_to(side_python.parents[1].resolve()), result
    # torch comes from the main environment, where ipywidgets 8 also lives: the side environment shadows it.
    assert (
        Path(result["torch_file"]).resolve().is_relative_to(Path(sysconfig.get_paths()["purelib"]).resolve())
    )
    assert result["compare_ok"] and result["interp_ok"] and result["upload_ok"], result
