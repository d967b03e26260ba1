"""Packaging habits: the distribution name in install hints, the optional-dependency guards, the version."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_install_hints_name_the_distribution() -> None:
    """The index's ``lyre`` is another project: every hint must say ``lyre-asgi``."""
    offenders = []
    for path in [*sorted((REPO / "lyre").rglob("*.py")), REPO / "README.md"]:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if re.search(r"pip install\s+['\"]?lyre(\[|['\"\s]|$)", line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []


@pytest.mark.parametrize(
    ("blocked", "module", "message"),
    [
        (
            "itsdangerous",
            "lyre.middleware.sessions",
            "itsdangerous must be installed to use SessionMiddleware",
        ),
        ("jinja2", "lyre.templating", "jinja2 must be installed to use Jinja2Templates"),
    ],
)
def test_missing_extra_is_a_clear_import_error(blocked: str, module: str, message: str) -> None:
    code = (
        f"import sys; sys.modules[{blocked!r}] = None\n"
        f"try:\n    import {module}\n"
        "except ImportError as exc:\n    print(type(exc).__name__, exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.startswith("ImportError " + message)
    assert "pip install 'lyre-asgi[full]'" in result.stdout


def test_pyproject_reads_the_version_from_the_package() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["name"] == "lyre-asgi"
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "lyre.__version__"}
    assert project["build-system"]["requires"] == ["setuptools>=77"]  # the SPDX `license` field
    assert "lyre-asgi[full]" in project["project"]["optional-dependencies"]["test"]
    assert (REPO / "LICENSE").read_text().startswith("BSD 3-Clause License")
    assert (REPO / "lyre" / "py.typed").exists()


def _run_install_browser(tmp_path: Path, chromium: Path) -> list[str]:
    """Run scripts/install-browser.sh with apt-get and sudo replaced by stubs that only report."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name, body in {"apt-get": 'echo "apt-get $*" >&2', "sudo": 'exec "$@"'}.items():
        (stubs / name).write_text(f"#!/bin/sh\n{body}\n")
        (stubs / name).chmod(0o755)
    env = {
        "PATH": f"{stubs}:/usr/bin:/bin",
        "LYRE_CHROMIUM_PATH": str(chromium),
        "HOME": str(tmp_path),
    }
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "install-browser.sh"), sys.executable],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.splitlines()


def test_install_browser_says_what_it_installs_first_without_recommends(tmp_path: Path) -> None:
    lines = _run_install_browser(tmp_path, tmp_path / "no-chromium-here")
    announce = next(i for i, line in enumerate(lines) if "installing Debian's 'chromium' package" in line)
    apt = [i for i, line in enumerate(lines) if line.startswith("apt-get ")]
    assert apt and announce < min(apt)
    assert "--no-install-recommends" in lines[announce]
    [install] = [line for line in lines if line.startswith("apt-get install")]
    assert install.split() == ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]


def test_install_browser_skips_when_present(tmp_path: Path) -> None:
    chromium = tmp_path / "chromium"
    chromium.write_text("#!/bin/sh\n")
    chromium.chmod(0o755)
    lines = _run_install_browser(tmp_path, chromium)
    assert not any(line.startswith("apt-get") for line in lines)
    assert f"install-browser: {chromium} present, nothing to install" in lines
