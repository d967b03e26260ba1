#!/usr/bin/env bash
# Run FastAPI's own test suite, unmodified, on lyre through the `starlette` -> `lyre` alias.
#
# Usage: compat/run_fastapi_suite.sh [--version X.Y.Z|--version latest] [--baseline] [-- PYTEST_ARGS...]
#   --version   FastAPI release to test (default 0.165.0; "latest" = newest on the package index)
#   --baseline  run the same suite on the real Starlette (no alias), for comparison
#
# What it does, in its own venv (.venv-compat-fastapi, made from python3):
#   1. installs lyre editable with its `test` extra;
#   2. downloads FastAPI's *source distribution* (its tests/ and docs_src/ ship in it) into
#      compat/.work/ and unpacks it there;
#   3. installs FastAPI as released (from that sdist) plus the `tests` dependency group of its
#      pyproject.toml (what FastAPI's tests import);
#   4. runs FastAPI's tests/ from the unpacked tree with `-p lyre_compat_plugin` (compat/ is put
#      on PYTHONPATH): the plugin turns the alias on before anything imports starlette. The
#      exclusions are the entries of compat/EXCLUDED.md (network / FastAPI repo scripts only).
# The summary (pass figure, failures) goes to stdout and compat/.work/results-<version>[-baseline].txt.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-compat-fastapi"
WORK="$ROOT/compat/.work"
PY="${PY:-python3}"
VERSION="0.165.0"
BASELINE=0
PYTEST_EXTRA=()

while [[ $# -gt 0 ]]; do
    case "$1" in
        --version) VERSION="$2"; shift 2 ;;
        --baseline) BASELINE=1; shift ;;
        --) shift; PYTEST_EXTRA=("$@"); break ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

if [[ ! -x "$VENV/bin/python" ]]; then
    echo ">> creating $VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
fi
VPY="$VENV/bin/python"
# pip's chatter about unreachable mirrors and build back-end notices is noise here.
quiet() { grep -vE "^WARNING: Location|^ *$|^  " || true; }
PIP=("$VPY" -m pip install -q --disable-pip-version-check)

STAMP="$VENV/.lyre-installed"
if [[ ! -f "$STAMP" || "$ROOT/pyproject.toml" -nt "$STAMP" ]]; then
    echo ">> installing lyre (editable, [test])"
    "${PIP[@]}" -e "$ROOT[test]" 2>&1 | quiet
    touch "$STAMP"
fi

mkdir -p "$WORK/dist"
if [[ "$VERSION" == "latest" ]]; then
    VERSION="$("$VPY" -m pip index versions fastapi 2>/dev/null | sed -n 's/^fastapi (\(.*\))$/\1/p' | head -1)"
    [[ -n "$VERSION" ]] || { echo "could not find the newest FastAPI version" >&2; exit 1; }
    echo ">> newest FastAPI on the index: $VERSION"
fi

SDIST="$WORK/dist/fastapi-$VERSION.tar.gz"
SRC="$WORK/fastapi-$VERSION"
if [[ ! -f "$SDIST" ]]; then
    echo ">> downloading the FastAPI $VERSION source distribution"
    "$VPY" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
        "fastapi==$VERSION" -d "$WORK/dist" 2>&1 | quiet
fi
if [[ ! -d "$SRC/tests" ]]; then
    echo ">> unpacking into $SRC"
    rm -rf "$SRC"
    tar -xzf "$SDIST" -C "$WORK"
fi

FSTAMP="$VENV/.fastapi-$VERSION-installed"
if [[ ! -f "$FSTAMP" ]]; then
    echo ">> installing FastAPI $VERSION as released, and its test requirements"
    rm -f "$VENV"/.fastapi-*-installed
    # FastAPI with its `all` extra (pydantic-settings, email-validator, fastapi-cli... which the
    # docs_src tutorials under test import) and the `tests` dependency group (PEP 735) of its own
    # pyproject.toml, as FastAPI's CI does.
    (cd "$SRC" && "${PIP[@]}" "fastapi[all] @ file://$SDIST" --group tests 2>&1 | quiet)
    touch "$FSTAMP"
fi

# Exclusions: every line of EXCLUDED.md that starts with "- `tests/..." names a test id or file.
DESELECT=()
while IFS= read -r item; do
    if [[ "$item" == *"::"* ]]; then
        DESELECT+=("--deselect" "$item")
    else
        DESELECT+=("--ignore" "$item")
    fi
done < <(sed -n 's/^- `\(tests\/[^`]*\)`.*/\1/p' "$ROOT/compat/EXCLUDED.md")

TAG="$VERSION"
PLUGIN=(-p lyre_compat_plugin)
if [[ "$BASELINE" == 1 ]]; then
    TAG="$VERSION-baseline"
    PLUGIN=()
fi
REPORT="$WORK/results-$TAG.txt"
JUNIT="$WORK/junit-$TAG.xml"

echo ">> running FastAPI $VERSION tests/ $([[ $BASELINE == 1 ]] && echo 'on the real Starlette (baseline)' || echo 'on lyre (alias on)')"
cd "$SRC"
set +e
PYTHONPATH="$ROOT/compat${PYTHONPATH:+:$PYTHONPATH}" LYRE_COMPAT_ALIAS="$((1 - BASELINE))" \
    "$VPY" -m pytest tests "${PLUGIN[@]}" "${DESELECT[@]}" \
    -p no:cacheprovider -q -rfE --tb=short --junitxml="$JUNIT" \
    "${PYTEST_EXTRA[@]}" >"$WORK/pytest-$TAG.log" 2>&1
RC=$?
set -e
tail -n 3 "$WORK/pytest-$TAG.log"
"$VPY" "$ROOT/compat/summarize.py" "$JUNIT" --title "FastAPI $TAG" | tee "$REPORT"
exit "$RC"
