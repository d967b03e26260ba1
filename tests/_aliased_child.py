"""Running a compat cases file in a child pytest with the ``starlette`` -> ``lyre`` alias on.

Shared by tests/test_fastapi_app.py and tests/test_addons.py: the alias must be on before FastAPI or the
add-on libraries are imported, and must not leak into this process (other test modules expect a clean
``sys.modules``). The child runs once per module; each case is reported in the parent as its own test.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASES_DIR = ROOT / "compat" / "cases"


def case_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]


def run_child(path: Path, junit: Path) -> tuple[dict[str, str | None], str]:
    """Run the cases file in a child pytest with the alias plugin; map test name -> failure text or None."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "compat"), env.get("PYTHONPATH")]))
    env.pop("LYRE_COMPAT_ALIAS", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(path),
            "-p",
            "lyre_compat_plugin",
            "-p",
            "no:cacheprovider",
            "-q",
            "--tb=short",
            f"--junitxml={junit}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = proc.stdout[-6000:] + proc.stderr[-3000:]
    results: dict[str, str | None] = {}
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            problem = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
            results[case.get("name", "")] = (
                None if problem is None else (problem.text or problem.get("message") or "?")
            )
    return results, output


def check_case(name: str, child_results: tuple[dict[str, str | None], str]) -> None:
    """Fail with the child's text unless every run of case ``name`` passed."""
    results, output = child_results
    runs = {key: value for key, value in results.items() if key == name or key.startswith(name + "[")}
    if not runs:
        pytest.fail(f"{name} did not run in the child pytest:\n{output}")
    failures = [f"{key}:\n{value}" for key, value in runs.items() if value is not None]
    if failures:
        pytest.fail(f"{name} failed under the alias:\n" + "\n".join(failures), pytrace=False)
