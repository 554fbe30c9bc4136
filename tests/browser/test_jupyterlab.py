"""The course as learners see it: JupyterLab in headless Chromium runs the widget notebooks.

For each notebook whose code uses ipywidgets (or the course's widget helpers) the test opens it in JupyterLab,
runs "Run All Cells" from the Run menu, waits (bounded) until the kernel is idle, and checks what is on
screen: every code cell has an execution count, no error or traceback output, no "Error displaying widget",
and the sliders, progress bars and images are rendered. Moving the before/after slider (CSS class ``esrgan-
compare-slider``) must change the composite image. A screenshot of each notebook goes to ``test-
artifacts/browser/``.

A first test runs a small notebook the test writes itself (the course's comparison and interpolation sliders
on tiny inputs, a plain slider, a tqdm bar, a cell that prints the kernel's interpreter) plus one with a
failing cell, so the harness is shown to pass a good notebook and to catch a broken one before the course
notebooks are judged. ``ESRGAN_BROWSER_NOTEBOOKS`` ("all" or patterns like "03_*,10_*") picks other notebooks.

Needs Debian's Chromium (installed with apt when running as root) and the ``playwright`` Python package; skips
with the reason otherwise. Run with ``pytest -m browser tests/browser``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _jupyterlab_driver as lab  # noqa: E402

pytestmark = pytest.mark.browser

# Whole-module budget in seconds for driving notebooks (server start and apt/pip installs come on top, bounded
# by their own timeouts).
BUDGET_S = float(os.environ.get("ESRGAN_BROWSER_BUDGET", "480"))
NOTEBOOK_RUN_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def session():
    """(browser context, JupyterLab server, deadline) shared by the tests of this module."""
    try:
        chromium = lab.ensure_chromium()
        sync_api = lab.ensure_playwright()
    except lab.BrowserUnavailable as exc:
        pytest.skip(str(exc))
    lab.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(
            lab.JupyterLabServer(
                lab.REPO, env={"ESRGAN_PROFILE": "smoke"}, log_path=lab.ARTIFACTS / "jupyterlab-server.log"
            )
        )
        try:
            context = stack.enter_context(lab.launch_chromium(sync_api, chromium))
        except lab.BrowserUnavailable as exc:
            pytest.skip(str(exc))
        print(f"\n{lab.chromium_version(chromium)}; JupyterLab at {server.base_url}")
        yield context, server, lab.Deadline(BUDGET_S)


def _code_cell(source: str) -> dict:
    return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": source}


def _write_png(path: Path, *, width: int, height: int) -> None:
    """A small gradient picture (uint8 RGB) saved as PNG."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 10 % 256, y * 12 % 256, np.full_like(x, 128)], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(path)


def _write_notebook(path: Path, sources: list[str]) -> str:
    notebook = {
        "cells": [dict(_code_cell(s), id=f"cell-{i}") for i, s in enumerate(sources)],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook, indent=1))
    return path.relative_to(lab.REPO).as_posix()


HARNESS_CELLS = [
    "import sys\nprint('kernel python:', sys.executable)",
    # the course's own widgets, on tiny inputs
    (
        "import numpy as np\n"
        "import torch\n"
        "from esrgan_lib.models import RRDBNet\n"
        "from esrgan_lib.notebook.widgets import comparison_slider, interpolation_slider\n"
        "rng = np.random.default_rng(0)\n"
        "a, b = (rng.integers(0, 256, (48, 96, 3), dtype=np.uint8) for _ in range(2))\n"
        "comparison_slider(a, b, labels=('a', 'b'), width=384)"
    ),
    (
        "torch.manual_seed(0)\n"
        "psnr, gan = (RRDBNet(nf=8, nb=1, gc=4, scale=2).eval() for _ in range(2))\n"
        "interpolation_slider(psnr, gan, a[:16, :16], value=0.0, width=128)"
    ),
    # plain ipywidgets and a tqdm bar
    "import ipywidgets as w\nw.IntSlider(value=3, min=0, max=10, description='plain')",
    "from tqdm.auto import tqdm\nfor _ in tqdm(range(5), desc='steps'):\n    pass",
]


def _run(context, server, relpath: str, deadline: lab.Deadline):
    """Open ``relpath``, run all cells, wait; return (NotebookPage, NotebookReport)."""
    page = lab.NotebookPage(context, server, relpath, deadline)
    page.open()
    page.run_all()
    state = page.wait_finished(timeout=NOTEBOOK_RUN_TIMEOUT_S)
    report = page.inspect(state)
    print(f"\n{relpath}: ran via {page.run_via}; {report}")
    return page, report


def _shutdown(page: lab.NotebookPage) -> None:
    """Stop the notebook's kernel (frees CPU and memory for the next notebook) and close the tab."""
    try:
        page.page.evaluate(
            "() => Promise.race([window.jupyterapp.shell.currentWidget.sessionContext.shutdown(),"
            " new Promise(done => setTimeout(done, 15000))])"
        )
    finally:
        page.close()


