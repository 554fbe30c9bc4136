"""Rewrite every place that names the course's repository from ``pyproject.toml``.

The repository URL is defined once, as ``[project.urls] Repository`` in ``pyproject.toml``. A fork changes it
there and runs ``python tools/set_course_url.py``: the notebooks' set-up cell and Open-in-Colab badges and the
README's links follow. ``tests/test_notebook_structure.py`` and ``tests/test_colab_setup.py`` check that
they agree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from _course import badge_url, course_url, setup_cell  # noqa: E402

BADGE = re.compile(r"https://colab\.research\.google\.com/github/[^/\s]+/[^/\s]+/blob/main/notebooks/([\w.-]+)")
INSTALL = re.compile(r"git\+https://github\.com/[\w.-]+/[\w.-]+")
GITHUB = re.compile(r"(?<=`)github\.com/[\w.-]+/[\w.-]+(?=`)")  # `github.com/<owner>/<repo>` in the README


def _rewrite(text: str) -> str:
    text = BADGE.sub(lambda m: badge_url(m.group(1)), text)
    return INSTALL.sub(f"git+{course_url()}", text)


def update_notebook(path: Path) -> bool:
    """Set the set-up cell and the badge of one notebook; True when the file changed."""
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if code and code[0].source != setup_cell():
        code[0].source = setup_cell()
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _rewrite(cell.source)
    after = nbformat.writes(nb)
    if after != before:
        path.write_text(after + ("\n" if not after.endswith("\n") else ""))
    return after != before


def update_readme(path: Path) -> bool:
    """Point the README's badges, install lines and repository mentions at the course URL."""
    text = path.read_text()
    new = GITHUB.sub(course_url().removeprefix("https://"), _rewrite(text))
    if new != text:
        path.write_text(new)
    return new != text


def main() -> None:
    changed = [p.name for p in sorted((REPO / "notebooks").glob("*.ipynb")) if update_notebook(p)]
    if update_readme(REPO / "README.md"):
        changed.append("README.md")
    print(f"course URL {course_url()}: " + (", ".join(changed) if changed else "everything already agrees"))


if __name__ == "__main__":
    main()
