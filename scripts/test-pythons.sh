#!/usr/bin/env bash
# Run lyre's test suite on other Python versions, each in its own virtualenv (.venv-3.12, ...).
# Usage: scripts/test-pythons.sh [VERSION...]   (default: 3.12 3.13)
# For each version the interpreter is, in order: `pythonX.Y` on PATH (when it actually runs; a pyenv
# shim for a version that is not selected does not), then pyenv's newest X.Y.* build. A version with
# neither is reported and skipped (Debian 12 packages only Python 3.11). Exit status: 1 when a suite
# that ran failed, 0 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
VERSIONS=("$@")
[ ${#VERSIONS[@]} -gt 0 ] || VERSIONS=(3.12 3.13)

find_python() {
    local version="$1" candidate root
    candidate="python$version"
    if "$candidate" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$version'.split('.')))" \
        >/dev/null 2>&1; then
        command -v "$candidate"
        return 0
    fi
    if command -v pyenv >/dev/null 2>&1; then
        root="$(pyenv root)"
        for candidate in $(ls -d "$root/versions/$version".* 2>/dev/null | sort -V -r); do
            if [ -x "$candidate/bin/python$version" ]; then
                echo "$candidate/bin/python$version"
                return 0
            fi
        done
    fi
    return 1
}

failed=()
ran=()
for version in "${VERSIONS[@]}"; do
    if ! python="$(find_python "$version")"; then
        echo "test-pythons: Python $version is not installed (neither python$version nor a pyenv build), skipped"
        continue
    fi
    venv=".venv-$version"
    echo "test-pythons: lyre's suite on $("$python" --version 2>&1) ($python) in $venv"
    if ! { [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"; } \
        || ! "$venv/bin/python" -m pip install -q --upgrade pip \
        || ! "$venv/bin/python" -m pip install -q -e '.[test]' --config-settings editable_mode=compat \
        || ! bash scripts/install-browser.sh "$venv/bin/python"; then
        echo "test-pythons: could not set up $venv" >&2
        failed+=("$version (set-up)")
        continue
    fi
    if "$venv/bin/python" -m pytest; then
        ran+=("$version")
    else
        failed+=("$version")
    fi
done

echo "test-pythons: passed on: ${ran[*]:-none}; failed on: ${failed[*]:-none}"
[ ${#failed[@]} -eq 0 ]
