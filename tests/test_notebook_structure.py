"""Every course notebook follows the same structure (see notebooks/01_welcome_and_setup.ipynb).

Checked for each ``notebooks/*.ipynb``: a title cell with "What you will learn" and an Open-in-Colab
badge pointing at the notebook itself; exactly one set-up cell, the first code cell, identical in all
notebooks; a per-profile SETTINGS dict near the top; NBVAL_CHECK_OUTPUT only as a first line; a
Summary and an Exercises cell (solutions hidden in <details>) at the end; no stored errors; less than
3 MB; no notebook importing another notebook.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from _course import badge_url, course_url, setup_cell

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
MAX_BYTES = 3 * 1024 * 1024
SETUP_CELL = setup_cell()
# ways one notebook could run or import another
NOTEBOOK_IMPORT = re.compile(
    r"%run\b|import_ipynb|nbimporter|\bipynb\.fs\b|^\s*(from|import)\s+notebooks\b|nbformat\.read\(",
    re.MULTILINE,
)

pytestmark = pytest.mark.skipif(not NOTEBOOKS, reason="no notebooks in notebooks/")


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.name)
def notebook(request):
    return request.param, _read(request.param)


def test_valid_nbformat(notebook):
    path, nb = notebook
    nbformat.validate(nb)
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    assert kernel == "python3", f"{path.name}: kernelspec is {kernel!r}, not python3"


def test_title_learn_and_badge(notebook):
    path, nb = notebook
    first = nb.cells[0]
    assert first.cell_type == "markdown", f"{path.name}: the first cell must be the markdown title cell"
    assert first.source.lstrip().startswith("# "), f"{path.name}: the first cell must start with a '# ' title"
    text = first.source
    assert "What you will learn" in text, f"{path.name}: no 'What you will learn' in the title cell"
    assert re.search(r"^\s*[-*] ", text, re.MULTILINE), f"{path.name}: the title cell has no bullet list"
    assert "colab-badge.svg" in text, f"{path.name}: no Open-in-Colab badge"
    assert badge_url(path.name) + ")" in text, f"{path.name}: the badge does not link to itself"


def test_one_setup_cell_first(notebook):
    path, nb = notebook
    code = _code(nb)
    assert code, f"{path.name}: no code cells"
    assert code[0].source == SETUP_CELL, f"{path.name}: the first code cell is not the course's set-up cell"
    for cell in code[1:]:
        assert not any(s in cell.source for s in ("get_profile(", "course_setup(", "pip install")), (
            f"{path.name}: a second set-up cell:\n{cell.source[:200]}"
        )


def test_profile_settings_near_the_top(notebook):
    path, nb = notebook
    top = "\n".join(c.source for c in _code(nb)[1:4])
    assert "SETTINGS" in top, f"{path.name}: no per-profile SETTINGS dict in the first code cells"
    for profile in ("smoke", "cpu", "gpu"):
        assert f'"{profile}"' in top, f"{path.name}: SETTINGS has no entry for the {profile!r} profile"


def test_check_output_marker_is_a_first_line(notebook):
    path, nb = notebook
    for cell in _code(nb):
        lines = cell.source.splitlines()
        if any("NBVAL_CHECK_OUTPUT" in line for line in lines[1:]):
            pytest.fail(f"{path.name}: NBVAL_CHECK_OUTPUT must be the first line:\n{cell.source[:200]}")


def test_summary_and_exercises_at_the_end(notebook):
    path, nb = notebook
    tail = [c for c in nb.cells[-3:] if c.cell_type == "markdown"]
    text = "\n".join(c.source for c in tail)
    assert re.search(r"^#+ Summary", text, re.MULTILINE), f"{path.name}: no '## Summary' in the last cells"
    assert re.search(r"^#+ Exercises", text, re.MULTILINE), f"{path.name}: no '## Exercises' at the end"
    assert "<details>" in text and "Solution" in text, f"{path.name}: exercise solutions must be in <details>"
    assert text.count("<details>") == text.count("</details>"), f"{path.name}: unbalanced <details> tags"


def test_no_stored_errors(notebook):
    path, nb = notebook
    for i, cell in enumerate(_code(nb)):
        for out in cell.get("outputs", []):
            where = f"{path.name}, code cell {i}"
            assert out.output_type != "error", f"{where}: stored error {out.get('ename')}"
            if out.output_type == "stream":
                assert "Traceback (most recent call" not in out.text, f"{where}: traceback in the output"


def test_small_file(notebook):
    path, _ = notebook
    size = path.stat().st_size
    assert size < MAX_BYTES, f"{path.name} is {size / 2**20:.1f} MB; keep figures small (dpi ~72)"


def test_no_notebook_imports_another(notebook):
    path, nb = notebook
    for cell in _code(nb):
        match = NOTEBOOK_IMPORT.search(cell.source)
        assert match is None, f"{path.name}: a code cell uses another notebook ({match.group(0)!r})"


def test_setup_cell_identical_everywhere():
    firsts = {p.name: _code(_read(p))[0].source for p in NOTEBOOKS if _code(_read(p))}
    assert len(set(firsts.values())) == 1, f"set-up cells differ: {sorted(firsts)}"


def test_notebook_names_are_numbered():
    for p in NOTEBOOKS:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", p.name), f"{p.name}: expected NN_lower_case_name.ipynb"


def test_the_readme_links_to_the_course_repository():
    """The README's Colab links and repository mentions use the one URL in pyproject.toml."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    links = re.findall(r"https://colab\.research\.google\.com/github/\S+?/notebooks/([\w.-]+\.ipynb)", readme)
    assert len(links) == len(NOTEBOOKS), f"README links {len(links)} notebooks, there are {len(NOTEBOOKS)}"
    for name in links:
        assert badge_url(name) in readme, f"README: the link to {name} is not {badge_url(name)}"
    assert course_url().removeprefix("https://") in readme


