"""bench/fastapi_compare.py runs end to end: same responses from FastAPI on lyre and on Starlette.

No timing is asserted; the script itself checks every scenario's status and body in both
subprocesses (and that the alias really was on, or off) before it reports a number.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_fastapi_compare_runs_both_frameworks() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fastapi_compare.py"), "--seconds", "0.05", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert [row.split("|")[1].strip() for row in rows[1:]] == ["json", "path", "routes50"]
    for row in rows[1:]:
        assert row.rstrip(" |").endswith("x")
