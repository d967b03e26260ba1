"""``lyre run`` in a child process for the end-to-end tests: a free port, a readiness wait, a clean stop."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._redis_server import free_port

REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def lyre_run(
    app: str, *options: str, env: dict[str, str], ready_path: str, timeout: float, what: str
) -> Iterator[str]:
    """Serve ``app`` with ``python -m lyre run`` on 127.0.0.1 and yield its base URL once
    ``ready_path`` answers; the server (workers included: its own process group) is stopped after."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "lyre", "run", app, "--host", "127.0.0.1", "--port", str(port), *options],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                output = process.stdout.read() if process.stdout else ""
                pytest.fail(f"{what} exited with {process.returncode}:\n{output}")
            try:
                with urllib.request.urlopen(url + ready_path, timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    pytest.fail(f"{what} did not answer within {timeout:g} s")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
