#!/usr/bin/env bash
# Install what the end-to-end browser test (tests/e2e/) needs; idempotent and quick when done already.
#   - Debian's `chromium` package (only when /usr/bin/chromium is missing; needs root or sudo);
#   - Playwright for Python in the project's virtualenv (the test drives /usr/bin/chromium through it;
#     Playwright's own browser download is never used).
# Usage: scripts/install-browser.sh [PYTHON]   (default: .venv/bin/python of this checkout)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${1:-.venv/bin/python}"

if [ ! -x /usr/bin/chromium ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    echo "install-browser: installing Debian's chromium package" >&2
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium
fi

if ! "$PYTHON" -c "import playwright.sync_api" >/dev/null 2>&1; then
    echo "install-browser: installing playwright into $PYTHON's environment" >&2
    "$PYTHON" -m pip install -q playwright
fi
