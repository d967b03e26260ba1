"""One pipeline: the fused default stack and the layered stack are one behaviour.

Overrides are honoured whichever stack serves the request, the body limit counts what is read
whatever the framing, admission applies to every application, and ``LYRE_FUSION=0`` gives the
layered stack alone.
"""

from __future__ import annotations

from typing import Any

import pytest

from lyre._fastpath import FusedExceptionMiddleware, FusedServerErrorMiddleware
from lyre.applications import Lyre
from lyre.exceptions import HTTPException
from lyre.middleware import Middleware
from lyre.middleware.errors import ServerErrorMiddleware
from lyre.middleware.exceptions import ExceptionMiddleware
from lyre.requests import Request
from lyre.responses import PlainTextResponse, Response
from lyre.routing import Match, Route, Router
from lyre.types import Message, Receive, Scope, Send

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["fused", "layered"])
def fusion(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs on both stack shapes."""
    monkeypatch.setenv("LYRE_FUSION", "1" if request.param == "fused" else "0")
    return str(request.param)


async def call(
    app: Any,
    path: str = "/",
    *,
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] | None = None,
    chunks: list[bytes] | None = None,
) -> tuple[int, dict[bytes, bytes], bytes]:
    """One request straight through the ASGI interface; the body arrives in ``chunks``."""
    pending = list(chunks or [b""])
    sent: list[Message] = []

    async def receive() -> Message:
        if pending:
            body = pending.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(pending)}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers or [],
        "server": ("test", 80),
        "client": ("127.0.0.1", 5000),
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body


async def echo_length(request: Request) -> Response:
    return PlainTextResponse(str(len(await request.body())))


async def hello(request: Request) -> Response:
    return PlainTextResponse("hello")


# ---- overrides are honoured -------------------------------------------------------------------


async def test_router_subclass_not_found_override_is_used(fusion: str) -> None:
    class TeapotRouter(Router):
        async def not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
            await PlainTextResponse("no such teapot", status_code=418)(scope, receive, send)

    app = Lyre()
    app.router = TeapotRouter([Route("/", hello)])
    status, _, body = await call(app, "/missing")
    assert (status, body) == (418, b"no such teapot")
    assert not isinstance(app.middleware_stack, FusedServerErrorMiddleware)


async def test_route_subclass_with_wider_matches_is_asked(fusion: str) -> None:
    class CaseInsensitiveRoute(Route):
        def matches(self, scope: Scope) -> tuple[Match, Scope]:
            lowered = dict(scope, path=scope["path"].lower())
            return super().matches(lowered)

    app = Lyre(routes=[Route("/other", hello), CaseInsensitiveRoute("/hello", hello)])
    assert await call(app, "/HELLO") == (
        200,
        {b"content-length": b"5", b"content-type": b"text/plain; charset=utf-8"},
        b"hello",
    )
    status, _, _ = await call(app, "/nope")
    assert status == 404


async def test_custom_404_handler_answers_unmatched_paths(fusion: str) -> None:
    async def not_found(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(f"nothing at {request.url.path}", status_code=404)

    app = Lyre(routes=[Route("/", hello)], exception_handlers={404: not_found})
    assert (await call(app, "/x"))[2] == b"nothing at /x"


def test_fusion_switch_builds_the_layered_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LYRE_FUSION", "0")
    stack = Lyre(routes=[Route("/", hello)]).build_middleware_stack()
    assert type(stack) is ServerErrorMiddleware
    inner = stack.app.app  # type: ignore[attr-defined]  # past the body limit
    assert type(inner) is ExceptionMiddleware
    monkeypatch.setenv("LYRE_FUSION", "1")
    stack = Lyre(routes=[Route("/", hello)]).build_middleware_stack()
    assert type(stack) is FusedServerErrorMiddleware
    assert type(stack.app.app) is FusedExceptionMiddleware  # type: ignore[attr-defined]


# ---- the body is counted where it is read ------------------------------------------------------

LIMIT = 10


def limited_app(**kwargs: Any) -> Lyre:
    return Lyre(routes=[Route("/", echo_length, methods=["POST"])], max_body_size=LIMIT, **kwargs)


@pytest.mark.parametrize(
    "headers",
    [
        [],  # neither Content-Length nor Transfer-Encoding
        [(b"content-length", b"4")],  # more bytes than declared
        [(b"transfer-encoding", b"chunked")],
        [(b"content-length", b"not-a-number")],
    ],
    ids=["unframed", "longer-than-declared", "chunked", "bad-length"],
)
async def test_body_over_the_limit_is_refused_whatever_its_framing(
    fusion: str, headers: list[tuple[bytes, bytes]]
) -> None:
    status, _, body = await call(limited_app(), method="POST", headers=headers, chunks=[b"x" * 6, b"y" * 6])
    assert (status, body) == (413, b"Content Too Large")


async def test_body_within_the_limit_is_read_whole(fusion: str) -> None:
    status, _, body = await call(limited_app(), method="POST", chunks=[b"x" * 5, b"y" * 5])
    assert (status, body) == (200, b"10")


async def test_declared_and_counted_overflows_reach_the_same_413_handler(fusion: str) -> None:
    async def too_large(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return PlainTextResponse(f"custom {exc.status_code}", status_code=exc.status_code)

    async def ignores_body(request: Request) -> Response:
        return PlainTextResponse("did not read")

    app = Lyre(
        routes=[Route("/", echo_length, methods=["POST"]), Route("/ignore", ignores_body, methods=["POST"])],
        max_body_size=LIMIT,
        exception_handlers={413: too_large},
    )
    counted = await call(app, method="POST", chunks=[b"x" * 11])
    declared = await call(
        app, "/ignore", method="POST", headers=[(b"content-length", b"11")], chunks=[b"x" * 11]
    )
    declared_read = await call(app, method="POST", headers=[(b"content-length", b"11")], chunks=[b"x" * 11])
    assert counted[0] == declared[0] == declared_read[0] == 413
    assert counted[2] == declared[2] == declared_read[2] == b"custom 413"


async def test_default_limit_yields_to_an_outer_configured_limit(fusion: str) -> None:
    from lyre.middleware.body_limit import RequestBodyLimitMiddleware

    outer = RequestBodyLimitMiddleware(
        Lyre(routes=[Route("/", echo_length, methods=["POST"])]), max_body_size=4
    )
    assert (await call(outer, method="POST", chunks=[b"12345"]))[0] == 413
    assert (await call(outer, method="POST", chunks=[b"1234"]))[2] == b"4"


# ---- admission applies to every application ------------------------------------------------------


class OwnStackApp(Lyre):
    """An application building its own stack (as FastAPI does): no lyre body limit in it."""

    def build_middleware_stack(self) -> Any:
        return ServerErrorMiddleware(ExceptionMiddleware(self.router))


async def test_app_with_its_own_stack_gets_admission_and_the_default_limit(
    fusion: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = OwnStackApp(routes=[Route("/", echo_length, methods=["POST"])])
    monkeypatch.setattr(app, "default_max_body_size", LIMIT)
    assert (await call(app, method="POST", chunks=[b"x" * 11]))[0] == 413
    assert (await call(app, method="POST", chunks=[b"x" * 10]))[2] == b"10"
    many = [(b"x-h%d" % i, b"v") for i in range(1001)]
    assert (await call(app, method="POST", headers=many))[0] == 431
    app.default_max_body_size = None  # the documented opt-out
    assert (await call(app, method="POST", chunks=[b"x" * 11]))[2] == b"11"


async def test_user_middleware_between_keeps_the_limit(fusion: str) -> None:
    class Passthrough:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await self.app(scope, receive, send)

    app = limited_app(middleware=[Middleware(Passthrough)])
    assert (await call(app, method="POST", chunks=[b"x" * 11]))[0] == 413
    assert (await call(app, method="POST", chunks=[b"x" * 3]))[2] == b"3"
