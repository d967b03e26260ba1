"""BaseHTTPMiddleware: Starlette's call_next contract; the app runs in a child task of the middleware."""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator
from typing import Any, Literal

import anyio
import httpx2
import pytest

from lyre.applications import Lyre
from lyre.background import BackgroundTask
from lyre.exceptions import HTTPException
from lyre.middleware import Middleware
from lyre.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from lyre.requests import ClientDisconnect, Request
from lyre.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from lyre.routing import Route, WebSocketRoute
from lyre.testclient import TestClient
from lyre.types import Message, Receive, Scope, Send
from lyre.websockets import WebSocket

BACKENDS: tuple[Literal["asyncio", "trio"], ...] = ("asyncio", "trio")
ctxvar: contextvars.ContextVar[str] = contextvars.ContextVar("ctxvar", default="unset")


class Driver:
    """A minimal ASGI server in the test's event loop that records everything it is sent."""

    def __init__(self, body: list[bytes] | None = None, spec_version: str = "2.0") -> None:
        self.chunks = list(body or [b""])
        self.sent: list[Message] = []
        self.log: list[str] = []
        self.complete = anyio.Event()
        self.spec_version = spec_version
        self.fail_sends = False

    def scope(self, path: str = "/", method: str = "GET") -> Scope:
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": self.spec_version},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 1234),
            "server": ("testserver", 80),
        }

    async def receive(self) -> Message:
        if self.chunks:
            chunk = self.chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(self.chunks)}
        if not self.complete.is_set():  # like real servers: no checkpoint once it is known
            await self.complete.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.fail_sends:
            raise OSError("connection lost")
        self.sent.append(message)
        if message["type"] == "http.response.body":
            self.log.append("sent body" + (" (more)" if message.get("more_body") else ""))
            if not message.get("more_body", False):
                self.complete.set()
        else:
            self.log.append("sent " + message["type"])

    async def run(self, app: Any, path: str = "/", method: str = "GET") -> None:
        await app(self.scope(path, method), self.receive, self.send)

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.sent[0].get("headers", []):
            if key == name:
                return bytes(value)
        return None


