"""Learner-facing text names the course's starting document as what it is.

The course started from the ESRGAN README of the giakou4/gans repository. A learner cannot know what
"the seed" means, so notebooks, the README, docstrings and command-line help call it
"the giakou4/gans ESRGAN README" (or "that README").
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SEED = re.compile(
    r"\bthe seed\b(?! (?:of|for|value|number|argument))|\bseed's\b|\bseed document|(?<![\w.])\(`?seed`?\)",
    re.IGNORECASE,
)


def _texts():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for k, cell in enumerate(nbformat.read(path, as_version=4).cells):
            yield f"{path.name} cell {k}", cell.source
    yield "README.md", (ROOT / "README.md").read_text()
    for path in sorted((ROOT / "esrgan_lib").rglob("*.py")):
        yield str(path.relative_to(ROOT)), path.read_text()


def test_no_learner_text_calls_the_starting_document_the_seed():
    hits = [f"{where}: {m.group(0)!r}" for where, text in _texts() for m in SEED.finditer(text)]
    assert not hits, (
        f"{len(hits)} places say 'the seed'; write 'the giakou4/gans ESRGAN README' (or 'that README'):\n"
        + "\n".join(hits[:40])
    )
