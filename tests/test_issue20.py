"""Issue 20: a failing ``send`` reaches the server; contextvars under BaseHTTPMiddleware; deep JSON; names."""

from __future__ import annotations

import contextvars
import json
from typing import Any

import anyio
import pytest

from lyre.applications import Lyre, Starlette
from lyre.background import BackgroundTask
from lyre.exceptions import HTTPException
from lyre.middleware import Middleware
from lyre.middleware.base import BaseHTTPMiddleware
from lyre.requests import ClientDisconnect, Request
from lyre.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from lyre.routing import Route
from lyre.testclient import TestClient
from lyre.types import Message

# -- a failing send -----------------------------------------------------------------------------


def _scope(
    spec: str, method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": spec},
        "http_version": "1.1",
        "method": method,
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "headers": headers or [],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }


def _send_error_app(kind: str, layers: int, wrap: bool, seen: list[Any]) -> Lyre:
    async def endpoint(request: Request) -> Response:
        if request.method == "POST":
            form = await request.form()
            seen.append(form["f"])
        task = BackgroundTask(seen.append, "background")
        if kind == "plain":
            return PlainTextResponse("hello", background=task)

        async def chunks() -> Any:
            try:
                yield b"a"
                yield b"b"
            finally:
                seen.append("iterator closed")

        return StreamingResponse(chunks(), background=task)

    class Pass(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: Any) -> Response:
            response = await call_next(request)
            if wrap:  # a middleware that re-streams the body itself
                return StreamingResponse(response.body_iterator, status_code=response.status_code)
            return response  # type: ignore[no-any-return]

    def handler(request: Request, exc: Exception) -> Response:
        seen.append(("handler", exc))
        return PlainTextResponse("handled", status_code=500)

    handlers: dict[Any, Any] = {OSError: handler, ClientDisconnect: handler} if layers else {}
    return Lyre(
        routes=[Route("/", endpoint, methods=["GET", "POST"])],
        middleware=[Middleware(Pass)] * layers,
        exception_handlers=handlers,
    )


_UPLOAD = (
    b'--B\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\n'
    + b"z" * 64
    + b"\r\n--B--\r\n"
)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["plain", "stream"])
@pytest.mark.parametrize("failing", ["http.response.start", "http.response.body"])
@pytest.mark.parametrize("layers", [0, 1, 2])
@pytest.mark.parametrize("upload", [False, True])
@pytest.mark.parametrize("error", [OSError, RuntimeError])
async def test_failing_send_reaches_the_server_unchanged(
    kind: str, failing: str, layers: int, upload: bool, error: type[Exception]
) -> None:
    seen: list[Any] = []
    app = _send_error_app(kind, layers, False, seen)
    headers = [(b"content-type", b"multipart/form-data; boundary=B")] if upload else []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": _UPLOAD if upload else b"", "more_body": False}
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover

    raised = error("send failed")
    attempts: list[str] = []

    async def send(message: Message) -> None:
        attempts.append(message["type"])
        if message["type"] == failing:
            raise raised

    with pytest.raises(error) as info:
        with anyio.fail_after(5):
            await app(_scope("2.3", "POST" if upload else "GET", headers), receive, send)
    assert info.value is raised
    assert attempts.count(failing) == 1  # nothing retried
    assert "background" not in seen
    assert not [item for item in seen if isinstance(item, tuple)]  # no OSError/ClientDisconnect handler ran
    if kind == "stream" and layers:
        assert seen.count("iterator closed") == 1


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["plain", "stream"])
@pytest.mark.parametrize("failing", [1, 2, 3])
async def test_send_failure_under_a_restreaming_middleware_is_not_swallowed(kind: str, failing: int) -> None:
    # ASGI 2.4: the server's send raises OSError once the client left; a StreamingResponse turns it
    # into ClientDisconnect, which must still reach the server (lyre used to return normally).
    seen: list[Any] = []
    app = _send_error_app(kind, 1, True, seen)

    async def receive() -> dict[str, Any]:
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover

    count = 0

    async def send(message: Message) -> None:
        nonlocal count
        count += 1
        if count == failing:
            raise OSError("client went away")

    with pytest.raises(ClientDisconnect):
        with anyio.fail_after(5):
            await app(_scope("2.4"), receive, send)
    assert count == failing
    assert "background" not in seen
    assert not [item for item in seen if isinstance(item, tuple)]


# -- context variables under BaseHTTPMiddleware ---------------------------------------------------

level: contextvars.ContextVar[str] = contextvars.ContextVar("level", default="outside")


