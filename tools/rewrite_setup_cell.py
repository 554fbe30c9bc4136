"""Rewrite the set-up cell (the first code cell) of course notebooks to the course's current text.

    python tools/rewrite_setup_cell.py notebooks/01_welcome_and_setup.ipynb [NOTEBOOK ...]

The text comes from ``tests/_course.py`` (``setup_cell()``, with the repository URL from ``pyproject.toml``).
Only that cell's ``source`` changes: its outputs, execution count and every other byte of the file stay as
they were (the file is rewritten in nbformat's own JSON layout, and the tool refuses a file that is not
stored in that layout, rather than reformat it). Running it twice changes nothing the second time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from _course import setup_cell  # noqa: E402


def _dumps(nb: dict) -> str:
    """nbformat's layout: one-space indent, sorted keys, UTF-8 as is, a final newline."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _source_lines(text: str) -> list[str]:
    """A cell source as nbformat stores it: lines that keep their newline, the last one without."""
    return text.splitlines(keepends=True)


def rewrite(path: Path) -> bool:
    """Put the course's set-up cell into notebook ``path``; True when the file changed."""
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    if _dumps(nb) != text:
        raise ValueError(f"{path}: not stored in nbformat's JSON layout; save it with Jupyter/nbformat first")
    code = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
    if not code:
        raise ValueError(f"{path}: no code cell to rewrite")
    new = _source_lines(setup_cell())
    old = code[0]["source"]
    if (old if isinstance(old, str) else "".join(old)) == "".join(new):
        return False
    code[0]["source"] = new
    path.write_text(_dumps(nb), encoding="utf-8")
    return True


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    for name in argv:
        changed = rewrite(Path(name))
        print(f"{name}: {'set-up cell rewritten' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
