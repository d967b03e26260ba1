"""HTTPEndpoint and WebSocketEndpoint, through TestClient on both backends."""

from __future__ import annotations

import functools
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from lyre.applications import Lyre
from lyre.endpoints import HTTPEndpoint, WebSocketEndpoint
from lyre.exceptions import HTTPException
from lyre.middleware import Middleware
from lyre.middleware.sessions import SessionMiddleware
from lyre.requests import Request
from lyre.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from lyre.routing import Route, WebSocketRoute
from lyre.testclient import TestClient
from lyre.websockets import WebSocket, WebSocketDisconnect

MAIN_THREAD = threading.get_ident()


class Items(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        return PlainTextResponse(f"get {request.path_params.get('id', '-')}")

    def post(self, request: Request) -> Response:
        # Sync handlers run in a worker thread, not on the event loop's thread.
        return JSONResponse({"thread_is_loop": False, "method": request.method})


def client(app: Any, backend: str, **kwargs: Any) -> TestClient:
    return TestClient(app, backend=backend, **kwargs)  # type: ignore[arg-type]


def test_dispatch_per_method(anyio_backend: str) -> None:
    app = Lyre(routes=[Route("/items/{id}", Items)])
    c = client(app, anyio_backend)
    assert c.get("/items/3").text == "get 3"
    head = c.head("/items/3")
    assert head.status_code == 200
    assert head.content == b""
    assert c.post("/items/3").json() == {"thread_is_loop": False, "method": "POST"}
    for method in ("PUT", "DELETE", "OPTIONS", "PATCH", "QUERY"):
        response = c.request(method, "/items/3")
        assert response.status_code == 405, method
        assert response.headers["allow"] == "GET, HEAD, POST"
        assert response.text == "Method Not Allowed"


def test_sync_handler_runs_in_threadpool(anyio_backend: str) -> None:
    threads: list[int] = []

    class Ep(HTTPEndpoint):
        def get(self, request: Request) -> Response:
            threads.append(threading.get_ident())
            return PlainTextResponse("ok")

    async def where(request: Request) -> Response:
        threads.append(threading.get_ident())
        return PlainTextResponse("loop")

    with client(Lyre(routes=[Route("/", Ep), Route("/loop", where)]), anyio_backend) as c:
        c.get("/")
        c.get("/loop")
    assert threads[0] != threads[1]


def test_405_outside_an_app_is_a_plain_response(anyio_backend: str) -> None:
    class Only(HTTPEndpoint):
        async def get(self, request: Request) -> Response:
            return PlainTextResponse("x")

    response = client(Only, anyio_backend).post("/")
    assert response.status_code == 405
    assert response.text == "Method Not Allowed"
    assert response.headers["allow"] == "GET, HEAD"
    assert client(Only, anyio_backend).get("/").text == "x"


def test_405_inside_an_app_goes_through_exception_handlers(anyio_backend: str) -> None:
    class Only(HTTPEndpoint):
        async def get(self, request: Request) -> Response:
            return PlainTextResponse("x")

    async def on_405(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return PlainTextResponse(f"custom {exc.status_code}", status_code=405, headers=exc.headers)

    app = Lyre(routes=[Route("/", Only)], exception_handlers={405: on_405})
    response = client(app, anyio_backend).delete("/")
    assert response.status_code == 405
    assert response.text == "custom 405"
    assert response.headers["allow"] == "GET, HEAD"


def test_all_methods_and_order_of_allow(anyio_backend: str) -> None:
    class Everything(HTTPEndpoint):
        async def query(self, request: Request) -> Response:
            return PlainTextResponse("query " + (await request.body()).decode())

        async def options(self, request: Request) -> Response:
            return PlainTextResponse("options")

        async def delete(self, request: Request) -> Response:
            return PlainTextResponse("delete")

        async def patch(self, request: Request) -> Response:
            return PlainTextResponse("patch")

        async def put(self, request: Request) -> Response:
            return PlainTextResponse("put")

        async def head(self, request: Request) -> Response:
            return PlainTextResponse("", headers={"x-head": "own"})

        async def trace(self, request: Request) -> Response:  # not a dispatched verb
            return PlainTextResponse("trace")  # pragma: no cover

    c = client(Everything, anyio_backend)
    assert c.request("QUERY", "/", content=b"q").text == "query q"
    for method in ("OPTIONS", "DELETE", "PATCH", "PUT"):
        assert c.request(method, "/").text == method.lower()
    assert c.head("/").headers["x-head"] == "own"
    response = c.request("TRACE", "/")
    assert response.status_code == 405
    assert response.headers["allow"] == "HEAD, PUT, PATCH, DELETE, OPTIONS, QUERY"


def test_attribute_set_to_none_is_not_allowed(anyio_backend: str) -> None:
    class Base(HTTPEndpoint):
        async def get(self, request: Request) -> Response:
            return PlainTextResponse("base")

        async def post(self, request: Request) -> Response:
            return PlainTextResponse("post")  # pragma: no cover

    class ReadOnly(Base):
        post = None  # type: ignore[assignment]

    response = client(ReadOnly, anyio_backend).post("/")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_handler_exceptions_propagate(anyio_backend: str) -> None:
    class Broken(HTTPEndpoint):
        async def get(self, request: Request) -> Response:
            raise HTTPException(status_code=418, detail="teapot")

        def post(self, request: Request) -> Response:
            raise ValueError("sync boom")

    c = client(Lyre(routes=[Route("/", Broken)]), anyio_backend, raise_server_exceptions=False)
    response = c.get("/")
    assert (response.status_code, response.text) == (418, "teapot")
    assert c.post("/").status_code == 500
    with pytest.raises(ValueError, match="sync boom"):
        client(Lyre(routes=[Route("/", Broken)]), anyio_backend).post("/")


def login_required(func: Callable[..., Awaitable[Response]]) -> Callable[..., Any]:
    """The cheat-sheet's decorator shape: ``(obj, req, *args, **kwargs)``."""

    @functools.wraps(func)
    async def wrapper(obj: Any, req: Request, *args: Any, **kwargs: Any) -> Response:
        if not req.session.get("login_user"):
            return RedirectResponse("/signin", status_code=303)
        return await func(obj, req, *args, **kwargs)

    return wrapper


def test_cheatsheet_13b_decorated_endpoint(anyio_backend: str) -> None:
    class MyAccount(HTTPEndpoint):
        @login_required
        async def get(self, request: Request) -> Response:
            return JSONResponse(
                {"user": request.session["login_user"], "xhr": request.headers.get("x-requested-with")}
            )

    async def login(request: Request) -> Response:
        request.session["login_user"] = "bo"
        return PlainTextResponse("in")

    async def signin(request: Request) -> Response:
        return PlainTextResponse("please sign in")

    app = Lyre(
        routes=[Route("/account", MyAccount), Route("/login", login), Route("/signin", signin)],
        middleware=[Middleware(SessionMiddleware, secret_key="s3cret")],
    )
    c = client(app, anyio_backend)
    response = c.get("/account", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin"
    assert c.get("/account").text == "please sign in"
    c.get("/login")
    assert c.get("/account", headers={"x-requested-with": "XMLHttpRequest"}).json() == {
        "user": "bo",
        "xhr": "XMLHttpRequest",
    }
    assert c.post("/account").status_code == 405


def test_http_endpoint_rejects_websocket_scope() -> None:
    async def noop() -> Any:  # pragma: no cover
        return {}

    async def nosend(message: Any) -> None:  # pragma: no cover
        pass

    with pytest.raises(AssertionError):
        HTTPEndpoint({"type": "websocket"}, noop, nosend)
    with pytest.raises(AssertionError):
        WebSocketEndpoint({"type": "http"}, noop, nosend)


# -- WebSocketEndpoint ------------------------------------------------------------------------


def ws_client(endpoint: type[WebSocketEndpoint], backend: str) -> TestClient:
    return client(Lyre(routes=[WebSocketRoute("/ws", endpoint)]), backend)


def test_websocket_endpoint_default_encoding(anyio_backend: str) -> None:
    class Echo(WebSocketEndpoint):
        async def on_receive(self, websocket: WebSocket, data: Any) -> None:
            if isinstance(data, str):
                await websocket.send_text("text:" + data)
            else:
                await websocket.send_bytes(b"bytes:" + data)

    with ws_client(Echo, anyio_backend).websocket_connect("/ws") as session:
        session.send_text("a")
        assert session.receive_text() == "text:a"
        session.send_bytes(b"b")
        assert session.receive_bytes() == b"bytes:b"


def test_websocket_endpoint_text_encoding(anyio_backend: str) -> None:
    class Text(WebSocketEndpoint):
        encoding = "text"

        async def on_receive(self, websocket: WebSocket, data: Any) -> None:
            await websocket.send_text(data.upper())

    with ws_client(Text, anyio_backend).websocket_connect("/ws") as session:
        session.send_text("abc")
        assert session.receive_text() == "ABC"

    with pytest.raises(RuntimeError, match="Expected text websocket messages, but got bytes"):
        with ws_client(Text, anyio_backend).websocket_connect("/ws") as session:
            session.send_bytes(b"abc")
            with pytest.raises(WebSocketDisconnect) as info:
                session.receive_text()
            assert info.value.code == 1003
            raise AssertionError("the app's RuntimeError is re-raised on exit")


def test_websocket_endpoint_bytes_encoding(anyio_backend: str) -> None:
    class Binary(WebSocketEndpoint):
        encoding = "bytes"

        async def on_receive(self, websocket: WebSocket, data: Any) -> None:
            await websocket.send_bytes(data[::-1])

    with ws_client(Binary, anyio_backend).websocket_connect("/ws") as session:
        session.send_bytes(b"abc")
        assert session.receive_bytes() == b"cba"

    with pytest.raises(RuntimeError, match="Expected bytes websocket messages, but got text"):
        with ws_client(Binary, anyio_backend).websocket_connect("/ws") as session:
            session.send_text("abc")
            with pytest.raises(WebSocketDisconnect) as info:
                session.receive_bytes()
            assert info.value.code == 1003


def test_websocket_endpoint_json_encoding(anyio_backend: str) -> None:
    class Json(WebSocketEndpoint):
        encoding = "json"

        async def on_receive(self, websocket: WebSocket, data: Any) -> None:
            await websocket.send_json({"got": data})

    with ws_client(Json, anyio_backend).websocket_connect("/ws") as session:
        session.send_json({"a": 1})
        assert session.receive_json() == {"got": {"a": 1}}
        session.send_json([1], mode="binary")
        assert session.receive_json() == {"got": [1]}

    for bad in ("{not json", b"\xff\xfe"):
        with pytest.raises(RuntimeError, match="Malformed JSON data received."):
            with ws_client(Json, anyio_backend).websocket_connect("/ws") as session:
                if isinstance(bad, str):
                    session.send_text(bad)
                else:
                    session.send_bytes(bad)
                with pytest.raises(WebSocketDisconnect) as info:
                    session.receive_json()
                assert info.value.code == 1003


def test_websocket_endpoint_unsupported_encoding(anyio_backend: str) -> None:
    class Weird(WebSocketEndpoint):
        encoding = "xml"  # type: ignore[assignment]

    with pytest.raises(AssertionError, match="Unsupported 'encoding' attribute xml"):
        with ws_client(Weird, anyio_backend).websocket_connect("/ws") as session:
            session.send_text("x")
            session.receive_text()


def test_websocket_endpoint_hooks_and_close_codes(anyio_backend: str) -> None:
    events: list[Any] = []

    class Hooks(WebSocketEndpoint):
        async def on_connect(self, websocket: WebSocket) -> None:
            events.append("connect")
            await websocket.accept(subprotocol="v1")

        async def on_receive(self, websocket: WebSocket, data: Any) -> None:
            events.append(("receive", data))
            if data == "fail":
                raise ValueError("bad message")
            await websocket.send_text("ok")

        async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
            events.append(("disconnect", close_code))

    with ws_client(Hooks, anyio_backend).websocket_connect("/ws", subprotocols=["v1"]) as session:
        assert session.accepted_subprotocol == "v1"
        session.send_text("hi")
        assert session.receive_text() == "ok"
        session.close(code=1001)
    assert events == ["connect", ("receive", "hi"), ("disconnect", 1001)]

    events.clear()
    with pytest.raises(ValueError, match="bad message"):
        with ws_client(Hooks, anyio_backend).websocket_connect("/ws") as session:
            session.send_text("fail")
            with pytest.raises(WebSocketDisconnect) as info:
                session.receive_text()
            assert info.value.code == 1011  # closed for the client, then the error surfaces on exit
    assert events == ["connect", ("receive", "fail"), ("disconnect", 1011)]


def test_websocket_endpoint_error_after_on_disconnect_closed(anyio_backend: str) -> None:
    class ClosesItself(WebSocketEndpoint):
        async def on_receive(self, websocket: WebSocket, data: Any) -> None:
            raise ValueError("oops")

        async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
            await websocket.close(code=4000 + close_code % 1000)

    with pytest.raises(ValueError, match="oops"):
        with ws_client(ClosesItself, anyio_backend).websocket_connect("/ws") as session:
            session.send_text("x")
            with pytest.raises(WebSocketDisconnect) as info:
                session.receive_text()
            assert info.value.code == 4011  # only the endpoint's own close was sent


def test_websocket_endpoint_on_connect_failure_skips_on_disconnect(anyio_backend: str) -> None:
    events: list[str] = []

    class FailingConnect(WebSocketEndpoint):
        async def on_connect(self, websocket: WebSocket) -> None:
            raise ValueError("no connect")

        async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
            events.append("disconnect")  # pragma: no cover

    with pytest.raises(ValueError, match="no connect"):
        with ws_client(FailingConnect, anyio_backend).websocket_connect("/ws"):
            pass  # pragma: no cover
    assert events == []


def test_websocket_endpoint_can_close_in_on_connect(anyio_backend: str) -> None:
    class Reject(WebSocketEndpoint):
        async def on_connect(self, websocket: WebSocket) -> None:
            await websocket.close(code=4000, reason="not today")

    with pytest.raises(WebSocketDisconnect) as info:
        with ws_client(Reject, anyio_backend).websocket_connect("/ws"):
            pass  # pragma: no cover
    assert (info.value.code, info.value.reason) == (4000, "not today")


def test_instance_attributes_set_before_init_are_honoured(anyio_backend: str) -> None:
    class Configurable(HTTPEndpoint):
        def __init__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["path"] == "/sync":
                self.get = self.sync_get  # type: ignore[method-assign]
            else:
                self.delete = self.async_delete  # type: ignore[attr-defined]
            super().__init__(scope, receive, send)

        async def get(self, request: Request) -> Response:  # type: ignore[no-redef]
            return PlainTextResponse("async get")

        def sync_get(self, request: Request) -> Response:
            return PlainTextResponse(f"sync get, in a worker thread: {threading.get_ident() != MAIN_THREAD}")

        async def async_delete(self, request: Request) -> Response:
            return PlainTextResponse("deleted")

    c = client(Lyre(routes=[Route("/sync", Configurable), Route("/other", Configurable)]), anyio_backend)
    assert c.get("/sync").text == "sync get, in a worker thread: True"
    assert c.delete("/sync").headers["allow"] == "GET, HEAD"
    assert c.get("/other").text == "async get"
    assert c.delete("/other").text == "deleted"
    assert c.put("/other").headers["allow"] == "GET, HEAD, DELETE"


def test_on_disconnect_runs_when_the_session_block_ends(anyio_backend: str) -> None:
    codes: list[int] = []

    class Echo(WebSocketEndpoint):
        encoding = "text"

        async def on_receive(self, websocket: WebSocket, data: Any) -> None:
            await websocket.send_text(data)

        async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
            codes.append(close_code)

    for _ in range(5):
        with ws_client(Echo, anyio_backend).websocket_connect("/ws") as session:
            session.send_text("x")
            assert session.receive_text() == "x"
    assert codes == [1000] * 5


def test_on_disconnect_with_some_awaits_completes(anyio_backend: str) -> None:
    import anyio

    steps: list[str] = []

    class Cleanup(WebSocketEndpoint):
        async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
            for i in range(5):
                await anyio.sleep(0)
                steps.append(f"step {i}")

    with ws_client(Cleanup, anyio_backend).websocket_connect("/ws"):
        pass
    assert steps == [f"step {i}" for i in range(5)]
