#!/usr/bin/env bash
# Provide what the browser test (pytest -m browser tests/browser) needs:
#   - Debian's Chromium, installed with apt when missing (needs root; otherwise it says what to run);
#   - the Python package playwright, installed with pip into the project venv.
# Playwright's own browser download (`playwright install`) is never used: the test drives /usr/bin/chromium.
# Usage: .ci/install_browser.sh [path/to/venv]   (default: .venv next to this folder)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$repo/.venv}"

have_chromium() {
  for exe in /usr/bin/chromium /usr/lib/chromium/chromium /usr/bin/chromium-headless-shell; do
    [ -x "$exe" ] && { echo "$exe"; return 0; }
  done
  return 1
}

if ! exe="$(have_chromium)"; then
  if [ "$(id -u)" != 0 ]; then
    echo "install_browser: Chromium is missing; run: sudo apt-get install chromium" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get update -q
  timeout 600 apt-get install -y -q --no-install-recommends chromium
  exe="$(have_chromium)"
fi
echo "install_browser: $("$exe" --version 2>/dev/null | head -n 1) at $exe"

if ! "$venv/bin/python" -c "import playwright" 2>/dev/null; then
  timeout 600 "$venv/bin/python" -m pip install -q --disable-pip-version-check playwright
fi
"$venv/bin/python" -c "from importlib.metadata import version; print('install_browser: playwright', version('playwright'))"
