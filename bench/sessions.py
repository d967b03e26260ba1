"""Requests per second of SessionMiddleware, in process: signed cookie vs the server-side stores.

For each backing (signed cookie, MemoryStore, FileStore, RedisStore) it times two requests that
carry an existing session's cookie: a read (``request.session`` read, nothing written) and a write
(one key changed, so the session is saved and the cookie re-sent). The app is called directly
(scope, receive, send) on one asyncio loop; the fake server's cost is in every number alike.
RedisStore talks to a private ``redis-server`` started on a free local port (tests/_redis_server.py;
``bash scripts/install-redis.sh`` installs it).

    .venv/bin/python bench/sessions.py [--seconds 1] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lyre.applications import Lyre  # noqa: E402
from lyre.middleware import Middleware  # noqa: E402
from lyre.middleware.sessions import SessionMiddleware  # noqa: E402
from lyre.requests import Request  # noqa: E402
from lyre.responses import PlainTextResponse, Response  # noqa: E402
from lyre.routing import Route  # noqa: E402
from lyre.sessions import FileStore, MemoryStore, RedisStore, SessionStore  # noqa: E402
from tests._redis_server import redis_server  # noqa: E402


async def read(request: Request) -> Response:
    return PlainTextResponse(request.session.get("user", "nobody"))


async def write(request: Request) -> Response:
    request.session["hits"] = request.session.get("hits", 0) + 1
    return PlainTextResponse("ok")


def make_app(store: SessionStore | None) -> Lyre:
    return Lyre(
        routes=[Route("/read", read), Route("/write", write)],
        middleware=[Middleware(SessionMiddleware, secret_key="bench-secret", store=store)],
    )


async def call(app: Lyre, path: str, cookie: bytes | None) -> tuple[int, bytes | None]:
    """One request through the app; its status and the session cookie it set, if any."""
    headers = [(b"host", b"bench")]
    if cookie is not None:
        headers.append((b"cookie", cookie))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }
    status = 0
    set_cookie: bytes | None = None

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, set_cookie
        if message["type"] == "http.response.start":
            status = message["status"]
            for name, value in message.get("headers", []):
                if name == b"set-cookie":
                    set_cookie = value.split(b";")[0]

    await app(scope, receive, send)
    return status, set_cookie


async def rate(app: Lyre, path: str, cookie: bytes, seconds: float) -> float:
    """Requests per second for ``path`` with ``cookie``, over about ``seconds``."""
    for _ in range(50):  # warm up (and check)
        status, _ = await call(app, path, cookie)
        assert status == 200, status
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            await call(app, path, cookie)
        count += 50
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


async def measure(store: SessionStore | None, seconds: float, rounds: int) -> tuple[float, float]:
    """The best read and write rates over ``rounds`` alternating rounds (the machine is shared: the
    best round is the one least disturbed by other work)."""
    app = make_app(store)
    status, cookie = await call(app, "/write", None)
    assert status == 200 and cookie is not None
    reads: list[float] = []
    writes: list[float] = []
    try:
        for _ in range(rounds):
            reads.append(await rate(app, "/read", cookie, seconds))
            writes.append(await rate(app, "/write", cookie, seconds))
        return max(reads), max(writes)
    finally:
        if store is not None:
            await store.aclose()


@contextlib.contextmanager
def backings() -> Iterator[list[tuple[str, Callable[[], SessionStore | None]]]]:
    with tempfile.TemporaryDirectory(prefix="lyre-bench-sessions-") as directory, redis_server() as url:
        yield [
            ("signed cookie (no store)", lambda: None),
            ("MemoryStore", MemoryStore),
            ("FileStore", lambda: FileStore(directory)),
            ("RedisStore", lambda: RedisStore(url)),
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="timing per round (default 1 s)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per cell, best kept (default 3)")
    args = parser.parse_args()
    rows: list[tuple[str, float, float]] = []
    with backings() as choices:
        for label, factory in choices:
            read_rate, write_rate = asyncio.run(measure(factory(), args.seconds, args.rounds))
            rows.append((label, read_rate, write_rate))
            print(f"  measured {label}", file=sys.stderr)
    base_read, base_write = rows[0][1], rows[0][2]
    print("| backing | read req/s | vs cookie | write req/s | vs cookie |")
    print("|---|---:|---:|---:|---:|")
    for label, read_rate, write_rate in rows:
        print(
            f"| {label} | {read_rate:,.0f} | {read_rate / base_read:.2f}x "
            f"| {write_rate:,.0f} | {write_rate / base_write:.2f}x |"
        )


if __name__ == "__main__":
    main()
