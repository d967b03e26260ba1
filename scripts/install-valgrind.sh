#!/usr/bin/env bash
# Install valgrind (for `make bench-instructions`) from Debian's packages when it is missing; idempotent.
set -euo pipefail
if command -v valgrind >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "install-valgrind: valgrind is missing; installing Debian's 'valgrind' package" \
    "(apt-get install --no-install-recommends valgrind; needs root or sudo)" >&2
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends valgrind
