"""End-to-end: server-side sessions shared by two worker processes (``lyre run --workers 2``).

A session written through one worker is read through the other, with RedisStore (a real
``redis-server``, see tests/_redis_server.py) and with FileStore (a shared directory).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e._serve import lyre_run


def _get(url: str, cookie: str | None = None) -> tuple[dict[str, Any], str | None]:
    """GET on a new connection (so the kernel may hand it to either worker); JSON body and set-cookie."""
    request = urllib.request.Request(url, headers={"cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        body: dict[str, Any] = json.loads(response.read())
        return body, response.headers.get("set-cookie")


def _serve(store: str) -> Iterator[str]:
    env = {**os.environ, "LYRE_E2E_SESSION_STORE": store}
    with lyre_run(
        "tests.e2e._sessions_app:app",
        "--workers",
        "2",
        env=env,
        ready_path="/read",
        timeout=20,
        what="lyre run --workers 2",
    ) as url:
        yield url


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
