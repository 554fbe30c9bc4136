"""The course's own facts shared by the notebook tests: its repository URL and the notebooks' set-up cell.

The repository URL is defined once, in ``pyproject.toml`` (``[project.urls] Repository``); the badges, the
set-up cell and the README are checked against it (``tests/test_notebook_structure.py``), and
``python tools/set_course_url.py`` rewrites them all after a change there (for a fork).
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def course_url() -> str:
    """``https://github.com/<owner>/<repo>`` from ``pyproject.toml``."""
    text = (REPO / "pyproject.toml").read_text()
    match = re.search(r'^Repository\s*=\s*"(https://github\.com/[^"/]+/[^"/]+)"', text, re.MULTILINE)
    assert match, "pyproject.toml has no [project.urls] Repository = \"https://github.com/<owner>/<repo>\""
    return match.group(1)


def badge_url(notebook_name: str) -> str:
    """The Open-in-Colab link of a notebook of the course."""
    path = course_url().removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{path}/blob/main/notebooks/{notebook_name}"


def setup_cell() -> str:
    """The exact text of the first code cell of every notebook."""
    spec = f"esrgan_lib[course] @ git+{course_url()}"
    return "\n".join([
        "# Set-up: on Colab, install esrgan_lib and what the course uses (Colab's own torch is kept); "
        "locally, nothing to do.",
        "import os, subprocess, sys",
        'if "google.colab" in sys.modules:',
        f'    spec = os.environ.get("ESRGAN_LIB_SPEC", "{spec}")',
        '    if subprocess.run([sys.executable, "-m", "pip", "install", "-q", spec]).returncode != 0:',
        '        raise SystemExit(f"could not pip install {spec!r}: set os.environ[\'ESRGAN_LIB_SPEC\'] = '
        "'esrgan_lib[course] @ git+https://github.com/<you>/<your fork>' in a cell above this one, then run "
        'this cell again")',
        "from esrgan_lib.profiles import get_profile",
        'PROFILE = get_profile()  # "smoke" (CI), "cpu" (laptop) or "gpu" (Colab GPU); '
        "set ESRGAN_PROFILE to choose",
        'print("profile:", PROFILE)',
    ])
