#!/usr/bin/env bash
# Run FastAPI's own test suite, unmodified, on lyre through the `starlette` -> `lyre` alias.
#
# Usage: compat/run_fastapi_suite.sh [--version X.Y.Z|latest] [--also-latest] [--baseline]
#                                    [--min-pass PERCENT] [-- PYTEST_ARGS...]
#   --version      FastAPI release to test (default 0.165.0; "latest" = newest on the package index)
#   --also-latest  then the newest release too (skipped, with a note, when it is the same version)
#   --baseline     run on the real Starlette (no alias), for comparison
#   --min-pass     exit 0 when every run's pass figure is >= PERCENT (default: pytest's exit status)
#
# What it does, in its own venv (.venv-compat-fastapi, made from python3):
#   1. installs lyre editable with its `test` extra;
#   2. downloads FastAPI's *source distribution* (its tests/, docs_src/ and scripts/ ship in it)
#      into compat/.work/ and unpacks it there;
#   3. installs FastAPI as released (from that sdist, with its `all` extra) plus the `tests`
#      dependency group of its pyproject.toml, as FastAPI's CI does;
#   4. runs FastAPI's tests/ from the unpacked tree with `-p lyre_compat_plugin` (compat/ on
#      PYTHONPATH): the plugin turns the alias on before anything imports starlette, and
#      compat/sitecustomize.py does the same in subprocesses (LYRE_COMPAT_ALIAS=1). Exclusions are
#      the entries of compat/EXCLUDED.md (network / FastAPI repository scripts only).
# Summary (pass figure, failures grouped by cause) on stdout and in compat/.work/results-<tag>.txt;
# the full pytest output in compat/.work/pytest-<tag>.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-compat-fastapi"
WORK="$ROOT/compat/.work"
PY="${PY:-python3}"
VERSION="0.165.0"
ALSO_LATEST=0
BASELINE=0
MIN_PASS=""
PYTEST_EXTRA=()

while [[ $# -gt 0 ]]; do
    case "$1" in
        --version) VERSION="$2"; shift 2 ;;
        --also-latest) ALSO_LATEST=1; shift ;;
        --baseline) BASELINE=1; shift ;;
        --min-pass) MIN_PASS="$2"; shift 2 ;;
        --) shift; PYTEST_EXTRA=("$@"); break ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

# pip's chatter about unreachable mirrors and build back-end notices is noise here.
quiet() { grep -vE "^WARNING: Location|^ *$|^  " || true; }

if [[ ! -x "$VENV/bin/python" ]]; then
    echo ">> creating $VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | quiet  # >= 25.1 for --group
fi
VPY="$VENV/bin/python"
PIP=("$VPY" -m pip install -q --disable-pip-version-check)

STAMP="$VENV/.lyre-installed"
if [[ ! -f "$STAMP" || "$ROOT/pyproject.toml" -nt "$STAMP" ]]; then
    echo ">> installing lyre (editable, [test])"
    "${PIP[@]}" -e "$ROOT[test]" 2>&1 | quiet
    # The suite runs with the dependencies its own project declares: lyre's test extras bring brotli
    # (for CompressionMiddleware), whose mere presence makes httpx/urllib3 send and decode "br" and
    # makes the suite skip its header tests. It is not one of the suite's dependencies: remove it.
    "$VPY" -m pip uninstall -q -y brotli brotlicffi 2>&1 | quiet || true
    touch "$STAMP"
fi

newest() {
    "$VPY" -m pip index versions fastapi 2>/dev/null | sed -n 's/^fastapi (\(.*\))$/\1/p' | head -1
}

# Exclusions: every line of EXCLUDED.md that starts with "- `tests/..." names a test id or file.
DESELECT=()
while IFS= read -r item; do
    if [[ "$item" == *"::"* ]]; then
        DESELECT+=("--deselect" "$item")
    else
        DESELECT+=("--ignore" "$item")
    fi
done < <(sed -n '/^## FastAPI suite/,/^## /s/^- `\(tests\/[^`]*\)`.*/\1/p' "$ROOT/compat/EXCLUDED.md")

STATUS=0
run_one() {
    local version="$1" sdist src fstamp tag plugin report junit rc
    mkdir -p "$WORK/dist"
    sdist="$WORK/dist/fastapi-$version.tar.gz"
    src="$WORK/fastapi-$version"
    if [[ ! -f "$sdist" ]]; then
        echo ">> downloading the FastAPI $version source distribution"
        "$VPY" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
            "fastapi==$version" -d "$WORK/dist" 2>&1 | quiet
    fi
    if [[ ! -d "$src/tests" ]]; then
        echo ">> unpacking into $src"
        rm -rf "$src"
        tar -xzf "$sdist" -C "$WORK"
    fi
    fstamp="$VENV/.fastapi-$version-installed"
    if [[ ! -f "$fstamp" ]]; then
        echo ">> installing FastAPI $version as released, and its test requirements"
        rm -f "$VENV"/.fastapi-*-installed
        (cd "$src" && "${PIP[@]}" "fastapi[all] @ file://$sdist" --group tests 2>&1 | quiet)
        touch "$fstamp"
    fi

    tag="$version"
    plugin=(-p lyre_compat_plugin)
    if [[ "$BASELINE" == 1 ]]; then
        tag="$version-baseline"
        plugin=()
    fi
    report="$WORK/results-$tag.txt"
    junit="$WORK/junit-$tag.xml"
    echo ">> running FastAPI $version tests/ $([[ $BASELINE == 1 ]] && echo 'on the real Starlette (baseline)' || echo 'on lyre (alias on)')"
    set +e
    (cd "$src" && PYTHONPATH="$ROOT/compat${PYTHONPATH:+:$PYTHONPATH}" LYRE_COMPAT_ALIAS="$((1 - BASELINE))" \
        "$VPY" -m pytest tests "${plugin[@]}" "${DESELECT[@]}" \
        -p no:cacheprovider -q -rfE --tb=short --junitxml="$junit" \
        "${PYTEST_EXTRA[@]}" >"$WORK/pytest-$tag.log" 2>&1)
    rc=$?
    set -e
    tail -n 1 "$WORK/pytest-$tag.log"
    local summary=("$VPY" "$ROOT/compat/summarize.py" "$junit" --title "FastAPI $tag")
    if [[ -n "$MIN_PASS" ]]; then
        summary+=(--min-pass "$MIN_PASS")
    fi
    set +e
    "${summary[@]}" >"$report"
    local src_rc=$?
    set -e
    cat "$report"
    if [[ -n "$MIN_PASS" ]]; then rc=$src_rc; fi
    if [[ "$rc" != 0 ]]; then STATUS=1; fi
}

if [[ "$VERSION" == "latest" ]]; then
    VERSION="$(newest)"
    [[ -n "$VERSION" ]] || { echo "could not find the newest FastAPI version" >&2; exit 1; }
    echo ">> newest FastAPI on the index: $VERSION"
fi
run_one "$VERSION"
if [[ "$ALSO_LATEST" == 1 ]]; then
    LATEST="$(newest)"
    if [[ -z "$LATEST" ]]; then
        echo ">> could not find the newest FastAPI version" >&2
        STATUS=1
    elif [[ "$LATEST" == "$VERSION" ]]; then
        echo ">> the newest FastAPI release on the index is $LATEST, the version just tested: same figure"
    else
        echo ">> newest FastAPI on the index: $LATEST"
        run_one "$LATEST"
    fi
fi
exit "$STATUS"
