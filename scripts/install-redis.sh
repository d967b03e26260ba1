#!/usr/bin/env bash
# Install what the server-side session tests need (they start their own redis-server); idempotent and
# quick when done already.
#   - Debian's `redis-server` package without its recommended packages (only when no `redis-server`
#     is on PATH; needs root or sudo), announced before it is installed. The package's own service is
#     not used: the tests run a private redis-server on a free 127.0.0.1 port.
# Usage: scripts/install-redis.sh
set -euo pipefail
REDIS_SERVER="${LYRE_REDIS_SERVER:-redis-server}"  # overridable for this script's own test

if command -v "$REDIS_SERVER" >/dev/null 2>&1; then
    echo "install-redis: $(command -v "$REDIS_SERVER") present, nothing to install" >&2
    exit 0
fi
. "$(dirname "$0")/apt-install.sh"
apt_install install-redis redis-server "$REDIS_SERVER"
