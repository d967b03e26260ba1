"""A served request leaves no reference cycle behind: everything it made is freed by reference counting.

Objects caught in a cycle outlive their request until the cyclic collector runs, so a server under
load carries them (and their buffers: bodies, forms) for longer and spends time collecting them.
These tests serve each kind of request on lyre's fused stack and on the layered one
(``LYRE_FUSION=0``), with the collector paused, then ask it how many unreachable objects it found.
"""

from __future__ import annotations

import gc
import gzip
from collections.abc import Iterator
from typing import Any

import pytest

from lyre import Lyre
from lyre.middleware import Middleware
from lyre.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from lyre.requests import Request
from lyre.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from lyre.routing import Route
from lyre.types import ASGIApp, Message, Receive, Scope, Send

pytestmark = pytest.mark.anyio

BOUNDARY = "lyre-boundary"
MULTIPART = (
    f"--{BOUNDARY}\r\n"
    'Content-Disposition: form-data; name="title"\r\n\r\n'
    "hello\r\n"
    f"--{BOUNDARY}\r\n"
    'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n'
    "Content-Type: text/plain\r\n\r\n"
    "file contents\r\n"
    f"--{BOUNDARY}--\r\n"
).encode()


async def plain(request: Request) -> Response:
    return PlainTextResponse("hello")


async def body(request: Request) -> Response:
    return PlainTextResponse(str(len(await request.body())))


async def json_body(request: Request) -> Response:
    return JSONResponse(await request.json())


async def form(request: Request) -> Response:
    async with request.form() as data:
        return PlainTextResponse(",".join(f"{k}={v}" for k, v in data.items() if isinstance(v, str)))


async def upload(request: Request) -> Response:
    async with request.form() as data:
        upload = data["file"]
        assert not isinstance(upload, str)
        return PlainTextResponse(f"{data['title']}:{(await upload.read()).decode()}")


async def stream(request: Request) -> Response:
    async def chunks() -> Any:
        yield b"a"
        yield b"b"

    return StreamingResponse(chunks())


class AddHeader(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers["x-seen"] = "1"
        return response


class ScopeTouchingSend:
    """A pure ASGI middleware as users write them: its ``send`` wrapper is a closure over ``scope``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                scope["response_started"] = True
            await send(message)

        await self.app(scope, receive, send_wrapper)


class ScopeTouchingReceive:
    """A pure ASGI middleware whose ``receive`` wrapper is a closure over ``scope``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def receive_wrapper() -> Message:
            message = await receive()
            scope["body_seen"] = True
            return message

        await self.app(scope, receive_wrapper, send)


ROUTES = [
    Route("/plain", plain),
    Route("/body", body, methods=["POST"]),
    Route("/json", json_body, methods=["POST"]),
    Route("/form", form, methods=["POST"]),
    Route("/upload", upload, methods=["POST"]),
    Route("/stream", stream),
]

# (path, method, content type, body, expected status, expected body)
CASES = [
    ("/plain", "GET", None, b"", 200, b"hello"),
    ("/body", "POST", "application/octet-stream", b"x" * 100, 200, b"100"),
    ("/json", "POST", "application/json", b'{"a": [1, 2]}', 200, b'{"a":[1,2]}'),
    ("/form", "POST", "application/x-www-form-urlencoded", b"a=1&b=two+words", 200, b"a=1,b=two words"),
    ("/upload", "POST", f"multipart/form-data; boundary={BOUNDARY}", MULTIPART, 200, b"hello:file contents"),
    ("/stream", "GET", None, b"", 200, b"ab"),
    ("/nope", "GET", None, b"", 404, b"Not Found"),
    ("/form", "POST", "application/x-www-form-urlencoded", b"a=%ZZ&b=%41", 200, b"a=%ZZ,b=A"),
]


@pytest.fixture(params=["fused", "layered"])
def stack_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "layered":
        monkeypatch.setenv("LYRE_FUSION", "0")
    yield str(request.param)


@pytest.fixture
def collector_paused() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def serve(app: Lyre, path: str, method: str, content_type: str | None, payload: bytes) -> Message:
    headers = [(b"host", b"testserver"), (b"accept-encoding", b"gzip")]
    if content_type is not None:
        headers += [(b"content-type", content_type.encode()), (b"content-length", str(len(payload)).encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
    }
    messages = [{"type": "http.request", "body": payload, "more_body": False}]
    sent: list[Message] = []

    async def receive() -> Message:
        if messages:
            return messages.pop()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    content = b"".join(m.get("body", b"") for m in sent[1:])
    if (b"content-encoding", b"gzip") in start["headers"]:
        content = gzip.decompress(content)
    return {"status": start["status"], "body": content}


MIDDLEWARE = {
    "plain-stack": [],
    "base-http-middleware": [Middleware(AddHeader)],
    # A layer whose ``send`` refers to the scope, around the BaseHTTPMiddleware.
    "scope-touching-send-around-base-http-middleware": [Middleware(ScopeTouchingSend), Middleware(AddHeader)],
    "scope-touching-receive": [Middleware(ScopeTouchingReceive)],
}


@pytest.mark.parametrize("middleware", list(MIDDLEWARE))
@pytest.mark.parametrize(("path", "method", "content_type", "payload", "status", "expected"), CASES)
async def test_a_request_leaves_no_cycle(
    stack_mode: str,
    collector_paused: None,
    middleware: str,
    path: str,
    method: str,
    content_type: str | None,
    payload: bytes,
    status: int,
    expected: bytes,
) -> None:
    app = Lyre(routes=ROUTES, middleware=MIDDLEWARE[middleware])
    # The first request builds the stack, the route index and caches: not the request's garbage.
    first = await serve(app, path, method, content_type, payload)
    assert (first["status"], first["body"]) == (status, expected)
    gc.collect()
    for _ in range(3):
        answer = await serve(app, path, method, content_type, payload)
        assert (answer["status"], answer["body"]) == (status, expected)
    found = gc.collect()
    assert found == 0, f"{found} objects of these requests were only freed by the cyclic collector"