def _context_app(record: dict[str, Any], raise_: str | None) -> Lyre:
    async def endpoint(request: Request) -> Response:
        record["endpoint saw"] = level.get()
        level.set("endpoint")
        if raise_ == "http":
            raise HTTPException(418)
        if raise_ == "boom":
            raise RuntimeError("boom")
        return PlainTextResponse(
            "ok", background=BackgroundTask(lambda: record.setdefault("bg saw", level.get()))
        )

    def make(name: str) -> type[BaseHTTPMiddleware]:
        class Layer(BaseHTTPMiddleware):
            async def dispatch(self, request: Request, call_next: Any) -> Response:
                level.set(name)
                response = await call_next(request)
                record[f"{name} after"] = level.get()
                return response  # type: ignore[no-any-return]

        return Layer

    class PureASGI:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            async def wrapped(message: Any) -> None:
                if message["type"] == "http.response.start":
                    record["pure send saw"] = level.get()
                await send(message)

            await self.app(scope, receive, wrapped)
            record["pure after"] = level.get()

    def http_handler(request: Request, exc: Exception) -> Response:
        record["http handler saw"] = level.get()
        return PlainTextResponse("teapot", status_code=418)

    def error_handler(request: Request, exc: Exception) -> Response:
        record["500 handler saw"] = level.get()
        return PlainTextResponse("oops", status_code=500)

    return Lyre(
        routes=[Route("/", endpoint)],
        middleware=[Middleware(PureASGI), Middleware(make("outer")), Middleware(make("inner"))],
        exception_handlers={HTTPException: http_handler, Exception: error_handler},
    )


@pytest.mark.anyio
async def test_context_flows_down_not_up_through_stacked_middlewares() -> None:
    record: dict[str, Any] = {}
    with TestClient(_context_app(record, None)) as client:
        assert client.get("/").status_code == 200
    assert record["endpoint saw"] == "inner"
    assert record["bg saw"] == "endpoint"  # same context as the endpoint
    assert record["inner after"] == "inner"
    assert record["outer after"] == "outer"
    assert (
        record["pure send saw"] == "outer"
    )  # dispatch runs in the caller's task; the endpoint's value stays below
    assert record["pure after"] in ("outer", "outside")  # never a value set below call_next


@pytest.mark.anyio
async def test_context_handled_and_unhandled_exceptions() -> None:
    record: dict[str, Any] = {}
    with TestClient(_context_app(record, "http")) as client:
        assert client.get("/").status_code == 418
    assert record["http handler saw"] == "endpoint"
    assert record["outer after"] == "outer"
    record.clear()
    with TestClient(_context_app(record, "boom"), raise_server_exceptions=False) as client:
        assert client.get("/").status_code == 500
    assert record["500 handler saw"] in ("outer", "outside")  # not the endpoint's nor inner's value


# -- JSON ---------------------------------------------------------------------------------------


def _json_app() -> Lyre:
    async def endpoint(request: Request) -> Response:
        value = await request.json()
        depth = 0
        while isinstance(value, list) and value:
            value = value[0]
            depth += 1
        return JSONResponse({"depth": depth})

    return Lyre(routes=[Route("/", endpoint, methods=["POST"])])


@pytest.mark.anyio
@pytest.mark.parametrize("depth", [513, 700, 900])
async def test_json_as_deep_as_the_standard_library_reads(depth: int) -> None:
    body = "[" * depth + "1" + "]" * depth
    json.loads(body)  # what the standard library reads
    with TestClient(_json_app()) as client:
        response = client.post("/", content=body)
    assert response.status_code == 200
    assert response.json() == {"depth": depth}


@pytest.mark.anyio
async def test_json_too_deep_to_parse_or_huge_integer_is_a_400() -> None:
    with TestClient(_json_app(), raise_server_exceptions=False) as client:
        assert client.post("/", content="[" * 200_000 + "]" * 200_000).status_code == 400
        assert client.post("/", content="[" + "7" * 100_000 + "]").status_code == 400


# -- names --------------------------------------------------------------------------------------


def test_starlette_class_reports_its_name_and_is_a_lyre() -> None:
    assert (Starlette.__name__, Starlette.__qualname__) == ("Starlette", "Starlette")
    assert (Lyre.__name__, Lyre.__qualname__) == ("Lyre", "Lyre")
    assert "Starlette object" in repr(Starlette())
    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("hi"))])
    assert isinstance(app, Lyre)
    assert not isinstance(Lyre(), Starlette)

    class Mine(Starlette):
        pass

    assert type(Mine()).build_middleware_stack is Lyre.build_middleware_stack
    with TestClient(app) as client:
        assert client.get("/").text == "hi"
