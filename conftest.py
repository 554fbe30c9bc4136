"""Root pytest configuration: notebooks run in the fast ``smoke`` profile unless told otherwise."""

import os

os.environ.setdefault("ESRGAN_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fp32_cpu(request, monkeypatch):
    """Library tests see a CPU without native bf16 (so ``precision="auto"`` is fp32 and the exact-output
    tolerances hold on every CI machine); ``tests/test_runtime.py`` tests the real probe, and a test marked
    ``native_bf16`` sees the real CPU."""
    if request.node.path.name == "test_runtime.py" or request.node.get_closest_marker("native_bf16"):
        return
    try:
        from esrgan_lib import runtime
    except ImportError:
        return
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: False)
