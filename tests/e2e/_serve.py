"""``lyre run`` in a child process for the end-to-end tests: a free port, a readiness wait, a clean stop."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._redis_server import free_port

REPO = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class Stopped:
    """Filled in by ``lyre_run`` once the server has stopped: its exit status and its output
    (stdout and stderr together)."""

    returncode: int | None = None
    output: str = ""


@contextlib.contextmanager
def lyre_run(
    app: str,
    *options: str,
    env: dict[str, str],
    ready_path: str,
    timeout: float,
    what: str,
    stopped: Stopped | None = None,
    cwd: Path = REPO,
) -> Iterator[str]:
    """Serve ``app`` with ``python -m lyre run`` on 127.0.0.1 (from ``cwd``, by default the checkout)
    and yield its base URL once ``ready_path`` answers; the server (workers included: its own process
    group) is stopped after (SIGTERM, then SIGKILL to the group after 15 s), and ``stopped``, when
    given, says how it ended. The output goes to a file, not a pipe, so that a long access log can
    never block the server."""
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
    process = subprocess.Popen(
        [sys.executable, "-m", "lyre", "run", app, "--host", "127.0.0.1", "--port", str(port), *options],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def output() -> str:
        log.seek(0)
        return log.read()

    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                pytest.fail(f"{what} exited with {process.returncode}:\n{output()}")
            try:
                with urllib.request.urlopen(url + ready_path, timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    pytest.fail(f"{what} did not answer within {timeout:g} s:\n{output()}")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # a worker left behind by its supervisor
        if stopped is not None:
            stopped.returncode, stopped.output = process.returncode, output()
        log.close()