class AddHeader(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers["X-Author"] = "John"
        return response


# -- cheat-sheet item 16 ---------------------------------------------------------------------------


class SawHost:
    """The cheat-sheet's pure ASGI middleware: reads the Host header, edits the start message."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = dict(scope["headers"])[b"host"]
        scope.setdefault("state", {})["saw_host"] = host.decode()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-saw-host", host)]
            await send(message)

        await self.app(scope, receive, send_wrapper)


async def hi(request: Request) -> Response:
    return PlainTextResponse("hi")


def test_cheatsheet_item_16_pure_asgi_and_base_http_middleware() -> None:
    app = Lyre(routes=[Route("/", hi)], middleware=[Middleware(SawHost), Middleware(AddHeader)])
    response = TestClient(app).get("/")
    assert response.status_code == 200
    assert response.text == "hi"
    assert response.headers["x-author"] == "John"
    assert response.headers["x-saw-host"] == "testserver"


def test_dispatch_function_form_and_short_circuit() -> None:
    async def dispatch(request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.url.path == "/blocked":
            return PlainTextResponse("nope", status_code=403)
        response = await call_next(request)
        response.headers["X-Seen"] = "yes"
        return response

    app = Lyre(
        routes=[Route("/", hi), Route("/blocked", hi)],
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=dispatch)],
    )
    client = TestClient(app)
    ok = client.get("/")
    assert (ok.status_code, ok.text, ok.headers["x-seen"]) == (200, "hi", "yes")
    blocked = client.get("/blocked")
    assert (blocked.status_code, blocked.text) == (403, "nope")
    assert "x-seen" not in blocked.headers


def test_call_next_response_exposes_status_and_headers() -> None:
    seen: dict[str, Any] = {}

    class Inspect(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            response = await call_next(request)
            seen["status"] = response.status_code
            seen["type"] = response.headers["content-type"]
            seen["is_response"] = isinstance(response, Response)
            return response

    async def created(request: Request) -> Response:
        return JSONResponse({"a": 1}, status_code=201)

    app = Lyre(routes=[Route("/", created)], middleware=[Middleware(Inspect)])
    response = TestClient(app).get("/")
    assert response.status_code == 201
    assert response.json() == {"a": 1}
    assert seen == {"status": 201, "type": "application/json", "is_response": True}


def test_websocket_and_lifespan_pass_through() -> None:
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    app = Lyre(routes=[WebSocketRoute("/ws", ws)], middleware=[Middleware(AddHeader)])
    with TestClient(app) as client, client.websocket_connect("/ws") as session:
        assert session.receive_text() == "hello"


# -- exceptions ------------------------------------------------------------------------------------


class Boom(Exception):
    pass


def test_exception_before_response_start_is_raised_from_call_next() -> None:
    caught: list[BaseException] = []

    class Catch(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            try:
                return await call_next(request)
            except Boom as exc:
                caught.append(exc)
                return PlainTextResponse("recovered", status_code=502)

    async def boom(request: Request) -> Response:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise Boom("endpoint failed") from inner

    app = Lyre(routes=[Route("/", boom)], middleware=[Middleware(Catch)])
    response = TestClient(app).get("/")
    assert (response.status_code, response.text) == (502, "recovered")
    assert len(caught) == 1
    assert str(caught[0]) == "endpoint failed"
    assert isinstance(caught[0].__cause__, KeyError)


def test_uncaught_endpoint_error_becomes_500() -> None:
    async def boom(request: Request) -> Response:
        raise Boom("x")

    app = Lyre(routes=[Route("/", boom)], middleware=[Middleware(AddHeader)])
    with pytest.raises(Boom):
        TestClient(app).get("/")
    response = TestClient(app, raise_server_exceptions=False).get("/")
    assert response.status_code == 500


def test_http_exception_below_is_handled_normally() -> None:
    async def forbidden(request: Request) -> Response:
        raise HTTPException(status_code=403, detail="no")

    app = Lyre(routes=[Route("/", forbidden)], middleware=[Middleware(AddHeader)])
    response = TestClient(app).get("/")
    assert (response.status_code, response.text, response.headers["x-author"]) == (403, "no", "John")


@pytest.mark.anyio
async def test_app_without_response_raises_runtime_error() -> None:
    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    driver = Driver()
    with pytest.raises(RuntimeError, match=r"^No response returned\.$"):
        await driver.run(AddHeader(silent))


@pytest.mark.anyio
async def test_exception_after_start_is_raised_after_the_response_was_sent() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise Boom("late")

    driver = Driver()
    with pytest.raises(Boom, match="late"):
        await driver.run(AddHeader(app))
    assert driver.status == 200
    assert driver.header(b"x-author") == b"John"
    assert driver.body == b"part"
    assert driver.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


def test_error_in_dispatch_after_call_next_stops_the_app() -> None:
    cleaned: list[str] = []

    class Fails(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            response = await call_next(request)
            async for chunk in response.body_iterator:  # type: ignore[attr-defined]
                assert chunk == b"a"
                break
            raise Boom("dispatch")

    async def stream(request: Request) -> Response:
        async def gen() -> AsyncIterator[bytes]:
            try:
                yield b"a"
                yield b"b"
            finally:
                cleaned.append("closed")

        return StreamingResponse(gen())

    app = Lyre(routes=[Route("/", stream)], middleware=[Middleware(Fails)])
    with pytest.raises(Boom, match="dispatch"):
        TestClient(app).get("/")
    assert cleaned == ["closed"]


# -- streaming and background tasks ---------------------------------------------------------------


@pytest.mark.anyio
async def test_background_task_runs_after_the_response_was_sent() -> None:
    driver = Driver()

    async def endpoint(request: Request) -> Response:
        return PlainTextResponse("done", background=BackgroundTask(driver.log.append, "background"))

    app = Lyre(routes=[Route("/", endpoint)], middleware=[Middleware(AddHeader)])
    await driver.run(app)
    assert driver.body == b"done"
    assert driver.log == ["sent http.response.start", "sent body (more)", "sent body", "background"]


@pytest.mark.anyio
async def test_streaming_is_incremental_and_call_next_returns_at_start() -> None:
    driver = Driver(spec_version="2.4")

    class Log(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            response = await call_next(request)
            driver.log.append("dispatch got response")
            return response

    async def endpoint(request: Request) -> Response:
        async def gen() -> AsyncIterator[str]:
            for i in range(3):
                driver.log.append(f"produce {i}")
                yield f"{i};"

        return StreamingResponse(gen(), background=BackgroundTask(driver.log.append, "background"))

    app = Lyre(routes=[Route("/", endpoint)], middleware=[Middleware(Log)])
    await driver.run(app)
    assert driver.body == b"0;1;2;"
    log = driver.log
    # The app runs in its own task, at most a chunk or two ahead of the client (bounded memory).
    assert log.index("dispatch got response") < log.index("sent http.response.start")
    assert log.index("produce 2") > log.index("sent body (more)")
    assert log[-2:] == ["sent body", "background"]
    assert log.count("sent body (more)") == 3


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_streaming_response_through_test_client(backend: Literal["asyncio", "trio"]) -> None:
    # Below ASGI 2.4 the StreamingResponse sends from a child task while it waits for a disconnect.
    order: list[str] = []

    async def endpoint(request: Request) -> Response:
        async def gen() -> AsyncIterator[bytes]:
            for i in range(4):
                yield b"x%d" % i

        return StreamingResponse(gen(), background=BackgroundTask(order.append, "background"))

    app = Lyre(routes=[Route("/", endpoint)], middleware=[Middleware(AddHeader), Middleware(AddHeader)])
    with TestClient(app, backend=backend) as client:
        response = client.get("/")
        assert response.text == "x0x1x2x3"
        assert response.headers["x-author"] == "John"
        assert order == ["background"]
        with client.stream("GET", "/") as streamed:
            assert b"".join(streamed.iter_bytes()) == b"x0x1x2x3"


@pytest.mark.anyio
async def test_httpx_asgi_transport(anyio_backend: str) -> None:
    async def endpoint(request: Request) -> Response:
        async def gen() -> AsyncIterator[bytes]:
            yield b"a"
            yield b"b"

        return StreamingResponse(gen())

    app = Lyre(routes=[Route("/s", endpoint), Route("/", hi)], middleware=[Middleware(AddHeader)])
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
        plain = await client.get("/")
        assert (plain.text, plain.headers["x-author"]) == ("hi", "John")
        if anyio_backend == "asyncio":
            # (On trio, httpx2's ASGITransport may leave its request-body generator unexhausted when
            # a streaming response finishes first, which trio reports as a ResourceWarning.)
            streamed = await client.get("/s")
            assert (streamed.text, streamed.headers["x-author"]) == ("ab", "John")


def test_dispatch_can_read_and_replace_the_body() -> None:
    class Upper(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            response = await call_next(request)
            chunks = [chunk async for chunk in response.body_iterator]  # type: ignore[attr-defined]
            body = b"".join(chunks).upper()
            return Response(body, status_code=response.status_code, media_type="text/plain")

    async def endpoint(request: Request) -> Response:
        async def gen() -> AsyncIterator[bytes]:
            yield b"abc"
            yield b"def"

        return StreamingResponse(gen(), media_type="text/plain")

    app = Lyre(routes=[Route("/", endpoint), Route("/plain", hi)], middleware=[Middleware(Upper)])
    for backend in BACKENDS:
        client = TestClient(app, backend=backend)
        assert client.get("/").text == "ABCDEF"
        assert client.get("/plain").text == "HI"


def test_dispatch_can_wrap_the_body_iterator_in_a_streaming_response() -> None:
    class Wrap(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            response = await call_next(request)

            async def upper() -> AsyncIterator[bytes]:
                async for chunk in response.body_iterator:  # type: ignore[attr-defined]
                    yield chunk.upper()

            return StreamingResponse(upper(), status_code=response.status_code)

    async def endpoint(request: Request) -> Response:
        async def gen() -> AsyncIterator[bytes]:
            yield b"ab"
            yield b"cd"

        return StreamingResponse(gen())

    app = Lyre(routes=[Route("/", endpoint), Route("/plain", hi)], middleware=[Middleware(Wrap)])
    for backend in BACKENDS:
        client = TestClient(app, backend=backend)
        assert client.get("/").text == "ABCD"
        assert client.get("/plain").text == "HI"


# -- request body ----------------------------------------------------------------------------------


def test_body_read_in_dispatch_is_still_readable_downstream() -> None:
    class ReadBody(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            data = await request.json()
            response = await call_next(request)
            response.headers["X-Dispatch-Saw"] = str(data["a"])
            return response

    async def endpoint(request: Request) -> Response:
        return JSONResponse({"body": (await request.body()).decode(), "json": await request.json()})

    app = Lyre(routes=[Route("/", endpoint, methods=["POST"])], middleware=[Middleware(ReadBody)])
    response = TestClient(app).post("/", json={"a": 1})
    assert response.json() == {"body": '{"a":1}', "json": {"a": 1}}
    assert response.headers["x-dispatch-saw"] == "1"


@pytest.mark.anyio
async def test_raw_receive_downstream_gets_the_body_read_in_dispatch() -> None:
    received: list[Message] = []

    class ReadBody(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            assert await request.body() == b"hello world"
            return await call_next(request)

    async def raw_app(scope: Scope, receive: Receive, send: Send) -> None:
        received.append(await receive())
        await PlainTextResponse("ok")(scope, receive, send)

    driver = Driver(body=[b"hello ", b"world"])
    await driver.run(ReadBody(raw_app), method="POST")
    assert received == [{"type": "http.request", "body": b"hello world", "more_body": False}]
    assert driver.body == b"ok"


@pytest.mark.anyio
async def test_body_streamed_in_dispatch_leaves_an_empty_body() -> None:
    class Stream(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            chunks = [chunk async for chunk in request.stream()]
            assert b"".join(chunks) == b"abc"
            return await call_next(request)

    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(repr(await request.body()))

    driver = Driver(body=[b"a", b"bc"])
    await driver.run(
        Lyre(routes=[Route("/", endpoint, methods=["POST"])], middleware=[Middleware(Stream)]), method="POST"
    )
    assert driver.body == b"b''"


@pytest.mark.anyio
async def test_body_not_read_in_dispatch_is_streamed_lazily_to_the_app() -> None:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(b"|".join([c async for c in request.stream() if c]))

    driver = Driver(body=[b"a", b"b", b"c"])
    await driver.run(
        Lyre(routes=[Route("/", endpoint, methods=["POST"])], middleware=[Middleware(AddHeader)]),
        method="POST",
    )
    assert driver.body == b"a|b|c"


# -- disconnects -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_client_disconnect_while_reading_does_not_raise() -> None:
    seen: list[str] = []

    async def endpoint(request: Request) -> Response:
        try:
            await request.body()
        except ClientDisconnect:
            seen.append("disconnect")
            raise
        return PlainTextResponse("unreachable")

    driver = Driver(body=[b"partial", b"more"])
    driver.chunks = []  # the client vanished: receive() reports a disconnect
    driver.complete.set()
    app = Lyre(routes=[Route("/", endpoint, methods=["POST"])], middleware=[Middleware(AddHeader)])
    await driver.run(app, method="POST")  # no exception escapes to the server
    assert seen == ["disconnect"]


@pytest.mark.anyio
@pytest.mark.parametrize("spec_version", ["2.0", "2.4"])
async def test_a_failing_server_send_propagates_unchanged(spec_version: str) -> None:
    # (lyre used to end the request quietly here; a send that raised must not look like success.)
    driver = Driver(spec_version=spec_version)
    driver.fail_sends = True
    app = Lyre(routes=[Route("/", hi)], middleware=[Middleware(AddHeader)])
    with pytest.raises(OSError, match="connection lost"):
        await driver.run(app)
    assert driver.sent == []


# -- context and tasks -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_context_variables_flow_down_but_not_back_up() -> None:
    seen: dict[str, Any] = {}

    class Ctx(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            ctxvar.set("from dispatch")
            response = await call_next(request)
            seen["after"] = ctxvar.get()
            return response

    async def endpoint(request: Request) -> Response:
        seen["endpoint"] = ctxvar.get()
        ctxvar.set("from endpoint")
        return PlainTextResponse("ok")

    driver = Driver()
    await driver.run(Lyre(routes=[Route("/", endpoint)], middleware=[Middleware(Ctx)]))
    assert seen["endpoint"] == "from dispatch"
    assert seen["after"] == "from dispatch"  # the app ran in a copy of dispatch's context


@pytest.mark.anyio
async def test_call_next_inside_a_cancel_scope_and_a_child_task() -> None:
    class Timeout(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            if request.url.path == "/child":
                results: list[Response] = []

                async def run() -> None:
                    results.append(await call_next(request))

                async with anyio.create_task_group() as tg:
                    tg.start_soon(run)
                return results[0]
            with anyio.fail_after(5):
                return await call_next(request)

    driver = Driver()
    app = Lyre(routes=[Route("/", hi), Route("/child", hi)], middleware=[Middleware(Timeout)])
    await driver.run(app)
    assert driver.body == b"hi"
    child = Driver()
    await child.run(app, "/child")
    assert child.body == b"hi"


@pytest.mark.anyio
async def test_timeout_around_call_next_cancels_a_slow_app() -> None:
    class Timeout(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            try:
                with anyio.fail_after(0.01):
                    return await call_next(request)
            except TimeoutError:
                return PlainTextResponse("timeout", status_code=504)

    async def slow(request: Request) -> Response:
        await anyio.sleep(10)
        return PlainTextResponse("late")

    driver = Driver()
    await driver.run(Lyre(routes=[Route("/", slow)], middleware=[Middleware(Timeout)]))
    assert (driver.status, driver.body) == (504, b"timeout")


@pytest.mark.anyio
async def test_nested_middlewares_keep_order_and_background_last() -> None:
    driver = Driver()

    def tag(name: str) -> type[BaseHTTPMiddleware]:
        class Tag(BaseHTTPMiddleware):
            async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
                driver.log.append(f"{name} before")
                response = await call_next(request)
                driver.log.append(f"{name} after")
                response.headers.append("x-chain", name)
                return response

        return Tag

    async def endpoint(request: Request) -> Response:
        driver.log.append("endpoint")
        return PlainTextResponse("ok", background=BackgroundTask(driver.log.append, "background"))

    app = Lyre(routes=[Route("/", endpoint)], middleware=[Middleware(tag("outer")), Middleware(tag("inner"))])
    await driver.run(app)
    assert driver.log == [
        "outer before",
        "inner before",
        "endpoint",
        "inner after",
        "outer after",
        "sent http.response.start",
        "sent body (more)",
        "sent body",
        "background",
    ]
    assert [v for k, v in driver.sent[0]["headers"] if k == b"x-chain"] == [b"inner", b"outer"]


@pytest.mark.anyio
async def test_early_hints_forwarded_and_debug_messages_resent_before_start() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.early_hint", "links": [b"</a.css>; rel=preload"]})
        await send({"type": "http.response.debug", "info": {"template": "x"}})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    driver = Driver()
    await driver.run(AddHeader(app))
    assert [m["type"] for m in driver.sent] == [
        "http.response.early_hint",
        "http.response.debug",
        "http.response.start",
        "http.response.body",
        "http.response.body",
    ]
    assert driver.body == b"ok"


def test_call_next_twice_is_an_error() -> None:
    class Twice(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            await call_next(request)
            return await call_next(request)

    app = Lyre(routes=[Route("/", hi)], middleware=[Middleware(Twice)])
    with pytest.raises(RuntimeError, match="only be called once"):
        TestClient(app).get("/")


def test_replacing_an_endless_streaming_response_stops_the_app() -> None:
    closed: list[str] = []

    class Replace(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            response = await call_next(request)
            return PlainTextResponse(f"replaced {response.status_code}")

    async def endless(request: Request) -> Response:
        async def gen() -> AsyncIterator[bytes]:
            closed.append("started")
            try:
                while True:
                    yield b"x"
                    await anyio.sleep(0)
            finally:
                closed.append("closed")

        return StreamingResponse(gen())

    app = Lyre(routes=[Route("/", endless)], middleware=[Middleware(Replace)])
    for backend in BACKENDS:
        closed.clear()
        response = TestClient(app, backend=backend).get("/")
        assert response.text == "replaced 200"
        # The generator may not have started at all (nobody asked for its body); if it did, it
        # has been closed by the time the request is over.
        assert closed in ([], ["started", "closed"])


@pytest.mark.anyio
async def test_replacing_a_response_still_runs_its_background_task_after_sending() -> None:
    driver = Driver()

    class Replace(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            await call_next(request)
            return PlainTextResponse("replaced")

    async def endpoint(request: Request) -> Response:
        return PlainTextResponse("original", background=BackgroundTask(driver.log.append, "background"))

    await driver.run(Lyre(routes=[Route("/", endpoint)], middleware=[Middleware(Replace)]))
    assert driver.body == b"replaced"
    assert driver.log == ["sent http.response.start", "sent body", "background"]


def test_a_middleware_below_can_rewrite_the_body_read_in_dispatch() -> None:
    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        body = await Request(scope, receive).body()
        await PlainTextResponse(body)(scope, receive, send)

    def doubling(app: Any) -> Any:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            async def doubled() -> Message:
                message = await receive()
                if message["type"] == "http.request":
                    message["body"] = message["body"] * 2
                return message

            await app(scope, doubled, send)

        return wrapped

    class Consume(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            assert await request.body() == b"foo "
            response = await call_next(request)
            assert await request.body() == b"foo "
            return response

    response = TestClient(Consume(doubling(endpoint))).post("/", content=b"foo ")
    assert response.text == "foo foo "


def test_endpoint_polling_is_disconnected_while_streaming() -> None:
    async def endpoint(request: Request) -> Response:
        async def gen() -> AsyncIterator[bytes]:
            for i in range(3):
                if await request.is_disconnected():
                    return  # pragma: no cover
                yield b"%d" % i

        return StreamingResponse(gen())

    async def raw(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        await request.body()
        polled = await request.is_disconnected()
        await PlainTextResponse(f"polled {polled}")(scope, receive, send)

    app = Lyre(routes=[Route("/", endpoint)], middleware=[Middleware(AddHeader)])
    for backend in BACKENDS:
        assert TestClient(app, backend=backend).get("/").text == "012"
        assert TestClient(AddHeader(raw), backend=backend).get("/").text == "polled False"


@pytest.mark.anyio
async def test_waiting_for_a_disconnect_with_a_timeout_in_the_app() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # the body
        with anyio.move_on_after(0.01) as scope_:
            await receive()  # nothing arrives before the timeout
        await PlainTextResponse(f"timed out {scope_.cancelled_caught}")(scope, receive, send)

    driver = Driver()
    await driver.run(AddHeader(app))
    assert driver.body == b"timed out True"


@pytest.mark.anyio
async def test_server_cancelling_mid_response_closes_the_app() -> None:
    closed: list[str] = []

    async def endpoint(request: Request) -> Response:
        async def gen() -> AsyncIterator[bytes]:
            try:
                yield b"first"
                yield b"second"
            finally:
                closed.append("closed")

        return StreamingResponse(gen())

    driver = Driver(spec_version="2.4")
    real_send = driver.send

    async def stalling_send(message: Message) -> None:
        await real_send(message)
        if message.get("body"):
            await anyio.sleep_forever()

    driver.send = stalling_send  # type: ignore[method-assign]
    app = Lyre(routes=[Route("/", endpoint)], middleware=[Middleware(AddHeader)])
    with anyio.move_on_after(0.05) as scope:
        await driver.run(app)
    assert scope.cancelled_caught
    assert driver.body == b"first"
    assert closed == ["closed"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_streaming_below_asgi_2_4_is_incremental_through_the_test_client(
    backend: Literal["asyncio", "trio"],
) -> None:
    order: list[str] = []

    class Log(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            response = await call_next(request)
            order.append("dispatch got response")
            return response

    async def endpoint(request: Request) -> Response:
        async def gen() -> AsyncIterator[bytes]:
            for i in range(3):
                order.append(f"produce {i}")
                yield b"%d" % i

        return StreamingResponse(gen(), background=BackgroundTask(order.append, "background"))

    app = Lyre(routes=[Route("/", endpoint)], middleware=[Middleware(Log)])
    assert TestClient(app, backend=backend).get("/").text == "012"
    # call_next returned at the start; the app (its own task) may have produced one chunk by then.
    assert order.index("dispatch got response") < order.index("produce 1")
    assert [step for step in order if step != "dispatch got response"] == [
        "produce 0",
        "produce 1",
        "produce 2",
        "background",
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_call_next_in_a_child_task_with_a_streaming_response(backend: Literal["asyncio", "trio"]) -> None:
    order: list[str] = []

    class Child(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            results: list[Response] = []

            async def run() -> None:
                results.append(await call_next(request))

            async with anyio.create_task_group() as tg:
                tg.start_soon(run)
            return results[0]

    async def endpoint(request: Request) -> Response:
        async def gen() -> AsyncIterator[bytes]:
            for i in range(3):
                await anyio.sleep(0)
                yield b"%d" % i

        return StreamingResponse(gen(), background=BackgroundTask(order.append, "background"))

    app = Lyre(routes=[Route("/", endpoint)], middleware=[Middleware(Child)])
    assert TestClient(app, backend=backend).get("/").text == "012"
    assert order == ["background"]


def test_call_next_under_asyncio_wait_for_with_a_streaming_response() -> None:
    import asyncio

    class WaitFor(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            return await asyncio.wait_for(call_next(request), 5)

    async def endpoint(request: Request) -> Response:
        async def gen() -> AsyncIterator[bytes]:
            yield b"a"
            yield b"b"

        return StreamingResponse(gen())

    app = Lyre(routes=[Route("/", endpoint), Route("/plain", hi)], middleware=[Middleware(WaitFor)])
    client = TestClient(app)
    assert client.get("/").text == "ab"
    assert client.get("/plain").text == "hi"


@pytest.mark.parametrize("backend", BACKENDS)
def test_cancel_scope_around_call_next_with_a_streaming_response(backend: Literal["asyncio", "trio"]) -> None:
    class Timeout(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            with anyio.fail_after(5):
                response = await call_next(request)
            return response

    async def endpoint(request: Request) -> Response:
        async def gen() -> AsyncIterator[bytes]:
            yield b"a"
            yield b"b"

        return StreamingResponse(gen())

    app = Lyre(routes=[Route("/", endpoint)], middleware=[Middleware(Timeout)])
    assert TestClient(app, backend=backend).get("/").text == "ab"


@pytest.mark.anyio
async def test_client_gone_mid_stream_on_an_old_server_stops_an_endless_stream() -> None:
    closed: list[str] = []

    async def endpoint(request: Request) -> Response:
        async def gen() -> AsyncIterator[bytes]:
            try:
                while True:
                    yield b"tick"
                    await anyio.sleep(0)
            finally:
                closed.append("closed")

        return StreamingResponse(gen())

    driver = Driver(spec_version="2.0")
    real_send = driver.send

    async def send(message: Message) -> None:
        await real_send(message)
        if driver.body == b"tick" * 3:
            driver.complete.set()  # the client is gone: receive() now reports http.disconnect

    driver.send = send  # type: ignore[method-assign]
    app = Lyre(routes=[Route("/", endpoint)], middleware=[Middleware(AddHeader)])
    with anyio.fail_after(5):
        await driver.run(app)
    assert driver.body.startswith(b"tick" * 3)
    assert closed == ["closed"]
    assert driver.scope()["asgi"]["spec_version"] == "2.0"


def test_endless_stream_sent_from_a_child_task_starts_at_once_on_asyncio() -> None:
    # The shape of sse-starlette's EventSourceResponse: children send, the app's own task only
    # waits for them. (On trio such a response is buffered; see lyre.middleware.base.)
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        async def stream() -> None:
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
            )
            while True:
                await send({"type": "http.response.body", "body": b"tick\n", "more_body": True})
                await anyio.sleep(0.001)

        async with anyio.create_task_group() as tg:
            tg.start_soon(stream)

    client = TestClient(AddHeader(app), backend="asyncio")
    with client.stream("GET", "/") as response:
        assert response.headers["x-author"] == "John"
        lines = response.iter_lines()
        assert [next(lines) for _ in range(3)] == ["tick", "tick", "tick"]


# -- task model: contexts, child-task senders, disconnect bookkeeping ------------------------------


class OuterProbe:
    """A pure ASGI middleware above the BaseHTTPMiddleware that records the context variable after."""

    def __init__(self, app: Any, seen: dict[str, Any]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        self.seen["outer after"] = ctxvar.get()


@pytest.mark.anyio
async def test_endpoint_and_background_see_dispatch_values_but_their_own_stay_below() -> None:
    seen: dict[str, Any] = {}

    class Ctx(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            ctxvar.set("dispatch value")
            response = await call_next(request)
            seen["dispatch after call_next"] = ctxvar.get()
            return response

    def background() -> None:
        seen["background saw"] = ctxvar.get()
        ctxvar.set("background value")

    async def endpoint(request: Request) -> Response:
        seen["endpoint saw"] = ctxvar.get()
        ctxvar.set("endpoint value")
        return PlainTextResponse("ok", background=BackgroundTask(background))

    driver = Driver()
    inner = Lyre(routes=[Route("/", endpoint)], middleware=[Middleware(Ctx)])
    await driver.run(OuterProbe(inner, seen))
    assert seen == {
        "endpoint saw": "dispatch value",
        "dispatch after call_next": "dispatch value",
        "background saw": "endpoint value",
        # dispatch runs in the caller's task, so only its own value is visible above it
        "outer after": "dispatch value",
    }


@pytest.mark.anyio
async def test_background_waits_for_a_slow_final_send() -> None:
    log: list[str] = []

    async def endpoint(request: Request) -> Response:
        return PlainTextResponse("slow", background=BackgroundTask(log.append, "background"))

    driver = Driver()

    async def slow_send(message: Message) -> None:
        log.append(f"begin {message['type']}")
        await anyio.sleep(0.01)
        log.append(f"end {message['type']}")

    app = Lyre(routes=[Route("/", endpoint)], middleware=[Middleware(AddHeader)])
    await app(driver.scope(), driver.receive, slow_send)
    assert log[-2:] == ["end http.response.body", "background"]


@pytest.mark.anyio
async def test_early_hints_from_dispatch_and_app_arrive_in_order_before_the_start() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await Request(scope, receive, send).send_early_hints("</app.js>; rel=preload")
        await PlainTextResponse("body")(scope, receive, send)

    async def dispatch(request: Request, call_next: RequestResponseEndpoint) -> Response:
        await request.send_early_hints("</dispatch.css>; rel=preload")
        return await call_next(request)

    driver = Driver()
    scope = driver.scope()
    scope["extensions"] = {"http.response.early_hint": {}}
    await BaseHTTPMiddleware(app, dispatch=dispatch)(scope, driver.receive, driver.send)
    hints = [m["links"] for m in driver.sent if m["type"] == "http.response.early_hint"]
    assert hints == [[b"</dispatch.css>; rel=preload"], [b"</app.js>; rel=preload"]]
    assert [m["type"] for m in driver.sent][2] == "http.response.start"
    assert driver.body == b"body"


def one_shot_receive(*messages: Message) -> Receive:
    """A server receive that hands out ``messages`` once each and fails if asked for more."""
    queue = list(messages)

    async def receive() -> Message:
        assert queue, "receive() called again: the middleware should have remembered the disconnect"
        return queue.pop(0)

    return receive


@pytest.mark.anyio
async def test_a_disconnect_the_app_saw_is_known_to_dispatch_without_asking_again() -> None:
    answers: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "http.disconnect"
        assert (await receive())["type"] == "http.disconnect"  # asked twice, served from memory
        await PlainTextResponse("late")(scope, receive, send)

    class Check(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            response = await call_next(request)
            answers.append(await request.is_disconnected())
            return response

    driver = Driver()
    await Check(app)(driver.scope(method="POST"), one_shot_receive({"type": "http.disconnect"}), driver.send)
    assert answers == [True]


@pytest.mark.anyio
async def test_streaming_in_dispatch_after_the_app_read_the_body_fails_fast() -> None:
    errors: list[str] = []

    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(await request.body())

    class Late(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            response = await call_next(request)
            with anyio.fail_after(1):
                try:
                    async for _ in request.stream():
                        pass  # pragma: no cover
                except RuntimeError as exc:
                    errors.append(str(exc))
            return response

    driver = Driver(body=[b"x", b"y"])
    app = Lyre(routes=[Route("/", endpoint, methods=["POST"])], middleware=[Middleware(Late)])
    await driver.run(app, method="POST")
    assert (driver.body, errors) == (b"xy", ["Stream consumed"])


@pytest.mark.anyio
async def test_layers_of_middleware_share_one_disconnect_from_the_server() -> None:
    ran: list[int] = []

    def layer(number: int) -> Middleware:
        async def dispatch(request: Request, call_next: RequestResponseEndpoint) -> Response:
            response = await call_next(request)
            response.background = BackgroundTask(ran.append, number)
            return response

        return Middleware(BaseHTTPMiddleware, dispatch=dispatch)

    async def endpoint(request: Request) -> Response:
        with pytest.raises(ClientDisconnect):
            await request.body()
        return Response(b"")

    app = Lyre(routes=[Route("/", endpoint)], middleware=[layer(n) for n in range(5)])
    driver = Driver()
    await app(driver.scope(), one_shot_receive({"type": "http.disconnect"}), driver.send)
    assert sorted(ran) == [0, 1, 2, 3, 4]
    assert [m["type"] for m in driver.sent] == ["http.response.start", "http.response.body"]


@pytest.mark.anyio
async def test_app_error_keeps_its_own_cause_when_raised_from_call_next() -> None:
    caught: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            {}["missing"]  # type: ignore[index]
        except KeyError:
            raise Boom("while handling")  # implicit context, no explicit cause

    async def dispatch(request: Request, call_next: RequestResponseEndpoint) -> Response:
        try:
            return await call_next(request)
        except Boom as exc:
            caught.append(exc)
            return PlainTextResponse("handled")

    driver = Driver()
    await driver.run(BaseHTTPMiddleware(app, dispatch=dispatch))
    assert driver.body == b"handled"
    assert isinstance(caught[0].__cause__, KeyError)


@pytest.mark.anyio
async def test_endless_stream_sent_from_a_child_task_starts_at_once(anyio_backend: str) -> None:
    # The shape of sse-starlette's EventSourceResponse: children send, the app's own task waits.
    got: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        async def stream() -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            while True:
                await send({"type": "http.response.body", "body": b"tick", "more_body": True})
                await anyio.sleep(0.001)

        async with anyio.create_task_group() as tg:
            tg.start_soon(stream)

    class Stop(Exception):
        pass

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            got.append(message["body"])
            if len(got) == 3:
                raise Stop()

    with anyio.fail_after(5), pytest.raises(Stop):
        await AddHeader(app)(Driver().scope(), Driver().receive, send)
    assert got == [b"tick"] * 3
