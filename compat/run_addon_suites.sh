#!/usr/bin/env bash
# Run sse-starlette's own test suite (from its sdist), unmodified, on lyre through the alias.
#
# Usage: compat/run_addon_suites.sh [--baseline] [-- PYTEST_ARGS...]
#   --baseline  run it on the real Starlette instead (for comparison)
# Own venv (.venv-compat-addons): pytest-asyncio, which sse-starlette's tests use, must not leak
# into the FastAPI suite's venv. starlette-context ships no tests in its sdist: it is covered by
# compat/cases/test_addon_libraries.py (run by tests/test_addons.py in `make test`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-compat-addons"
WORK="$ROOT/compat/.work/addons"
PY="${PY:-python3}"
PKG="sse-starlette"
VERSION="3.7.0"
BASELINE=0
PYTEST_EXTRA=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --baseline) BASELINE=1; shift ;;
        --) shift; PYTEST_EXTRA=("$@"); break ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
quiet() { grep -vE "^WARNING: Location|^ *$|^  " || true; }

if [[ ! -x "$VENV/bin/python" ]]; then
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | quiet
fi
VPY="$VENV/bin/python"
PIP=("$VPY" -m pip install -q --disable-pip-version-check)
STAMP="$VENV/.installed-$VERSION"
SRC="$WORK/sse_starlette-$VERSION"
mkdir -p "$WORK"
if [[ ! -d "$SRC/tests" ]]; then
    "$VPY" -m pip download -q --disable-pip-version-check --no-deps --no-binary "$PKG" "$PKG==$VERSION" -d "$WORK" 2>&1 | quiet
    tar -xzf "$WORK/sse_starlette-$VERSION.tar.gz" -C "$WORK"
fi
if [[ ! -f "$STAMP" || "$ROOT/pyproject.toml" -nt "$STAMP" ]]; then
    "${PIP[@]}" -e "$ROOT[test]" "$WORK/sse_starlette-$VERSION.tar.gz" \
        "pytest-asyncio>=0.25" "asgi-lifespan>=2.1" "httpx2>=2.12" "uvicorn>=0.34" "fastapi" 2>&1 | quiet
    touch "$STAMP"
fi

# Tests that need repository files the sdist does not ship (see compat/EXCLUDED.md); the
# `integration`/`experimentation` markers are the project's own "not in CI" tests (Docker, timing).
EXCLUDE=(
    --ignore tests/test_broadcasting_example.py  # loads examples/02_broadcasting.py
    --deselect "tests/test_sse.py::TestEventSourceResponse::test_disconnect_whenClientDisconnects_thenHandlesGracefully"  # conftest's httpx_client fixture
)
PLUGIN=(-p lyre_compat_plugin -p sse_starlette_shim)
TAG="sse-starlette-$VERSION"
if [[ "$BASELINE" == 1 ]]; then PLUGIN=(-p sse_starlette_shim); TAG="$TAG-baseline"; fi
cd "$SRC"
set +e
PYTHONPATH="$ROOT/compat:$SRC" LYRE_COMPAT_ALIAS="$((1 - BASELINE))" "$VPY" -m pytest tests "${PLUGIN[@]}" \
    -p no:cacheprovider -q -rfE --tb=short -m "not integration and not experimentation" \
    "${EXCLUDE[@]}" \
    --junitxml="$WORK/junit-$TAG.xml" "${PYTEST_EXTRA[@]}" >"$WORK/pytest-$TAG.log" 2>&1
RC=$?
set -e
tail -n 3 "$WORK/pytest-$TAG.log"
"$VPY" "$ROOT/compat/summarize.py" "$WORK/junit-$TAG.xml" --title "$TAG" | tee "$WORK/results-$TAG.txt"
exit "$RC"
