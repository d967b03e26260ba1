"""End-to-end: ``lyre run --server uvicorn|granian`` serves the same application the same way.

Each server is started as a real child process on a free 127.0.0.1 port (tests/e2e/_serve.py) and
checked over real sockets: HTTP with a request body, a streaming response that arrives in pieces,
``--root-path``, a WebSocket exchange with a custom close code, lifespan startup *and* shutdown (read
back from a file after the server stopped), a clean stop on SIGTERM, and ``--workers 2`` running
the lifespan once per worker process. The cheat-sheet demo under both servers is the browser test's
job (test_e2e_browser.py).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e._serve import Stopped, lyre_run

APP = "tests.e2e._served_app:app"


def _events(log: Path) -> list[tuple[str, int]]:
    """The lifespan log as (event, pid) pairs, in order."""
    if not log.exists():
        return []
    return [(event, int(pid)) for event, pid in (line.split() for line in log.read_text().splitlines())]


def _env(log: Path) -> dict[str, str]:
    return {**os.environ, "LYRE_E2E_LIFESPAN_LOG": str(log)}


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_lyre_run_server_serves_http_streaming_websockets_and_lifespan(server: str, tmp_path: Path) -> None:
    log = tmp_path / "lifespan.log"
    stopped = Stopped()
    with lyre_run(
        APP,
        "--server",
        server,
        "--root-path",
        "/base",
        env=_env(log),
        ready_path="/health",
        timeout=30,
        what=f"lyre run --server {server}",
        stopped=stopped,
    ) as url:
        # Lifespan startup ran before the first request, and its state reaches the requests.
        [(event, worker)] = _events(log)
        assert event == "startup"
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/state").text == "lifespan"

            # A body in, JSON out; --root-path is applied as uvicorn applies it, under both servers.
            answer = client.post("/echo?x=1", content=b"a" * 100_000)
            assert answer.status_code == 200
            echoed = answer.json()
            # request.client.port is an int under both servers (granian's scope gives a string).
            host, port = echoed.pop("client")
            assert host == "127.0.0.1" and type(port) is int and port > 0
            assert echoed == {
                "method": "POST",
                "path": "/base/echo",
                "root_path": "/base",
                "query": {"x": "1"},
                "size": 100_000,
                "url_for": f"{url}/base/echo",
            }
            assert client.get("/nowhere").status_code == 404

            # The streaming response arrives in pieces, not all at once at the end.
            arrivals: list[tuple[float, bytes]] = []
            with client.stream("GET", "/stream") as response:
                assert response.status_code == 200
                assert response.headers["content-type"] == "text/plain; charset=utf-8"
                started = time.monotonic()
                for piece in response.iter_bytes():
                    arrivals.append((time.monotonic() - started, piece))
            assert b"".join(piece for _, piece in arrivals) == b"chunk 0\nchunk 1\nchunk 2\n"
            assert len(arrivals) >= 2
            assert arrivals[-1][0] - arrivals[0][0] >= 0.05  # the app sleeps 50 ms between chunks

        # WebSocket: text and bytes both ways, then the app's own close code.
        with connect(url.replace("http://", "ws://") + "/ws", open_timeout=10) as ws:
            ws.send("hello")
            assert ws.recv(timeout=10) == "echo: hello"
            ws.send(b"abc")
            assert ws.recv(timeout=10) == b"cba"
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=10)
            assert ws.close_code == 4001

    # Stopped by SIGTERM: lifespan shutdown ran in the same worker, and the exit was clean
    # (uvicorn re-raises the signal after its graceful shutdown; granian exits with 0).
    assert _events(log) == [("startup", worker), ("shutdown", worker)], stopped.output
    assert stopped.returncode in (0, -signal.SIGTERM), stopped.output
    assert f"(1 worker, {server} " in stopped.output  # lyre's start-up line names the server


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_lyre_run_server_with_two_workers_runs_the_lifespan_in_each(server: str, tmp_path: Path) -> None:
    log = tmp_path / "lifespan.log"
    stopped = Stopped()
    with lyre_run(
        APP,
        "--server",
        server,
        "--workers",
        "2",
        "--log-level",
        "warning",
        env=_env(log),
        ready_path="/health",
        timeout=30,
        what=f"lyre run --server {server} --workers 2",
        stopped=stopped,
    ) as url:
        deadline = time.monotonic() + 20
        while len({pid for event, pid in _events(log) if event == "startup"}) < 2:
            if time.monotonic() > deadline:
                pytest.fail(f"two workers did not both start within 20 s: {_events(log)}")
            time.sleep(0.1)
        assert httpx.get(url + "/state", timeout=10).text == "lifespan"
    events = _events(log)
    starts = sorted(pid for event, pid in events if event == "startup")
    assert len(starts) == 2 and starts[0] != starts[1], events
    assert sorted(pid for event, pid in events if event == "shutdown") == starts, stopped.output
    assert stopped.returncode in (0, -signal.SIGTERM), stopped.output
    assert "(2 workers, " in stopped.output


_RELOADED_APP = """
from lyre.responses import PlainTextResponse
from lyre.routing import Route, Router


async def version(request):
    return PlainTextResponse({version!r})


app = Router([Route("/", version)])
"""


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_lyre_run_server_reload_serves_the_changed_code(server: str, tmp_path: Path) -> None:
    """``--reload``: a changed source file is served after the restart; other files are ignored."""
    main = tmp_path / "main.py"
    main.write_text(_RELOADED_APP.format(version="v1"))
    stopped = Stopped()
    served: list[str] = []
    with lyre_run(
        "main:app",
        "--server",
        server,
        "--reload",
        env=dict(os.environ),
        ready_path="/",
        timeout=30,
        what=f"lyre run --server {server} --reload",
        cwd=tmp_path,
        stopped=stopped,
    ) as url:
        served.append(httpx.get(url, timeout=10).text)
        (tmp_path / "notes.txt").write_text("not source code")
        deadline = time.monotonic() + 20
        rewritten = 0.0
        while served[-1] != "version 2" and time.monotonic() < deadline:
            if served[-1] == "v1" and time.monotonic() - rewritten > 1:
                # Written again while the old code answers: uvicorn's reloader only starts watching
                # a moment after the server is up, and misses an edit made before that. A new size
                # too: Python trusts a cached .pyc whose source has the same size and mtime second.
                main.write_text(_RELOADED_APP.format(version="version 2"))
                rewritten = time.monotonic()
            time.sleep(0.2)
            try:
                served.append(httpx.get(url, timeout=5).text)
            except httpx.TransportError:
                pass  # between the old worker and the new one
    assert served[0] == "v1"
    assert served[-1] == "version 2", f"not reloaded within 20 s:\n{stopped.output}"
