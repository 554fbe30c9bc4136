"""Drive JupyterLab in headless Chromium, the way a learner uses the course notebooks.

Used by ``tests/browser/test_jupyterlab.py``. Three pieces:

* :func:`ensure_chromium` / :func:`ensure_playwright` find (or, as root with apt, install) Debian's Chromium
  and import Python Playwright; they raise :class:`BrowserUnavailable` with a reason when that is impossible,
  which the tests turn into a skip. Playwright's own browser download (``playwright install``) is never used.
* :class:`JupyterLabServer` starts ``python -m jupyterlab`` from this interpreter on 127.0.0.1 with a random
  port, a token and throw-away settings/workspace/data folders, and stops it (terminate, wait, kill the
  process group).
* :class:`NotebookPage` opens one notebook in a Playwright page, runs all cells through the "Run" menu, waits
  for the kernel, and reports what a learner would see: unfinished cells, error outputs, broken widgets.

Every wait has a bound; :class:`Deadline` caps a whole test.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "browser"

CHROMIUM_CANDIDATES = (
    "/usr/bin/chromium",
    "/usr/lib/chromium/chromium",
    "/usr/bin/chromium-headless-shell",
    "/usr/lib/chromium/chromium-headless-shell",
)
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

# What the notebook's outputs must not contain (CSS selectors, checked in every output area).
ERROR_OUTPUT_SELECTOR = (
    ".jp-OutputArea-output[data-mime-type*='error'], .jp-RenderedText[data-mime-type*='error']"
)
STDERR_SELECTOR = ".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']"
WIDGET_ERROR_SELECTOR = ".jupyter-widgets-error-widget"
# What they should contain.
SLIDER_SELECTOR = ".jupyter-widgets.widget-slider"  # IntSlider/FloatSlider, ipywidgets 7 and 8
PROGRESS_SELECTOR = ".jupyter-widgets.widget-hprogress, .jupyter-widgets.widget-vprogress"  # tqdm.auto bars
OUTPUT_IMAGE_SELECTOR = ".jp-OutputArea-output img"
COMPARE_SLIDER_SELECTOR = ".esrgan-compare-slider"


class BrowserUnavailable(RuntimeError):
    """Chromium or Playwright cannot be provided here; the message says why (the tests skip with it)."""


class Deadline:
    """A wall-clock budget shared by several waits: ``deadline.bound(60)`` is min(60 s, what is left)."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def bound(self, seconds: float) -> float:
        left = self.left()
        if left <= 0:
            raise TimeoutError("the test's overall time budget is used up")
        return min(seconds, left)


# ------------------------------------------------------------------------------------------------------------
# Chromium and Playwright
# ------------------------------------------------------------------------------------------------------------


def find_chromium() -> str | None:
    """Path of an installed Chromium (``$ESRGAN_CHROMIUM`` first, then Debian's locations), or None."""
    override = os.environ.get("ESRGAN_CHROMIUM")
    for candidate in ((override,) if override else ()) + CHROMIUM_CANDIDATES:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def ensure_chromium(*, timeout: float = 420) -> str:
    """Return a Chromium executable, installing Debian's ``chromium`` package with apt when we are root.

    Raises :class:`BrowserUnavailable` when it is missing and cannot be installed (no root, no apt, apt
    failed or took longer than ``timeout`` seconds).
    """
    found = find_chromium()
    if found:
        return found
    if shutil.which("apt-get") is None:
        raise BrowserUnavailable("Chromium is not installed and apt-get is not available to install it")
    if os.geteuid() != 0:
        raise BrowserUnavailable(
            "Chromium is not installed; install it with `sudo apt-get install chromium` "
            "(or set ESRGAN_CHROMIUM to a Chromium executable)"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    script = "apt-get update -q && apt-get install -y -q --no-install-recommends chromium"
    try:
        proc = subprocess.run(
            ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BrowserUnavailable(f"installing Chromium with apt took longer than {timeout:.0f} s") from exc
    found = find_chromium()
    if proc.returncode != 0 or not found:
        tail = (proc.stdout + proc.stderr)[-600:]
        raise BrowserUnavailable(f"`{script}` failed (exit {proc.returncode}): {tail}")
    return found


def chromium_version(executable: str) -> str:
    """``chromium --version`` output (e.g. "Chromium 156.0.8078.108 built on Debian ..."), "" on failure."""
    try:
        proc = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip()


def ensure_playwright(*, timeout: float = 300):
    """Import ``playwright.sync_api``; pip-install the ``playwright`` package into this interpreter if needed.

    Only the Python package is installed; its browser download is never run (we drive Debian's Chromium).
    """
    try:
        from playwright import sync_api
    except ImportError:
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "install", "-q", "playwright"],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise BrowserUnavailable(f"`pip install playwright` took longer than {timeout:.0f} s") from exc
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr)[-600:]
            raise BrowserUnavailable(f"`pip install playwright` failed: {tail}") from None
        try:
            from playwright import sync_api
        except ImportError as exc:
            raise BrowserUnavailable(f"playwright installed but cannot be imported: {exc}") from exc
    return sync_api


