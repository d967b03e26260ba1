"""Shared bits of the property suite: example budgets and a tiny in-process ASGI driver.

Properties check invariants of lyre alone (round-trips hold, nothing raises, never a 500), on
well-formed *and* hostile input; comparison with Starlette lives in tests/differential.
``LYRE_PROPERTY_EXAMPLES=n`` raises every budget for a deeper local search.

At the default budgets the examples are derandomized (the same every run), so ``make test`` and CI
are repeatable; a deeper search (``LYRE_PROPERTY_EXAMPLES``) draws fresh examples each run, and what
it finds becomes a fixed test.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import anyio
from hypothesis import HealthCheck, settings

from lyre.types import ASGIApp, Message

_SCALE = int(os.environ.get("LYRE_PROPERTY_EXAMPLES", "0"))


def budget(examples: int) -> settings:
    """Hypothesis settings for one property: ``examples`` by default, no deadline, no database."""
    return settings(
        max_examples=_SCALE or examples,
        derandomize=not _SCALE,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


def http_scope(
    path: str = "/",
    *,
    method: str = "GET",
    query: bytes = b"",
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }


class Answer:
    """What an app sent: status, headers (lower-cased names, last wins) and the joined body."""

    def __init__(self, messages: list[Message]) -> None:
        start = next((m for m in messages if m["type"] == "http.response.start"), None)
        self.status: int | None = None if start is None else start["status"]
        self.raw_headers: list[tuple[bytes, bytes]] = [] if start is None else list(start["headers"])
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self.raw_headers}
        self.body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")


def call(
    app: ASGIApp, scope: dict[str, Any], chunks: Sequence[bytes] = (b"",), backend: str = "asyncio"
) -> Answer:
    """Run one request: the body arrives as ``chunks``; then the client waits (never disconnects)."""
    queue: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks or (b"",))
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    async def send(message: Message) -> None:
        sent.append(message)

    async def main() -> None:
        await app(scope, receive, send)

    anyio.run(main, backend=backend)
    return Answer(sent)


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """``data`` cut at the given offsets (taken modulo its length, sorted, duplicates kept)."""
    if not data:
        return [b""]
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)] or [data]
