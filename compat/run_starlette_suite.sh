#!/usr/bin/env bash
# Run Starlette 1.10's own test suite, unmodified, on lyre through the `starlette` -> `lyre` alias.
#
# Usage: compat/run_starlette_suite.sh [--baseline] [--fusion on|off] [--quiet] [-- PYTEST_ARGS...]
#   --baseline   run on the real Starlette 1.10.0 (no alias), for comparison
#   --fusion     on (default) or off: LYRE_FUSION for the run (off = lyre's layered stack only)
#   --quiet      print only the summary line and the failures (for CI)
#
# What it does, in its own venv (.venv-compat-starlette, made from python3):
#   1. installs lyre editable with its `test` extra;
#   2. downloads Starlette's *source distribution* (its tests/ ship in it) into compat/.work/ and
#      unpacks its tests/ and pyproject.toml (for the suite's pytest settings) — not its package
#      folder, so nothing on the path can shadow the alias;
#   3. installs the `dev` dependency group that Starlette's pyproject declares for its tests (the
#      packaging/lint tools of that group are not needed to run tests and are left out);
#   4. runs tests/ with `-p lyre_compat_plugin` (compat/ on PYTHONPATH). Exclusions: the entries of
#      compat/EXCLUDED.md under "Starlette 1.10 suite" — tests that contradict a lyre safety decision.
# Per-file table and failures in compat/.work/starlette-results-<tag>.txt, the pytest log beside it.
# Exit status: 0 when every test passes except those listed in compat/starlette-known-failures.txt
# (differences lyre has not closed yet; a test listed there that now passes is reported, so the
# list only shrinks); 1 otherwise, or when pytest itself failed to run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LYRE_COMPAT_VENV:-$ROOT/.venv-compat-starlette}"
WORK="$ROOT/compat/.work"
PY="${PY:-python3}"
VERSION="1.10.0"
BASELINE=0
FUSION="on"
QUIET=0
PYTEST_EXTRA=()

while [[ $# -gt 0 ]]; do
    case "$1" in
        --baseline) BASELINE=1; shift ;;
        --fusion) FUSION="$2"; shift 2 ;;
        --quiet) QUIET=1; shift ;;
        --) shift; PYTEST_EXTRA=("$@"); break ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
case "$FUSION" in on) FUSION_ENV=1 ;; off) FUSION_ENV=0 ;; *) echo "--fusion takes on|off" >&2; exit 2 ;; esac

quiet() { grep -vE "^WARNING: Location|^ *$|^  " || true; }
say() { [[ "$QUIET" == 1 ]] || echo "$@"; }

if [[ ! -x "$VENV/bin/python" ]]; then
    say ">> creating $VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | quiet
fi
VPY="$VENV/bin/python"
PIP=("$VPY" -m pip install -q --disable-pip-version-check)

STAMP="$VENV/.lyre-installed"
if [[ ! -f "$STAMP" || "$ROOT/pyproject.toml" -nt "$STAMP" ]]; then
    say ">> installing lyre (editable, [test])"
    "${PIP[@]}" -e "$ROOT[test]" 2>&1 | quiet
    # The suite runs with the dependencies its own project declares: lyre's test extras bring brotli
    # (for CompressionMiddleware), whose mere presence makes httpx/urllib3 send and decode "br" and
    # makes the suite skip its header tests. It is not one of the suite's dependencies: remove it.
    "$VPY" -m pip uninstall -q -y brotli brotlicffi 2>&1 | quiet || true
    touch "$STAMP"
fi

mkdir -p "$WORK/dist"
SDIST="$WORK/dist/starlette-$VERSION.tar.gz"
SRC="$WORK/starlette-$VERSION"
if [[ ! -f "$SDIST" ]]; then
    say ">> downloading the Starlette $VERSION source distribution"
    "$VPY" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
        "starlette==$VERSION" -d "$WORK/dist" 2>&1 | quiet