def test_harness_passes_a_widget_notebook_and_catches_a_failing_one(session):
    context, server, deadline = session
    good = _write_notebook(lab.ARTIFACTS / "harness_widgets.ipynb", HARNESS_CELLS)
    page, report = _run(context, server, good, deadline)
    try:
        page.screenshot(lab.ARTIFACTS / "harness_widgets.png")
        assert report.problems() == [], report.problems()
        assert report.kernel_name == "python3"
        outputs = " ".join(page.page.locator(".jp-OutputArea").all_inner_texts())
        assert f"kernel python: {sys.executable}" in outputs, outputs[:500]
        assert report.sliders == 3 and report.progress_bars == 1 and report.images == 2, report
        assert report.compare_sliders == 1, report
        for classes in (
            {"slider_class": "esrgan-compare-slider", "image_class": "esrgan-compare-image"},
            {"slider_class": "esrgan-interp-slider", "image_class": "esrgan-interp-image"},
        ):
            before, after, src_before, src_after = page.move_slider(0, **classes)
            assert src_after != src_before, f"moving the slider did not replace the image: {classes}"
            assert before != after, f"the image looks the same after moving the slider: {classes}"
    finally:
        _shutdown(page)

    bad = _write_notebook(
        lab.ARTIFACTS / "harness_failing.ipynb",
        ["x = 1", "raise ValueError('deliberate failure for the harness check')", "print('never runs')"],
    )
    page, report = _run(context, server, bad, deadline)
    try:
        problems = " ".join(report.problems())
        assert "deliberate failure" in problems, problems
        assert report.unfinished_cells == [2], report
    finally:
        _shutdown(page)


def _expectations(path: Path) -> dict[str, bool]:
    """What a notebook's code promises to show, read from its source."""
    cells = json.loads(path.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return {
        "slider": any(
            k in code for k in ("comparison_slider", "interpolation_slider", "Slider(", "upscale_your_own")
        ),
        "compare_slider": any(k in code for k in ("comparison_slider", "upscale_your_own", "upload_widget")),
        "interp_slider": "interpolation_slider" in code,
        "upload": any(k in code for k in ("upscale_your_own", "upload_widget")),
        # a bar that stays on screen: a tqdm(...) call without leave=False (those vanish when done)
        "progress": any("tqdm(" in line and "leave=False" not in line for line in code.splitlines()),
    }


WIDGET_NOTEBOOKS = lab.find_widget_notebooks()


@pytest.mark.parametrize(
    "notebook",
    WIDGET_NOTEBOOKS
    or [pytest.param(None, marks=pytest.mark.skip(reason="no notebook in notebooks/ uses widgets"))],
    ids=[p.name for p in WIDGET_NOTEBOOKS] or ["none"],
)
def test_widget_notebook_runs_in_jupyterlab(session, notebook):
    context, server, deadline = session
    relpath = notebook.relative_to(lab.REPO).as_posix()
    expect = _expectations(notebook)
    page, report = _run(context, server, relpath, deadline)
    try:
        page.screenshot(lab.ARTIFACTS / f"{notebook.stem}.png")
        assert report.problems() == [], f"{relpath}: " + "\n".join(report.problems())
        assert report.kernel_name == "python3", report
        assert report.images >= 1, f"{relpath}: no image in the outputs"
        if expect["slider"]:
            assert report.sliders >= 1, f"{relpath}: the code builds sliders but none is rendered"
        if expect["progress"]:
            assert report.progress_bars >= 1, (
                f"{relpath}: the code shows a tqdm bar but no progress-bar widget rendered"
            )
        if expect["compare_slider"]:
            assert report.compare_sliders >= 1, f"{relpath}: no element with class esrgan-compare-slider"
            before, after, src_before, src_after = page.move_slider(0)
            page.screenshot(lab.ARTIFACTS / f"{notebook.stem}-slider-moved.png")
            assert src_after != src_before, (
                f"{relpath}: moving the comparison slider did not change the image"
            )
            assert before != after, f"{relpath}: the composite looks the same after moving the slider"
        if expect["interp_slider"]:
            classes = {"slider_class": "esrgan-interp-slider", "image_class": "esrgan-interp-image"}
            before, after, src_before, src_after = page.move_slider(0, **classes)
            assert src_after != src_before and before != after, (
                f"{relpath}: moving the interpolation slider did not change the image"
            )
        if expect["upload"]:
            picture = lab.ARTIFACTS / "browser_upload.png"
            _write_png(picture, width=24, height=20)
            text = page.upload_file(picture)
            page.screenshot(lab.ARTIFACTS / f"{notebook.stem}-uploaded.png")
            assert "browser_upload.png: 24x20" in text, f"{relpath}: upload not processed: {text!r}"
    finally:
        _shutdown(page)
