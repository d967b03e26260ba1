#!/usr/bin/env bash
# Install what the end-to-end browser test (tests/e2e/) needs; idempotent and quick when done already.
#   - Debian's `chromium` package without its recommended packages (only when /usr/bin/chromium is
#     missing; needs root or sudo), announced before it is installed;
#   - Playwright for Python in the project's virtualenv (the test drives /usr/bin/chromium through it;
#     Playwright's own browser download is never used).
# Usage: scripts/install-browser.sh [PYTHON]   (default: .venv/bin/python of this checkout)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${1:-.venv/bin/python}"
CHROMIUM="${LYRE_CHROMIUM_PATH:-/usr/bin/chromium}"  # overridable for this script's own test

if [ ! -x "$CHROMIUM" ]; then
    # Only chromium and what it strictly depends on (no recommended packages); say so before doing it.
    . scripts/apt-install.sh
    apt_install install-browser chromium "$CHROMIUM"
else
    echo "install-browser: $CHROMIUM present, nothing to install" >&2
fi

if ! "$PYTHON" -c "import playwright.sync_api" >/dev/null 2>&1; then
    echo "install-browser: installing the 'playwright' Python package into $PYTHON's environment" >&2
    "$PYTHON" -m pip install -q playwright
fi
