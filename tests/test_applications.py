"""lyre.applications: the app object, exception handling end to end, lifespan, body limits, old forms."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import pytest

from lyre.applications import Lyre, Starlette
from lyre.datastructures import UploadFile
from lyre.exceptions import HTTPException, StarletteDeprecationWarning, WebSocketException
from lyre.middleware import Middleware
from lyre.middleware.base import RequestResponseEndpoint
from lyre.middleware.body_limit import DEFAULT_MAX_BODY_SIZE, MAX_BODY_SIZE_SCOPE_KEY
from lyre.requests import Request
from lyre.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from lyre.routing import Mount, Route, Router
from lyre.testclient import TestClient
from lyre.types import ASGIApp, Message, Receive, Scope, Send


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


async def boom(request: Request) -> Response:
    raise RuntimeError("boom <b>")


async def forbidden(request: Request) -> Response:
    raise HTTPException(status_code=403)


async def unavailable(request: Request) -> Response:
    raise HTTPException(status_code=503)


async def read_body(request: Request) -> Response:
    body = await request.body()
    return PlainTextResponse(str(len(body)))


def test_starlette_is_lyre() -> None:
    # Issue 20: a thin subclass carrying Starlette's name; every Starlette app is a Lyre.
    assert issubclass(Starlette, Lyre)
    assert isinstance(Starlette(), Lyre)
    import lyre

    assert lyre.Lyre is Lyre
    assert lyre.Starlette is Starlette


def test_http_exception_default_responses() -> None:
    async def teapot(request: Request) -> Response:
        raise HTTPException(418)

    async def unknown(request: Request) -> Response:
        raise HTTPException(599)

    async def auth(request: Request) -> Response:
        raise HTTPException(401, detail="nope", headers={"WWW-Authenticate": "Basic"})

    async def no_content(request: Request) -> Response:
        raise HTTPException(304)

    app = Lyre(
        routes=[
            Route("/teapot", teapot),
            Route("/unknown", unknown),
            Route("/auth", auth),
            Route("/nc", no_content),
        ]
    )
    client = TestClient(app)
    r = client.get("/teapot")
    assert (r.status_code, r.text) == (418, "I'm a Teapot")
    r = client.get("/unknown")
    assert (r.status_code, r.text) == (599, "")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["content-length"] == "0"
    r = client.get("/auth")
    assert (r.status_code, r.text) == (401, "nope")
    assert r.headers["www-authenticate"] == "Basic"
    assert list(r.headers.keys())[0] == "www-authenticate"
    r = client.get("/nc")
    assert r.status_code == 304
    assert "content-type" not in r.headers


def test_cheatsheet_exception_handlers_item_14() -> None:
    async def handler(request: Request, exc: Exception) -> Response:
        code = getattr(exc, "status_code", 500)
        return PlainTextResponse(f"My {code} page", status_code=code)

    app = Lyre(
        routes=[Route("/403", forbidden), Route("/503", unavailable), Route("/500", boom)],
        exception_handlers={403: handler, 404: handler, 503: handler, 500: handler},
    )
    client = TestClient(app, raise_server_exceptions=False)
    assert (client.get("/403").status_code, client.get("/403").text) == (403, "My 403 page")
    assert client.get("/503").text == "My 503 page"
    r = client.get("/missing")
    assert (r.status_code, r.text) == (404, "My 404 page")
    r = client.get("/500")
    assert (r.status_code, r.text) == (500, "My 500 page")
    # The error is re-raised after the response when the client asks for it.
    with pytest.raises(RuntimeError, match="boom"):
        TestClient(app).get("/500")


def test_class_handlers_walk_the_mro_and_sync_handlers_run() -> None:
    class MyError(ValueError):
        pass

    async def raise_it(request: Request) -> Response:
        raise MyError("x")

    def on_value_error(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(f"handled {type(exc).__name__}", status_code=422)

    app = Lyre(routes=[Route("/", raise_it)], exception_handlers={ValueError: on_value_error})
    r = TestClient(app).get("/")
    assert (r.status_code, r.text) == (422, "handled MyError")


def test_unhandled_error_is_500_and_reraised() -> None:
    app = Lyre(routes=[Route("/", boom)])
    with pytest.raises(RuntimeError, match="boom"):
        TestClient(app).get("/")
    r = TestClient(app, raise_server_exceptions=False).get("/")
    assert (r.status_code, r.text) == (500, "Internal Server Error")


def test_debug_pages() -> None:
    app = Lyre(
        debug=True, routes=[Route("/", boom)], exception_handlers={500: lambda r, e: PlainTextResponse("no")}
    )
    client = TestClient(app, raise_server_exceptions=False)
    r = client.get("/", headers={"accept": "text/html"})
    assert r.status_code == 500
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "RuntimeError: boom &lt;b&gt;" in r.text
    assert "<h1>500 Server Error</h1>" in r.text
    r = client.get("/")
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text.rstrip().endswith("RuntimeError: boom <b>")


def test_handled_exception_after_response_started() -> None:
    async def stream(request: Request) -> Response:
        async def gen() -> AsyncIterator[bytes]:
            yield b"a"
            raise ValueError("late")

        return StreamingResponse(gen())

    app = Lyre(
        routes=[Route("/", stream)],
        exception_handlers={ValueError: lambda r, e: PlainTextResponse("handled")},
    )
    with pytest.raises(RuntimeError, match="Caught handled exception, but response already started."):
        TestClient(app).get("/")


def test_exception_handler_inside_base_middleware_sees_response() -> None:
    from lyre.middleware.base import BaseHTTPMiddleware

    seen: list[int] = []

    class Spy(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            response = await call_next(request)
            seen.append(response.status_code)
            return response

    app = Lyre(
        routes=[Route("/", forbidden)],
        middleware=[Middleware(Spy)],
        exception_handlers={403: lambda r, e: PlainTextResponse("nope", status_code=403)},
    )
    assert TestClient(app).get("/").text == "nope"
    assert seen == [403]


def test_middleware_order_and_add_middleware() -> None:
    order: list[str] = []

    class Tag:
        def __init__(self, app: ASGIApp, name: str) -> None:
            self.app = app
            self.name = name

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                order.append(self.name)
            await self.app(scope, receive, send)

    app = Lyre(routes=[Route("/", ok)], middleware=[Middleware(Tag, "A"), Middleware(Tag, name="B")])
    app.add_middleware(Tag, name="C")
    client = TestClient(app)
    client.get("/")
    assert order == ["C", "A", "B"]
    with pytest.raises(RuntimeError, match="Cannot add middleware after an application has started"):
        app.add_middleware(Tag, name="D")


def test_state_and_app_attributes() -> None:
    async def read_state(request: Request) -> Response:
        request.state.start_time = 5
        return JSONResponse({"db": request.app.state.dbconn, "t": request.state.start_time})

    app = Lyre(routes=[Route("/", read_state)])
    app.state.dbconn = "conn-1"
    assert TestClient(app).get("/").json() == {"db": "conn-1", "t": 5}
    assert app.routes is app.router.routes
    assert app.url_path_for("read_state") == "/"


def test_add_route_mount_host() -> None:
    app = Lyre()
    app.add_route("/a", ok, methods=["POST"], name="a")
    app.mount("/m", Router([Route("/b", ok)]), name="m")
    app.host("api.example.org", Router([Route("/", ok)]), name="api")
    client = TestClient(app)
    assert client.post("/a").text == "ok"
    assert client.get("/m/b").text == "ok"
    assert app.url_path_for("m:ok") == "/m/b"


# ---------------------------------------------------------------- lifespan


def test_lifespan_state_reaches_requests() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Lyre) -> AsyncIterator[dict[str, Any]]:
        events.append("start")
        yield {"db": "conn"}
        events.append("stop")

    async def ep(request: Request) -> Response:
        return PlainTextResponse(request.state.db)

    app = Lyre(routes=[Route("/", ep)], lifespan=lifespan)
    with TestClient(app) as client:
        assert events == ["start"]
        assert client.get("/").text == "conn"
    assert events == ["start", "stop"]


def test_lifespan_not_run_without_context_manager() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Lyre) -> AsyncIterator[None]:
        events.append("start")
        yield

    TestClient(Lyre(routes=[Route("/", ok)], lifespan=lifespan)).get("/")
    assert events == []


@pytest.mark.anyio
async def test_lifespan_startup_failure_reported() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: Lyre) -> AsyncIterator[None]:
        raise ValueError("no db")
        yield

    app = Lyre(lifespan=lifespan)
    sent: list[Message] = []
    messages = [{"type": "lifespan.startup"}]

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    with pytest.raises(ValueError, match="no db"):
        await app({"type": "lifespan", "state": {}}, receive, send)
    assert sent[0]["type"] == "lifespan.startup.failed"
    assert "ValueError: no db" in sent[0]["message"]


@pytest.mark.anyio
async def test_lifespan_state_needs_server_support() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: Lyre) -> AsyncIterator[dict[str, int]]:
        yield {"a": 1}

    app = Lyre(lifespan=lifespan)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        sent.append(message)

    with pytest.raises(RuntimeError, match='The server does not support "state" in the lifespan scope.'):
        await app({"type": "lifespan"}, receive, send)
    assert sent[0]["type"] == "lifespan.startup.failed"


def test_old_lifespan_forms_work_with_warnings() -> None:
    events: list[str] = []

    async def astart() -> None:
        events.append("astart")

    def sstop() -> None:
        events.append("sstop")

    with pytest.warns(
        StarletteDeprecationWarning, match="on_startup and on_shutdown parameters are deprecated"
    ):
        app = Lyre(routes=[Route("/", ok)], on_startup=[astart], on_shutdown=[sstop])

    with pytest.warns(StarletteDeprecationWarning, match="on_event decorator is deprecated"):

        @app.on_event("startup")
        def sync_start() -> None:
            events.append("sstart")

    with pytest.warns(StarletteDeprecationWarning, match="add_event_handler is deprecated"):
        app.add_event_handler("shutdown", lambda: events.append("lambda-stop"))

    with TestClient(app) as client:
        assert client.get("/").text == "ok"
    assert events == ["astart", "sstart", "sstop", "lambda-stop"]

    with (
        pytest.warns(StarletteDeprecationWarning),
        pytest.raises(AssertionError, match="Use either 'lifespan' or 'on_startup'/'on_shutdown', not both."),
    ):

        @contextlib.asynccontextmanager
        async def ls(app: Any) -> AsyncIterator[None]:
            yield

        Lyre(on_startup=[astart], lifespan=ls)

    with pytest.warns(StarletteDeprecationWarning), pytest.raises(AssertionError):
        app.on_event("teardown")(astart)


def test_generator_lifespans_warn_and_work() -> None:
    events: list[str] = []

    async def agen(app: Any) -> AsyncIterator[None]:
        events.append("a-start")
        yield
        events.append("a-stop")

    def gen(app: Any) -> Iterator[None]:
        events.append("s-start")
        yield
        events.append("s-stop")

    with pytest.warns(StarletteDeprecationWarning, match="async generator function lifespans are deprecated"):
        app1 = Lyre(lifespan=agen)  # type: ignore[arg-type]
    with pytest.warns(StarletteDeprecationWarning, match="^generator function lifespans are deprecated"):
        app2 = Lyre(lifespan=gen)  # type: ignore[arg-type]
    with TestClient(app1):
        pass
    with TestClient(app2):
        pass
    assert events == ["a-start", "a-stop", "s-start", "s-stop"]


def test_old_decorators_work_with_warnings() -> None:
    app = Lyre()
    with pytest.warns(StarletteDeprecationWarning, match="`route` decorator is deprecated"):

        @app.route("/r", methods=["GET", "POST"])
        async def r(request: Request) -> Response:
            return PlainTextResponse("r")

    with pytest.warns(StarletteDeprecationWarning, match="`exception_handler` decorator is deprecated"):

        @app.exception_handler(404)
        async def not_found(request: Request, exc: Exception) -> Response:
            return PlainTextResponse("custom 404", status_code=404)

    with pytest.warns(StarletteDeprecationWarning, match="`middleware` decorator is deprecated"):

        @app.middleware("http")
        async def add_header(request: Request, call_next: RequestResponseEndpoint) -> Response:
            response = await call_next(request)
            response.headers["x-mw"] = "yes"
            return response

    with pytest.raises(AssertionError, match=r'Currently only middleware\("http"\) is supported.'):
        app.middleware("websocket")

    client = TestClient(app)
    res = client.post("/r")
    assert res.text == "r"
    assert res.headers["x-mw"] == "yes"
    missing = client.get("/missing")
    assert (missing.status_code, missing.text) == (404, "custom 404")
    assert r.__name__ == "r"  # decorators return the function unchanged


# ---------------------------------------------------------------- body limits


def test_default_body_limit_is_16_mib() -> None:
    assert DEFAULT_MAX_BODY_SIZE == 16 * 1024 * 1024
    assert Lyre().max_body_size == DEFAULT_MAX_BODY_SIZE


def test_body_over_limit_by_content_length_is_413() -> None:
    app = Lyre(routes=[Route("/", read_body, methods=["POST"])], max_body_size=10)
    client = TestClient(app)
    assert client.post("/", content=b"x" * 10).text == "10"
    r = client.post("/", content=b"x" * 11)
    assert (r.status_code, r.text) == (413, "Content Too Large")


def test_chunked_body_over_limit_is_counted() -> None:
    app = Lyre(routes=[Route("/", read_body, methods=["POST"])], max_body_size=10)

    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b"abc"

    r = TestClient(app).post("/", content=chunks())
    assert (r.status_code, r.text) == (413, "Content Too Large")


def test_declared_length_over_limit_replaces_response_even_if_body_unread() -> None:
    app = Lyre(routes=[Route("/", ok, methods=["POST"])], max_body_size=4)
    r = TestClient(app).post("/", content=b"123456")
    assert r.status_code == 413


def test_route_limit_overrides_app_limit() -> None:
    seen: list[Any] = []

    async def upload(request: Request) -> Response:
        seen.append(request.scope[MAX_BODY_SIZE_SCOPE_KEY])
        return PlainTextResponse(str(len(await request.body())))

    app = Lyre(
        routes=[
            Route("/small", read_body, methods=["POST"]),
            Route("/big", upload, methods=["POST"], max_body_size=100),
            Mount("/tight", routes=[Route("/x", read_body, methods=["POST"])], max_body_size=2),
        ],
        max_body_size=10,
    )
    client = TestClient(app)
    assert client.post("/small", content=b"x" * 20).status_code == 413
    assert client.post("/big", content=b"x" * 50).text == "50"
    assert seen == [100]
    assert client.post("/big", content=b"x" * 101).status_code == 413
    assert client.post("/tight/x", content=b"x" * 5).status_code == 413


def test_body_limit_none_lifts_it() -> None:
    app = Lyre(routes=[Route("/", read_body, methods=["POST"])], max_body_size=None)
    assert TestClient(app).post("/", content=b"x" * 100_000).text == "100000"


def test_413_handler_applies_when_counting() -> None:
    def chunks() -> Iterator[bytes]:
        yield b"x" * 8
        yield b"x" * 8

    app = Lyre(
        routes=[Route("/", read_body, methods=["POST"])],
        max_body_size=10,
        exception_handlers={413: lambda r, e: PlainTextResponse("too big!", status_code=413)},
    )
    r = TestClient(app).post("/", content=chunks())
    assert (r.status_code, r.text) == (413, "too big!")


# ---------------------------------------------------------------- websockets through the app


def test_websocket_exception_closes_with_code() -> None:
    from lyre.routing import WebSocketRoute
    from lyre.websockets import WebSocket, WebSocketDisconnect

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        raise WebSocketException(1008, "policy")

    app = Lyre(routes=[WebSocketRoute("/ws", ws)])
    with TestClient(app).websocket_connect("/ws") as session, pytest.raises(WebSocketDisconnect) as info:
        session.receive_text()
    assert info.value.code == 1008
    assert info.value.reason == "policy"


def test_unhandled_websocket_error_closes_with_1011_and_propagates() -> None:
    from lyre.routing import WebSocketRoute
    from lyre.websockets import WebSocket, WebSocketDisconnect

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")
        raise RuntimeError("ws boom")

    app = Lyre(routes=[WebSocketRoute("/ws", ws)])
    with pytest.raises(RuntimeError, match="ws boom"):  # noqa: PT012
        with TestClient(app).websocket_connect("/ws") as session:
            assert session.receive_text() == "hi"
            with pytest.raises(WebSocketDisconnect) as info:
                session.receive_text()
            assert info.value.code == 1011


def test_uploaded_files_are_closed_when_the_request_ends() -> None:
    kept: list[Any] = []

    async def upload(request: Request) -> Response:
        form = await request.form()
        kept.append(form["f"])
        return PlainTextResponse(str(cast(UploadFile, form["f"]).filename))

    app = Lyre(routes=[Route("/", upload, methods=["POST"])])
    r = TestClient(app).post("/", files={"f": ("a.txt", b"hello")})
    assert r.text == "a.txt"
    assert kept[0].file.closed


def test_deprecation_warnings_point_at_the_callers_line() -> None:
    app = Lyre()
    with pytest.warns(StarletteDeprecationWarning) as record:
        app.route("/x")(ok)
        app.on_event("startup")(lambda: None)
        app.add_event_handler("shutdown", lambda: None)
        Router().route("/y")(ok)
    assert [w.filename for w in record] == [__file__] * 4