@contextlib.contextmanager
def launch_chromium(sync_api, executable: str, *, viewport=(1400, 1000)):
    """Yield a Playwright browser context on ``executable`` with a fresh user-data-dir (removed after)."""
    profile = tempfile.mkdtemp(prefix="esrgan-chromium-")
    try:
        with sync_api.sync_playwright() as pw:
            try:
                context = pw.chromium.launch_persistent_context(
                    profile,
                    executable_path=executable,
                    headless=True,
                    args=list(CHROMIUM_ARGS),
                    viewport={"width": viewport[0], "height": viewport[1]},
                    timeout=60_000,
                )
            except (
                Exception
            ) as exc:  # Playwright raises its own Error type; any failure here means "no browser"
                first_line = (
                    str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
                )
                raise BrowserUnavailable(
                    f"Chromium at {executable} could not be launched: {first_line}"
                ) from exc
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


# ------------------------------------------------------------------------------------------------------------
# JupyterLab server
# ------------------------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Settings: no news toast; no cell virtualisation (it would keep cells outside the viewport out of the DOM,
# hiding their outputs from the checks); no autosave.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # never write the executed notebook back into the repository
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


class JupyterLabServer:
    """``python -m jupyterlab`` from this interpreter, so the ``python3`` kernel is this environment's.

    Args:
        root_dir: folder the server serves (the repository).
        env: extra environment variables for the server and its kernels (e.g. ``ESRGAN_PROFILE=smoke``).
        log_path: where the server's output goes (kept for the test report).
    """

    def __init__(self, root_dir: Path, *, env: dict[str, str] | None = None, log_path: Path | None = None):
        self.root_dir = Path(root_dir).resolve()
        self.extra_env = dict(env or {})
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._tmp = Path(tempfile.mkdtemp(prefix="esrgan-jupyterlab-"))
        self.log_path = Path(log_path) if log_path else self._tmp / "server.log"
        self.proc: subprocess.Popen | None = None
        self._log = None

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("MPLBACKEND", None)  # the test runner forces Agg; learners get the inline backend
        env.pop("JUPYTER_PATH", None)
        for name in ("config", "data", "runtime"):
            folder = self._tmp / name
            folder.mkdir(parents=True, exist_ok=True)
            env[f"JUPYTER_{name.upper()}_DIR"] = str(folder)  # no user-level kernels or settings leak in
        env["JUPYTER_PLATFORM_DIRS"] = "1"
        env.update(self.extra_env)
        return env

    def command(self) -> list[str]:
        settings_dir = self._tmp / "settings"
        for relpath, values in LAB_SETTINGS.items():
            path = settings_dir / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        return [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.user_settings_dir={settings_dir}",
            f"--LabApp.workspaces_dir={self._tmp / 'workspaces'}",
            # absolute, so opening a notebook leaves no .ipynb_checkpoints folder in the repository
            f"--FileCheckpoints.checkpoint_dir={self._tmp / 'checkpoints'}",
        ]

    def api(self, path: str, *, timeout: float = 10):
        """GET ``/api/<path>`` with the token; returns the decoded JSON."""
        request = urllib.request.Request(
            f"{self.base_url}/api/{path}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode())

    def start(self, *, timeout: float = 120) -> JupyterLabServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.command(),
            cwd=self.root_dir,
            env=self._environment(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("status", timeout=5)
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
        self.stop()
        raise TimeoutError(
            f"JupyterLab did not answer on {self.base_url} within {timeout:.0f} s:\n{self.log_tail()}"
        )

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def lab_url(self, relpath: str, *, workspace: str | None = None) -> str:
        """URL that opens ``relpath``; with ``workspace``, in that (reset, so empty) JupyterLab workspace."""
        if workspace:
            return f"{self.base_url}/lab/workspaces/{workspace}/tree/{relpath}?reset&token={self.token}"
        return f"{self.base_url}/lab/tree/{relpath}?token={self.token}"

    def stop(self, *, timeout: float = 20) -> None:
        """Terminate the server (it shuts its kernels down), wait, then kill its process group."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # the server's own session: leftover kernels
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> JupyterLabServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# ------------------------------------------------------------------------------------------------------------
# One notebook in the browser
# ------------------------------------------------------------------------------------------------------------

# JavaScript run in the page (JupyterLab exposes its application object as window.jupyterapp when started with
# --LabApp.expose_app_in_browser=True). It reads the notebook model, not the DOM, so it sees every cell.
_JS_NOTEBOOK_STATE = """
() => {
  const app = window.jupyterapp;
  if (!app) return {ready: false, why: "window.jupyterapp missing"};
  const panel = app.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return {ready: false, why: "no notebook panel"};
  const ctx = panel.sessionContext;
  const kernel = ctx.session && ctx.session.kernel;
  const cells = [];
  panel.content.widgets.forEach((cell, index) => {
    const m = cell.model;
    cells.push({index, type: m.type, source: m.sharedModel.getSource(),
                count: m.type === "code" ? m.executionCount : null});
  });
  return {ready: true, panelId: panel.id, path: panel.context ? panel.context.path : null,
          kernelName: kernel ? kernel.name : null, kernelStatus: kernel ? kernel.status : null,
          kernelDisplayName: ctx.kernelDisplayName, cells};
}
"""

_JS_RUN_ALL = "() => window.jupyterapp.commands.execute('notebook:run-all-cells')"


@dataclass
class NotebookReport:
    """What a learner would see after "Run All Cells" (filled by :meth:`NotebookPage.inspect`)."""

    path: str
    kernel_name: str | None = None
    unfinished_cells: list[int] = field(default_factory=list)
    error_outputs: list[str] = field(default_factory=list)
    widget_errors: list[str] = field(default_factory=list)
    sliders: int = 0
    progress_bars: int = 0
    images: int = 0
    compare_sliders: int = 0

    def problems(self) -> list[str]:
        out = []
        if self.unfinished_cells:
            out.append(f"code cells without an execution count (0-based): {self.unfinished_cells}")
        out += [f"error output: {text}" for text in self.error_outputs]
        out += [f"widget error: {text}" for text in self.widget_errors]
        return out


class NotebookPage:
    """One notebook opened in JupyterLab in its own browser tab."""

    _opened = 0  # pages opened so far in this process (names the JupyterLab workspaces)

    def __init__(self, context, server: JupyterLabServer, relpath: str, deadline: Deadline):
        self.server = server
        self.relpath = relpath
        self.deadline = deadline
        self.page = context.new_page()
        self.root = self.page.locator(".jp-NotebookPanel")  # narrowed to this notebook's panel by open()
        self.run_via = ""
        self.progress_seen = 0  # most progress bars on screen at once while the cells ran
        self.console: list[str] = []
        self.page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))

    def state(self) -> dict:
        return self.page.evaluate(_JS_NOTEBOOK_STATE)

    def _accept_dialogs(self) -> None:
        """Click the default button of any dialog (e.g. "Select Kernel" when the notebook names no kernel)."""
        dialog = self.page.locator(".jp-Dialog")
        if dialog.count():
            self.page.locator(".jp-Dialog .jp-mod-accept").first.click(timeout=5_000)

    def open(self, *, timeout: float = 90) -> dict:
        """Load the notebook and wait until its kernel is started and idle; returns :meth:`state`.

        Each page gets its own, reset workspace, so notebooks opened earlier are not restored next to it.
        """
        NotebookPage._opened += 1
        workspace = f"esrgan-test-{os.getpid()}-{NotebookPage._opened}"
        url = self.server.lab_url(self.relpath, workspace=workspace)
        self.page.goto(url, timeout=self.deadline.bound(timeout) * 1000)
        self.page.wait_for_selector(".jp-NotebookPanel", timeout=self.deadline.bound(timeout) * 1e3)
        end = time.monotonic() + self.deadline.bound(timeout)
        state = {}
        while time.monotonic() < end:
            self._accept_dialogs()
            state = self.state()
            ours = state.get("ready") and state.get("path") == self.relpath
            if ours and state.get("kernelStatus") == "idle":
                self.root = self.page.locator(f"[id='{state['panelId']}']")
                return state
            time.sleep(0.5)
        raise TimeoutError(f"{self.relpath}: kernel not idle after {timeout:.0f} s (last state: {state})")

    def run_all(self) -> None:
        """Run all cells as a learner would: Run menu -> Run All Cells (JupyterLab command as a fallback)."""
        try:
            self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).first.click(
                timeout=10_000
            )
            self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).first.click(
                timeout=10_000
            )
            self.run_via = "Run menu"
        except Exception:  # menu layout differs: fall back to the command the menu item runs
            self.page.keyboard.press("Escape")
            self.page.evaluate(_JS_RUN_ALL)
            self.run_via = "notebook:run-all-cells command"

    def wait_finished(self, *, timeout: float = 300, settle: float = 2.0) -> dict:
        """Wait until no cell is queued or running and the kernel is idle for ``settle`` seconds.

        A failing cell stops "Run All", leaving later cells without a count: that is returned, not waited on.
        """
        end = time.monotonic() + self.deadline.bound(timeout)
        idle_since = None
        state = {}
        while time.monotonic() < end:
            self._accept_dialogs()
            state = self.state()
            prompts = self.root.locator(".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
            busy = any(p.strip() == "[*]:" for p in prompts) or state.get("kernelStatus") != "idle"
            self.progress_seen = max(self.progress_seen, self.root.locator(PROGRESS_SELECTOR).count())
            if busy:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= settle:
                return state
            time.sleep(0.5)
        raise TimeoutError(
            f"{self.relpath}: cells still running after {timeout:.0f} s (kernel {state.get('kernelStatus')})"
        )

    def inspect(self, state: dict) -> NotebookReport:
        """Collect unfinished cells, error outputs, widget errors and the widget/image counts."""
        page = self.root
        report = NotebookReport(path=self.relpath, kernel_name=state.get("kernelName"))
        report.unfinished_cells = [
            c["index"]
            for c in state["cells"]
            if c["type"] == "code" and c["source"].strip() and not c["count"]
        ]
        report.error_outputs = [t[:800] for t in page.locator(ERROR_OUTPUT_SELECTOR).all_inner_texts()]
        report.error_outputs += [
            t[:800] for t in page.locator(STDERR_SELECTOR).all_inner_texts() if "Traceback" in t
        ]
        report.widget_errors = [t[:300] for t in page.locator(WIDGET_ERROR_SELECTOR).all_inner_texts()]
        outputs_text = " ".join(page.locator(".jp-OutputArea").all_inner_texts())
        for marker in ("Error displaying widget", "Loading widget..."):
            if marker in outputs_text:
                report.widget_errors.append(f"output text contains {marker!r}")
        report.sliders = page.locator(SLIDER_SELECTOR).count()
        report.progress_bars = max(self.progress_seen, page.locator(PROGRESS_SELECTOR).count())
        report.images = page.locator(OUTPUT_IMAGE_SELECTOR).count()
        report.compare_sliders = page.locator(COMPARE_SLIDER_SELECTOR).count()
        return report

    def move_slider(
        self,
        index: int = 0,
        *,
        slider_class: str = "esrgan-compare-slider",
        image_class: str = "esrgan-compare-image",
        timeout: float = 60,
    ) -> tuple[bytes, bytes, str, str]:
        """Press arrow keys on the ``index``-th slider with CSS class ``slider_class``.

        Returns (png_before, png_after, src_before, src_after) of the image it controls: the element with
        class ``image_class`` inside the nearest widget box that holds both.
        """
        slider = self.root.locator(f".{slider_class}").nth(index)
        box = slider.locator(
            "xpath=ancestor::div[contains(concat(' ', @class, ' '), ' widget-box ')]"
            f"[.//*[contains(concat(' ', @class, ' '), ' {image_class} ')]][1]"
        )
        image = (box if box.count() else self.root).locator(f".{image_class}").first
        if image.evaluate("el => el.tagName") != "IMG":
            image = image.locator("img").first
        image.scroll_into_view_if_needed(timeout=10_000)
        src_before = image.get_attribute("src") or ""
        png_before = image.screenshot(timeout=10_000)
        handle = slider.locator(".noUi-handle, .ui-slider-handle, input[type=range]").first
        handle.focus(timeout=10_000)
        for _ in range(8):
            handle.press("ArrowRight")
        end = time.monotonic() + self.deadline.bound(timeout)
        src_after = src_before
        while time.monotonic() < end and src_after == src_before:
            time.sleep(0.3)
            src_after = image.get_attribute("src") or ""
        time.sleep(0.5)  # let the new image paint before the screenshot
        png_after = image.screenshot(timeout=10_000)
        return png_before, png_after, src_before, src_after

    def upload_file(self, path: Path, *, upload_class: str = "esrgan-upload", timeout: float = 120) -> str:
        """Choose ``path`` in the first FileUpload widget with ``upload_class``, as the file dialog would.

        Waits until the file name shows up in the widget's box (the course's widget prints "<name>: WxH");
        returns that box's text.
        """
        upload = self.root.locator(f".{upload_class}").first
        upload.scroll_into_view_if_needed(timeout=10_000)
        with self.page.expect_file_chooser(timeout=10_000) as chooser:  # the button opens a file dialog
            upload.click(timeout=10_000)
        chooser.value.set_files(str(path), timeout=10_000)
        box = upload.locator("xpath=ancestor::div[contains(concat(' ', @class, ' '), ' widget-box ')][1]")
        box.get_by_text(Path(path).name).first.wait_for(timeout=self.deadline.bound(timeout) * 1e3)
        return box.inner_text()

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), timeout=30_000)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.page.close()


WIDGET_MARKERS = (
    "ipywidgets",
    "esrgan_lib.notebook.widgets",
    "comparison_slider",
    "interpolation_slider",
    "upscale_your_own",
)


def find_widget_notebooks(root: Path = REPO, *, select: str | None = None) -> list[Path]:
    """Notebooks under ``root/notebooks`` to drive in the browser.

    By default those whose code uses ipywidgets or the course's widget helpers (``WIDGET_MARKERS``).
    ``select`` (default: ``$ESRGAN_BROWSER_NOTEBOOKS``) widens or replaces that: ``"all"`` for every notebook,
    or comma-separated file-name patterns such as ``"03_*,10_*"``.
    """
    select = os.environ.get("ESRGAN_BROWSER_NOTEBOOKS", "") if select is None else select
    paths = sorted((root / "notebooks").glob("*.ipynb"))
    if select.strip() == "all":
        return paths
    if select.strip():
        patterns = [p.strip() for p in select.split(",") if p.strip()]
        return [p for p in paths if any(p.match(pattern) for pattern in patterns)]
    found = []
    for path in paths:
        try:
            cells = json.loads(path.read_text()).get("cells", [])
        except (OSError, ValueError):
            continue
        source = "\n".join("".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code")
        if any(marker in source for marker in WIDGET_MARKERS):
            found.append(path)
    return found