fi
if [[ ! -d "$SRC/tests" ]]; then
    say ">> unpacking its tests into $SRC"
    rm -rf "$SRC"
    mkdir -p "$SRC"
    tar -xzf "$SDIST" -C "$SRC" --strip-components=1 \
        "starlette-$VERSION/tests" "starlette-$VERSION/pyproject.toml"
fi

DEPS_STAMP="$VENV/.starlette-$VERSION-test-deps"
if [[ ! -f "$DEPS_STAMP" ]]; then
    say ">> installing Starlette $VERSION's test dependencies (its 'dev' group)"
    # The group as declared, less what only packages, lints or benchmarks the project.
    mapfile -t DEPS < <("$VPY" - "$SRC/pyproject.toml" <<'EOF'
import sys, tomllib
group = tomllib.load(open(sys.argv[1], "rb"))["dependency-groups"]["dev"]
skip = ("twine", "mypy", "ruff", "coverage", "pytest-codspeed", "types-")
for req in group:
    if isinstance(req, str) and not req.startswith(skip):
        print(req)
EOF
)
    # pytest-timeout (ours, not the group's): a hanging test fails with its name instead of stalling the run.
    "${PIP[@]}" "${DEPS[@]}" pytest-timeout 2>&1 | quiet
    touch "$DEPS_STAMP"
fi

# Exclusions: "- `tests/...`" lines of EXCLUDED.md's Starlette section.
DESELECT=()
while IFS= read -r item; do
    if [[ "$item" == *"::"* ]]; then DESELECT+=("--deselect" "$item"); else DESELECT+=("--ignore" "$item"); fi
done < <(sed -n '/^## Starlette 1.10 suite/,/^## /s/^- `\(tests\/[^`]*\)`.*/\1/p' "$ROOT/compat/EXCLUDED.md")

TAG="lyre-fusion-$FUSION"
PLUGIN=(-p lyre_compat_plugin)
if [[ "$BASELINE" == 1 ]]; then
    TAG="baseline"
    PLUGIN=()
    DESELECT=()
fi
LOG="$WORK/starlette-pytest-$TAG.log"
JUNIT="$WORK/starlette-junit-$TAG.xml"
REPORT="$WORK/starlette-results-$TAG.txt"
say ">> running Starlette $VERSION tests/ $([[ $BASELINE == 1 ]] && echo 'on the real Starlette (baseline)' || echo "on lyre (alias on, fusion $FUSION)")"
set +e
(cd "$SRC" && PYTHONPATH="$ROOT/compat${PYTHONPATH:+:$PYTHONPATH}" LYRE_COMPAT_ALIAS="$((1 - BASELINE))" \
    LYRE_FUSION="$FUSION_ENV" "$VPY" -m pytest tests "${PLUGIN[@]}" "${DESELECT[@]}" \
    -p no:cacheprovider -q -rfE --tb=short --timeout=30 --junitxml="$JUNIT" "${PYTEST_EXTRA[@]}" >"$LOG" 2>&1)
RC=$?
set -e
SUMMARY=("$VPY" "$ROOT/compat/summarize.py" "$JUNIT" --title "Starlette $VERSION suite ($TAG)" --per-file)
if [[ "$BASELINE" == 0 && -f "$ROOT/compat/starlette-known-failures.txt" ]]; then
    SUMMARY+=(--known-failures "$ROOT/compat/starlette-known-failures.txt")
fi
set +e
"${SUMMARY[@]}" >"$REPORT"
SUMRC=$?
set -e
# pytest's own status counts only when it did not get as far as reporting (collection errors,
# an internal error): the known-failures comparison decides otherwise.
if [[ "$RC" -ge 2 || ! -s "$JUNIT" ]]; then SUMRC=1; fi
RC=$SUMRC
if [[ "$QUIET" == 1 ]]; then
    head -n 1 "$REPORT"
    sed -n '/^known failures/,$p' "$REPORT"
    [[ "$RC" == 0 ]] || { sed -n '/^\[/,$p' "$REPORT"; tail -n 40 "$LOG"; }
else
    cat "$REPORT"
    tail -n 1 "$LOG"
fi
exit "$RC"
