"""The notebooks' set-up cell, run the way Google Colab runs it.

Every notebook starts with the same code cell (``SETUP_CELL`` below). On Colab (``google.colab`` imported) it
pip-installs ``esrgan_lib`` from the course repository and must leave Colab's own torch alone; elsewhere it
installs nothing. These tests execute the cell with a stand-in ``google.colab`` module and an intercepted
``subprocess.run``, check the pip command it builds, and then run that very command with ``--dry-run
--report`` against this checkout to show pip would install esrgan_lib without touching torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from _course import course_url, setup_cell
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]

SETUP_CELL = setup_cell()  # the exact text of the notebooks (defined in tests/_course.py)

FORBIDDEN_PIP_ARGS = {
    "--upgrade",
    "-U",
    "--force-reinstall",
    "--upgrade-strategy",
    "--ignore-installed",
    "-I",
}


def _first_code_cell(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code, f"{path.name} has no code cell"
    return "".join(code[0]["source"])


NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.skipif(not NOTEBOOKS, reason="no notebooks yet")
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_notebook_starts_with_the_setup_cell(notebook):
    assert _first_code_cell(notebook).strip() == SETUP_CELL.strip(), (
        f"{notebook.name}: the first code cell differs from the course's set-up cell"
    )


def _run_cell(
    monkeypatch, *, colab: bool, spec: str | None = None, pip_rc: int = 0
) -> tuple[list[list[str]], dict]:
    """Execute ``SETUP_CELL``; returns (argv of every subprocess.run call, the cell's namespace)."""
    calls: list[list[str]] = []

    def fake_run(argv, *args, **kwargs):
        calls.append(list(argv))
        return subprocess.CompletedProcess(argv, pip_rc)

    monkeypatch.setattr(subprocess, "run", fake_run)
    if colab:
        google = types.ModuleType("google")
        google.colab = types.ModuleType("google.colab")
        monkeypatch.setitem(sys.modules, "google", google)
        monkeypatch.setitem(sys.modules, "google.colab", google.colab)
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    if spec is None:
        monkeypatch.delenv("ESRGAN_LIB_SPEC", raising=False)
    else:
        monkeypatch.setenv("ESRGAN_LIB_SPEC", spec)
    monkeypatch.setenv("ESRGAN_PROFILE", "smoke")
    namespace: dict = {}
    exec(compile(SETUP_CELL, "<set-up cell>", "exec"), namespace)
    return calls, namespace


def _check_pip_argv(argv: list[str]) -> Requirement:
    """Check the cell's pip command: this python's pip, one esrgan_lib requirement, nothing forced."""
    assert argv[:4] == [sys.executable, "-m", "pip", "install"], argv
    options = [a for a in argv[4:] if a.startswith("-")]
    specs = [a for a in argv[4:] if not a.startswith("-")]
    assert not FORBIDDEN_PIP_ARGS & set(options), f"pip must not upgrade/reinstall anything: {argv}"
    assert len(specs) == 1, f"expected exactly one requirement, got {specs}"
    assert not any("torch" in a.lower() for a in argv), f"the set-up cell must not install torch: {argv}"
    requirement = Requirement(specs[0])
    assert canonicalize_name(requirement.name) == canonicalize_name("esrgan_lib"), requirement
    return requirement


def test_on_colab_the_cell_pip_installs_the_repository_and_not_torch(monkeypatch, capsys):
    calls, namespace = _run_cell(monkeypatch, colab=True)
    assert len(calls) == 1, calls
    requirement = _check_pip_argv(calls[0])
    assert requirement.url == f"git+{course_url()}", requirement.url
    assert requirement.extras == {"course"}, "the cell installs what the notebooks use (the course extra)"
    assert namespace["PROFILE"] == "smoke"
    assert "profile: smoke" in capsys.readouterr().out


def test_on_colab_the_spec_can_be_overridden(monkeypatch):
    calls, _ = _run_cell(monkeypatch, colab=True, spec="esrgan_lib @ file:///tmp/esrgan-course")
    assert len(calls) == 1 and calls[0][-1] == "esrgan_lib @ file:///tmp/esrgan-course", calls


def test_a_failed_install_stops_with_a_one_line_message(monkeypatch):
    with pytest.raises(SystemExit) as failed:
        _run_cell(monkeypatch, colab=True, pip_rc=1)
    message = str(failed.value)
    assert "\n" not in message and "ESRGAN_LIB_SPEC" in message, message
    assert course_url() in message, "the message names the requirement that failed"


def test_the_fork_line_in_the_cells_comment_works(monkeypatch):
    """The cell's own comment shows the line a fork runs first; running that line redirects the install."""
    comments = [line for line in SETUP_CELL.splitlines() if line.startswith("#")]
    hint = next(line for line in comments if "ESRGAN_LIB_SPEC" in line)
    fork_line = hint.split("First run:", 1)[1].strip()
    assert "git+https://github.com/<you>/" in fork_line, hint
    monkeypatch.delenv("ESRGAN_LIB_SPEC", raising=False)
    exec(compile("import os\n" + fork_line, "<fork line>", "exec"), {})
    calls, _ = _run_cell(monkeypatch, colab=True, spec=os.environ["ESRGAN_LIB_SPEC"])
    requirement = _check_pip_argv(calls[0])
    assert requirement.url == "git+https://github.com/<you>/<fork>", requirement.url


def test_the_cell_is_short(monkeypatch):
    lines = SETUP_CELL.splitlines()
    assert len(lines) <= 9 and max(map(len, lines)) <= 125, "the set-up cell should read at a glance"


def test_outside_colab_the_cell_installs_nothing(monkeypatch, capsys):
    calls, namespace = _run_cell(monkeypatch, colab=False)
    assert calls == []
    assert namespace["PROFILE"] == "smoke"
    assert "profile: smoke" in capsys.readouterr().out


@pytest.mark.slow
def test_the_cells_pip_command_installs_esrgan_lib_and_keeps_torch(monkeypatch, tmp_path):
    """Run the cell's own pip command (pointed at this checkout) as a dry run; read pip's install report."""
    torch = pytest.importorskip("torch")
    calls, _ = _run_cell(monkeypatch, colab=True, spec=f"esrgan_lib[course] @ {REPO.as_uri()}")
    monkeypatch.undo()  # the real subprocess.run from here on
    argv = calls[0]
    _check_pip_argv(argv)
    report_path = tmp_path / "report.json"
    dry_run = [
        *argv[:4],
        "--dry-run",
        "--report",
        str(report_path),
        "--no-build-isolation",
        "--disable-pip-version-check",
        *argv[4:],
    ]
    try:
        proc = subprocess.run(dry_run, capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip("pip --dry-run took longer than 300 s (no network to the package index?)")
    if proc.returncode != 0 and any(
        s in proc.stderr for s in ("NewConnectionError", "Network is unreachable")
    ):
        pytest.skip(f"pip needs the package index and cannot reach it: {proc.stderr[-300:]}")
    assert proc.returncode == 0, f"{' '.join(dry_run)}\n{proc.stderr[-3000:]}"
    report = json.loads(report_path.read_text())
    to_install = {
        canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"] for item in report["install"]
    }
    assert "esrgan-lib" in to_install, to_install
    assert "torch" not in to_install, f"pip would replace torch {torch.__version__}: {to_install}"
    # Nothing that is already installed (Colab's numpy, torchvision, Pillow, ...) is replaced either.
    from importlib.metadata import distributions

    installed = {canonicalize_name(d.metadata["Name"]) for d in distributions() if d.metadata["Name"]}
    replaced = sorted(set(to_install) & installed - {"esrgan-lib"})
    assert replaced == [], f"pip would reinstall/upgrade already-installed packages: {replaced}"
