#!/usr/bin/env bash
# Install valgrind (for `make bench-instructions`) from Debian's packages when it is missing; idempotent.
set -euo pipefail
if command -v valgrind >/dev/null 2>&1; then
    exit 0
fi
. "$(dirname "$0")/apt-install.sh"
apt_install install-valgrind valgrind valgrind
