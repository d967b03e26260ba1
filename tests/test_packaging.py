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
