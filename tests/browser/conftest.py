"""Browser tests run only when asked for: ``pytest -m browser tests/browser`` (.ci/run: its own step).

In a plain ``pytest`` run they are skipped, so the default suite needs neither Chromium nor Playwright.
"""

import pytest


def pytest_collection_modifyitems(config, items):
    if "browser" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="browser test: run it with `pytest -m browser tests/browser`")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)
