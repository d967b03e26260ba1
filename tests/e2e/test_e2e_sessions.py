"""End-to-end: server-side sessions shared by two worker processes (``lyre run --workers 2``).

A session written through one worker is read through the other, with RedisStore (a real
``redis-server``, see tests/_redis_server.py) and with FileStore (a shared directory).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._redis_server import free_port

REPO = Path(__file__).resolve().parents[2]


def _get(url: str, cookie: str | None = None) -> tuple[dict[str, Any], str | None]:
    """GET on a new connection (so the kernel may hand it to either worker); JSON body and set-cookie."""
    request = urllib.request.Request(url, headers={"cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        body: dict[str, Any] = json.loads(response.read())
        return body, response.headers.get("set-cookie")


def _serve(store: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "lyre", "run", "tests.e2e._sessions_app:app"]
        + ["--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        cwd=REPO,
        env={**os.environ, "LYRE_E2E_SESSION_STORE": store},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the workers go down with it
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                output = process.stdout.read() if process.stdout else ""
                pytest.fail(f"lyre run exited with {process.returncode}:\n{output}")
            try:
                _get(url + "/read")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    pytest.fail("lyre run --workers 2 did not answer within 20 s")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


@pytest.fixture(params=["redis", "file"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "redis":
        store = "redis:" + request.getfixturevalue("redis_url")
    else:
        store = f"file:{tmp_path / 'sessions'}"
    yield from _serve(store)


def test_a_session_written_by_one_worker_is_read_by_the_other(server: str) -> None:
    body, set_cookie = _get(server + "/put?user=bo&cart=3")
    writer = body["pid"]
    assert set_cookie is not None
    cookie = set_cookie.split(";")[0]
    readers: set[int] = set()
    deadline = time.monotonic() + 10
    while writer not in readers or len(readers) < 2:
        body, set_cookie = _get(server + "/read", cookie)
        assert body["session"] == {"user": "bo", "cart": "3"}, body
        assert set_cookie is None  # a read writes nothing
        readers.add(body["pid"])
        if time.monotonic() > deadline:
            pytest.fail(f"only worker(s) {readers} answered in 10 s; expected two")
    assert len(readers) == 2  # both workers (the writer and the other one) read the same session
