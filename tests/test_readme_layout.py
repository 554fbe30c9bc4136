"""The README's package table matches the package's layout: a newcomer finds every module from it.

Every public module of ``esrgan_lib`` is named in the table (``esrgan_lib.<module>`` for the top level;
a subpackage's modules as ``name.py`` or ``name`` in backticks in that subpackage's row), and every
``name.py`` the table names exists where the row says.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "esrgan_lib"


def _table_rows() -> dict[str, str]:
    """``{first cell: whole row}`` of the table under the README's '## The package' heading."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## The package", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `esrgan_lib")]
    assert rows, "the README has no package table"
    return {row.split("|")[1]: row for row in rows}


def _public(path: Path) -> bool:
    return not path.name.startswith("_")


def test_every_top_level_module_and_subpackage_is_in_the_table():
    table = "\n".join(_table_rows().values())
    named = set(re.findall(r"`esrgan_lib\.(\w+)", table))
    modules = {p.stem for p in PACKAGE.glob("*.py") if _public(p)}
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    missing = sorted((modules | packages) - named)
    assert not missing, f"the README's package table does not name esrgan_lib.{missing}"
    unknown = sorted(named - modules - packages)
    assert not unknown, f"the README's package table names modules that do not exist: {unknown}"


def test_every_module_of_a_subpackage_is_named_in_its_row_and_every_named_file_exists():
    rows = _table_rows()
    problems = []
    for package in sorted(p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()):
        row = next((r for cell, r in rows.items() if f"`esrgan_lib.{package.name}`" in cell), None)
        if row is None:
            problems.append(f"no row for esrgan_lib.{package.name}")
            continue
        named = set(re.findall(r"`(\w+)(?:\.py)?`", row)) | set(re.findall(r"\b(\w+)\.py\b", row))
        for module in sorted(p.stem for p in package.glob("*.py") if _public(p)):
            if module not in named:
                problems.append(f"esrgan_lib.{package.name}: {module}.py is not named in its row")
        for name in sorted(set(re.findall(r"\b(\w+)\.py\b", row))):
            if not (package / f"{name}.py").is_file():
                problems.append(f"esrgan_lib.{package.name}: the row names {name}.py, which does not exist")
    assert not problems, "README package table vs layout:\n" + "\n".join(problems)
