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


def course_spec() -> str:
    """The pip requirement the set-up cell installs on Colab: the package with the course's extras."""
    return f"esrgan_lib[course] @ git+{course_url()}"


def setup_cell() -> str:
    """The exact text of the first code cell of every notebook (``tools/rewrite_setup_cell.py`` writes it)."""
    return "\n".join([
        "# Set-up. On Colab: pip install the course's package, esrgan_lib (Colab's own torch is kept).",
        "# Working from a fork? First run: os.environ[\"ESRGAN_LIB_SPEC\"] = "
        "\"esrgan_lib[course] @ git+https://github.com/<you>/<fork>\"",
        "import os, subprocess, sys",
        'if "google.colab" in sys.modules:',
        f'    spec = os.environ.get("ESRGAN_LIB_SPEC", "{course_spec()}")',
        '    if subprocess.run([sys.executable, "-m", "pip", "install", "-q", spec]).returncode != 0:',
        '        raise SystemExit(f"pip could not install {spec!r}: '
        'see the error above (a fork: ESRGAN_LIB_SPEC)")',
        "from esrgan_lib.notebook import course_setup",
        'PROFILE = course_setup()  # "smoke", "cpu" or "gpu": $ESRGAN_PROFILE, else what the hardware allows',
    ])