def test_set_course_url_restores_a_drifted_notebook(tmp_path):
    """``tools/set_course_url.py`` rewrites a notebook whose set-up cell and badge name another repository."""
    import importlib.util

    tool_path = Path(__file__).resolve().parents[1] / "tools" / "set_course_url.py"
    spec = importlib.util.spec_from_file_location("set_course_url", tool_path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    copy = tmp_path / NOTEBOOKS[0].name
    owner_repo = course_url().removeprefix("https://github.com/")
    text = NOTEBOOKS[0].read_text().replace(owner_repo, "someone/old-fork")
    copy.write_text(text)
    assert "someone/old-fork" in copy.read_text()
    assert tool.update_notebook(copy) is True
    nb = _read(copy)
    assert _code(nb)[0].source == setup_cell()
    assert badge_url(copy.name) in nb.cells[0].source and "old-fork" not in copy.read_text()
    assert tool.update_notebook(copy) is False  # idempotent


def test_rewrite_setup_cell_changes_that_cell_only(tmp_path):
    """``tools/rewrite_setup_cell.py`` puts back the set-up cell and leaves every other byte alone."""
    import importlib.util
    import json

    tool_path = Path(__file__).resolve().parents[1] / "tools" / "rewrite_setup_cell.py"
    spec = importlib.util.spec_from_file_location("rewrite_setup_cell", tool_path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    original = NOTEBOOKS[0].read_text()
    old_cell = ["# an old set-up cell\n", "from esrgan_lib.profiles import get_profile\n", "PROFILE = 1"]
    nb = json.loads(original)
    first = next(c for c in nb["cells"] if c["cell_type"] == "code")
    first["source"] = old_cell
    copy = tmp_path / NOTEBOOKS[0].name
    copy.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    assert tool.rewrite(copy) is True
    assert copy.read_text() == original, "only the set-up cell's source may change"
    assert tool.rewrite(copy) is False and copy.read_text() == original  # idempotent
    copy.write_text(json.dumps(nb, indent=2) + "\n")  # not nbformat's layout: refused, not reformatted
    with pytest.raises(ValueError, match="layout"):
        tool.rewrite(copy)


def test_no_cell_has_outputs_it_was_not_run_for(notebook):
    """nbval refuses a code cell that has outputs but no execution count (outputs pasted in by hand)."""
    path, nb = notebook
    code = [(k, c) for k, c in enumerate(nb.cells) if c.cell_type == "code"]
    pasted = [k for k, c in code if c.outputs and c.execution_count is None]
    assert not pasted, f"{path.name}: cells {pasted} have outputs but were never run; re-execute the notebook"
