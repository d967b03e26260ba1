"""TestClient: the HTTP side (scope, streaming, errors, cookies, redirects, lifespan).

Every test takes the ``anyio_backend`` fixture so the app runs on asyncio and on trio.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any, cast

import anyio
import anyio.lowlevel
import httpx2
import pytest

from lyre.applications import Lyre
from lyre.exceptions import StarletteDeprecationWarning
from lyre.requests import Request
from lyre.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from lyre.routing import Route
from lyre.testclient import TestClient, WebSocketDenialResponse, WebSocketTestSession
from lyre.types import Message, Receive, Scope, Send
from lyre.websockets import WebSocketDisconnect

_loop_marker: anyio.lowlevel.RunVar[object | None] = anyio.lowlevel.RunVar("_loop_marker")


def make_client(app: Any, backend: str, **kwargs: Any) -> TestClient:
    return TestClient(app, backend=backend, **kwargs)  # type: ignore[arg-type]


async def echo_scope(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with a JSON summary of the scope and the request body."""
    assert scope["type"] == "http"
    message = await receive()
    summary = {
        "method": scope["method"],
        "path": scope["path"],
        "raw_path": scope["raw_path"].decode(),
        "root_path": scope["root_path"],
        "scheme": scope["scheme"],
        "query_string": scope["query_string"].decode(),
        "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]],
        "client": list(scope["client"]),
        "server": scope["server"],
        "http_version": scope["http_version"],
        "extensions": sorted(scope["extensions"]),
        "has_asgi_key": "asgi" in scope,
        "body": message["body"].decode(),
        "more_body_key": "more_body" in message,
    }
    await JSONResponse(summary)(scope, receive, send)


def test_scope_of_a_simple_get(anyio_backend: str) -> None:
    client = make_client(echo_scope, anyio_backend)
    data = client.get("/hello%20world/x?a=1&b=%20").json()
    assert data["method"] == "GET"
    assert data["path"] == "/hello world/x"
    assert data["raw_path"] == "/hello%20world/x"
    assert data["query_string"] == "a=1&b=%20"
    assert data["root_path"] == ""
    assert data["scheme"] == "http"
    assert data["client"] == ["testclient", 50000]
    assert data["server"] == ["testserver", 80]
    assert data["http_version"] == "1.1"
    assert data["extensions"] == ["http.response.debug", "http.response.trailers"]
    assert data["has_asgi_key"] is False
    headers = dict(data["headers"])
    assert data["headers"][0] == ["host", "testserver"]
    assert headers["user-agent"] == "testclient"
    assert headers["accept"] == "*/*"
    assert "connection" in headers


def test_body_arrives_as_one_message_without_more_body(anyio_backend: str) -> None:
    client = make_client(echo_scope, anyio_backend)
    data = client.post("/", content=b"abc").json()
    assert data["body"] == "abc"
    assert data["more_body_key"] is False
    assert ["content-length", "3"] in data["headers"]

    def gen() -> Iterator[bytes]:
        yield b"one "
        yield b"two"

    data = client.post("/", content=gen()).json()
    assert data["body"] == "one two"
    assert ["transfer-encoding", "chunked"] in data["headers"]


def test_https_and_explicit_ports_and_client(anyio_backend: str) -> None:
    client = make_client(echo_scope, anyio_backend, client=("10.1.2.3", 53102))
    data = client.get("https://example.com/x").json()
    assert data["scheme"] == "https"
    assert data["server"] == ["example.com", 443]
    assert data["client"] == ["10.1.2.3", 53102]
    data = client.get("http://example.com:8080/").json()
    assert data["server"] == ["example.com", 8080]
    assert dict(data["headers"])["host"] == "example.com:8080"


def test_base_url_path_is_merged(anyio_backend: str) -> None:
    client = make_client(echo_scope, anyio_backend, base_url="http://testserver/api/v1/")
    assert client.get("/bar").json()["path"] == "/api/v1/bar"


def test_root_path_is_set_but_not_prefixed(anyio_backend: str) -> None:
    client = make_client(echo_scope, anyio_backend, root_path="/api")
    data = client.get("/api/items").json()
    assert data["root_path"] == "/api"
    assert data["path"] == "/api/items"


def test_default_headers_and_user_agent(anyio_backend: str) -> None:
    client = make_client(echo_scope, anyio_backend, headers={"x-token": "t"})
    headers = client.get("/").json()["headers"]
    assert ["x-token", "t"] in headers
    assert ["user-agent", "testclient"] in headers

    client = make_client(echo_scope, anyio_backend, headers={"user-agent": "mine"})
    headers = client.get("/").json()["headers"]
    assert [v for k, v in headers if k == "user-agent"] == ["mine"]


def test_duplicate_request_headers_are_kept(anyio_backend: str) -> None:
    client = make_client(echo_scope, anyio_backend)
    headers = client.get("/", headers=[("x-a", "1"), ("X-A", "2")]).json()["headers"]
    assert [v for k, v in headers if k == "x-a"] == ["1", "2"]


def test_ipv6_host(anyio_backend: str) -> None:
    client = make_client(echo_scope, anyio_backend)
    data = client.get("http://[::1]:8000/").json()
    assert dict(data["headers"])["host"] == "[::1]:8000"
    assert data["server"] == ["::1", 8000]


def test_asgi2_app_is_wrapped(anyio_backend: str) -> None:
    class ASGI2App:
        def __init__(self, scope: Scope) -> None:
            self.scope = scope

        async def __call__(self, receive: Receive, send: Send) -> None:
            await PlainTextResponse("asgi2")(self.scope, receive, send)

    client = make_client(ASGI2App, anyio_backend)
    assert client.get("/").text == "asgi2"


def test_app_exception_is_raised(anyio_backend: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise ValueError("boom")

    client = make_client(app, anyio_backend)
    with pytest.raises(ValueError, match="boom"):
        client.get("/")
    client = make_client(app, anyio_backend, raise_server_exceptions=False)
    response = client.get("/")
    assert response.status_code == 500
    assert response.content == b""


def test_no_response_at_all(anyio_backend: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        pass

    client = make_client(app, anyio_backend)
    with pytest.raises(AssertionError, match="TestClient did not receive any response."):
        client.get("/")
    response = make_client(app, anyio_backend, raise_server_exceptions=False).get("/")
    assert response.status_code == 500
    assert response.text == ""


def test_exception_after_response_is_raised_unless_disabled(anyio_backend: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("sent")(scope, receive, send)
        raise RuntimeError("after the response")

    with pytest.raises(RuntimeError, match="after the response"):
        make_client(app, anyio_backend).get("/")
    response = make_client(app, anyio_backend, raise_server_exceptions=False).get("/")
    assert response.status_code == 200
    assert response.text == "sent"


def test_server_error_middleware_500(anyio_backend: str) -> None:
    async def boom(request: Request) -> Response:
        raise RuntimeError("kaput")

    app = Lyre(routes=[Route("/", boom)])
    with pytest.raises(RuntimeError, match="kaput"):
        make_client(app, anyio_backend).get("/")
    response = make_client(app, anyio_backend, raise_server_exceptions=False).get("/")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"


def test_message_order_is_checked(anyio_backend: str) -> None:
    async def double_start(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.start", "status": 200, "headers": []})

    async def body_first(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.body", "body": b"x"})

    async def body_after(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x"})
        await send({"type": "http.response.body", "body": b"y"})

    cases = [
        (double_start, 'Received multiple "http.response.start" messages.'),
        (body_first, 'Received "http.response.body" without "http.response.start".'),
        (body_after, 'Received "http.response.body" after response completed.'),
    ]
    for app, message in cases:
        with pytest.raises(AssertionError) as info:
            make_client(app, anyio_backend).get("/")
        assert str(info.value) == message


def test_trailers(anyio_backend: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
        await send({"type": "http.response.body", "body": b"data"})
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")]})

    response = make_client(app, anyio_backend).get("/")
    assert response.text == "data"
    assert response.extensions["http.response.trailers"] == [(b"x-checksum", b"abc")]

    async def early(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
        await send({"type": "http.response.trailers", "headers": []})

    with pytest.raises(AssertionError, match='Received "http.response.trailers" before body completed.'):
        make_client(early, anyio_backend).get("/")

    async def undeclared(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        await send({"type": "http.response.trailers", "headers": []})

    with pytest.raises(AssertionError, match="without declaring trailers"):
        make_client(undeclared, anyio_backend).get("/")


def test_head_has_no_body(anyio_backend: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
        await send({"type": "http.response.body", "body": b"hello"})

    response = make_client(app, anyio_backend).head("/")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "5"


def test_receive_after_body_waits_for_response_then_disconnects(anyio_backend: str) -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                seen.append((await receive())["type"])

            tg.start_soon(watch)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"a", "more_body": True})
            seen.append("body sent")
            await send({"type": "http.response.body", "body": b"b"})

    response = make_client(app, anyio_backend).get("/")
    assert response.text == "ab"
    assert seen == ["body sent", "http.disconnect"]


def test_streaming_response_is_streamed(anyio_backend: str) -> None:
    progress: list[str] = []

    async def numbers() -> AsyncIterator[str]:
        for i in range(3):
            progress.append(f"produced {i}")
            yield f"{i},"

    async def endpoint(request: Request) -> Response:
        return StreamingResponse(numbers(), media_type="text/plain")

    client = make_client(Lyre(routes=[Route("/", endpoint)]), anyio_backend)
    with client.stream("GET", "/") as response:
        assert response.status_code == 200
        chunks = response.iter_bytes()
        assert next(chunks) == b"0,"
        # Back-pressure: the app has not run ahead of what the client read.
        assert progress[-1] in ("produced 0", "produced 1")
        assert b"".join(chunks) == b"1,2,"
    assert progress == ["produced 0", "produced 1", "produced 2"]


def test_closing_an_unfinished_stream_cancels_the_app(anyio_backend: str) -> None:
    state: dict[str, Any] = {"cancelled": False}

    async def endless() -> AsyncIterator[bytes]:
        try:
            for i in itertools.count():
                yield str(i).encode()
        except BaseException:
            state["cancelled"] = True
            raise

    async def endpoint(request: Request) -> Response:
        return StreamingResponse(endless())

    client = make_client(Lyre(routes=[Route("/", endpoint)]), anyio_backend)
    with client.stream("GET", "/") as response:
        first = next(response.iter_bytes())
        assert first == b"0"
    assert state["cancelled"] is True


def test_debug_extension_sets_template_and_context(anyio_backend: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.debug", "info": {"template": "T", "context": {"a": 1}}})
        await PlainTextResponse("x")(scope, receive, send)

    response = make_client(app, anyio_backend).get("/")
    assert response.template == "T"  # type: ignore[attr-defined]
    assert response.context == {"a": 1}  # type: ignore[attr-defined]
    assert response.extensions["http.response.debug"] == {"template": "T", "context": {"a": 1}}


def test_cookies_persist_and_seed(anyio_backend: str) -> None:
    async def set_cookie(request: Request) -> Response:
        response = PlainTextResponse("set")
        response.set_cookie("session", "abc")
        return response

    async def read_cookie(request: Request) -> Response:
        return JSONResponse(request.cookies)

    app = Lyre(routes=[Route("/set", set_cookie), Route("/read", read_cookie)])
    client = make_client(app, anyio_backend, cookies={"seed": "1"})
    assert client.get("/read").json() == {"seed": "1"}
    client.get("/set")
    assert client.get("/read").json() == {"seed": "1", "session": "abc"}
    assert client.cookies["session"] == "abc"


def test_follow_redirects(anyio_backend: str) -> None:
    async def redirect(request: Request) -> Response:
        return RedirectResponse("/target")

    async def target(request: Request) -> Response:
        return PlainTextResponse("arrived")

    app = Lyre(routes=[Route("/start", redirect), Route("/target", target)])
    client = make_client(app, anyio_backend)
    response = client.get("/start")
    assert response.status_code == 200
    assert response.text == "arrived"
    assert response.history[0].status_code == 307

    response = client.get("/start", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/target"
    no_follow = make_client(app, anyio_backend, follow_redirects=False)
    assert no_follow.get("/start").status_code == 307


def test_timeout_argument_warns(anyio_backend: str) -> None:
    client = make_client(PlainTextResponse("ok"), anyio_backend)
    with pytest.warns(StarletteDeprecationWarning, match="You should not use the 'timeout' argument"):
        client.get("/", timeout=5)


def test_http_methods_including_query(anyio_backend: str) -> None:
    client = make_client(echo_scope, anyio_backend)
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "QUERY"):
        assert client.request(method, "/").json()["method"] == method


def test_client_is_an_httpx2_client() -> None:
    client = TestClient(PlainTextResponse("ok"))
    assert isinstance(client, httpx2.Client)
    assert client.base_url.host == "testserver" and client.base_url.scheme == "http"
    assert issubclass(WebSocketDenialResponse, httpx2.Response)
    assert issubclass(WebSocketDenialResponse, WebSocketDisconnect)


# -- lifespan ---------------------------------------------------------------------------------


def lifespan_app(events: list[str], *, fail_startup: bool = False, fail_shutdown: bool = False) -> Lyre:
    @contextlib.asynccontextmanager
    async def lifespan(app: Lyre) -> AsyncIterator[dict[str, Any]]:
        events.append("startup")
        if fail_startup:
            raise LookupError("startup failed")
        yield {"db": "conn"}
        events.append("shutdown")
        if fail_shutdown:
            raise LookupError("shutdown failed")

    async def home(request: Request) -> Response:
        events.append("request")
        return PlainTextResponse(request.state.db)

    return Lyre(routes=[Route("/", home)], lifespan=lifespan)


def test_lifespan_runs_only_in_with_block(anyio_backend: str) -> None:
    events: list[str] = []
    app = lifespan_app(events)
    client = make_client(app, anyio_backend)
    with pytest.raises(AttributeError):
        client.get("/")  # no lifespan state without the with block
    assert events == ["request"]
    events.clear()
    with make_client(app, anyio_backend) as client:
        assert events == ["startup"]
        assert client.get("/").text == "conn"
        assert client.app_state == {"db": "conn"}
    assert events == ["startup", "request", "shutdown"]


def test_lifespan_startup_failure_is_raised(anyio_backend: str) -> None:
    events: list[str] = []
    client = make_client(lifespan_app(events, fail_startup=True), anyio_backend)
    with pytest.raises(LookupError, match="startup failed"):
        with client:
            pass  # pragma: no cover
    assert client.portal is None


def test_lifespan_shutdown_failure_is_raised(anyio_backend: str) -> None:
    events: list[str] = []
    client = make_client(lifespan_app(events, fail_shutdown=True), anyio_backend)
    with pytest.raises(LookupError, match="shutdown failed"):
        with client:
            pass
    assert events == ["startup", "shutdown"]


def test_app_without_lifespan_support(anyio_backend: str) -> None:
    async def http_only(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http", "http only"
        await PlainTextResponse("ok")(scope, receive, send)

    with pytest.raises(AssertionError, match="http only"):
        with make_client(http_only, anyio_backend):
            pass  # pragma: no cover

    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await PlainTextResponse("ok")(scope, receive, send)

    with pytest.raises(TypeError, match="lifespan protocol"):
        with make_client(silent, anyio_backend):
            pass  # pragma: no cover


def test_one_event_loop_serves_the_with_block(anyio_backend: str) -> None:
    loops: list[object] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            assert message["type"] == "lifespan.shutdown"
            await send({"type": "lifespan.shutdown.complete"})
            return
        if _loop_marker.get(None) is None:
            _loop_marker.set(object())
        loops.append(_loop_marker.get())
        await PlainTextResponse("ok")(scope, receive, send)

    with make_client(app, anyio_backend) as client:
        client.get("/")
        client.get("/")
    assert loops[0] is loops[1]
    client = make_client(app, anyio_backend)
    client.get("/")
    client.get("/")
    assert loops[2] is not loops[3]


def test_client_can_be_entered_twice(anyio_backend: str) -> None:
    events: list[str] = []
    client = make_client(lifespan_app(events), anyio_backend)
    with client:
        client.get("/")
    with client:
        client.get("/")
    client.get("/health-not-found")
    assert events == ["startup", "request", "shutdown"] * 2


def test_open_stream_is_closed_at_exit(anyio_backend: str) -> None:
    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"x"
            await anyio.sleep(0)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await StreamingResponse(endless())(scope, receive, send)

    with make_client(app, anyio_backend) as client:
        response = client.send(client.build_request("GET", "/"), stream=True)
        assert response.status_code == 200
    # Leaving the block cancelled the app and closed the response instead of hanging.
    assert client.portal is None


def test_websocket_connect_returns_session(anyio_backend: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})

    session = make_client(app, anyio_backend).websocket_connect("/ws")
    assert isinstance(session, WebSocketTestSession)


def test_request_message_shape(anyio_backend: str) -> None:
    received: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        received.append(await receive())
        await PlainTextResponse("ok")(scope, receive, send)

    make_client(app, anyio_backend).post("/", content=b"xyz")
    assert received == [{"type": "http.request", "body": b"xyz"}]


def test_user_agent_check_is_case_sensitive(anyio_backend: str) -> None:
    client = make_client(echo_scope, anyio_backend, headers={"User-Agent": "x"})
    headers = client.get("/").json()["headers"]
    assert [v for k, v in headers if k == "user-agent"] == ["x", "testclient"]


def test_request_state_is_a_copy_of_app_state(anyio_backend: str) -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["shared"] = [1]
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        seen.append(scope["state"])
        scope["state"]["per_request"] = True
        await PlainTextResponse("ok")(scope, receive, send)

    with make_client(app, anyio_backend) as client:
        client.get("/")
        client.get("/")
        assert client.app_state == {"shared": [1]}
    assert seen[0] is not seen[1]
    assert seen[0]["shared"] is seen[1]["shared"]  # shallow copy


def test_websocket_inside_with_block_shares_the_loop(anyio_backend: str) -> None:
    marks: list[object] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if _loop_marker.get(None) is None:
            _loop_marker.set(object())
        if scope["type"] == "lifespan":
            marks.append(_loop_marker.get())
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        marks.append(_loop_marker.get())
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})

    with make_client(app, anyio_backend) as client:
        with client.websocket_connect("/ws") as session:
            assert session.receive()["type"] == "websocket.close"
    assert marks[0] is marks[1]


def run_python(code: str) -> str:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_falls_back_to_httpx_without_warning() -> None:
    out = run_python(
        "import sys; sys.modules['httpx2'] = None\n"
        "import httpx\n"
        "from lyre.testclient import TestClient, WebSocketDenialResponse\n"
        "from lyre.responses import PlainTextResponse\n"
        "client = TestClient(PlainTextResponse('hi'))\n"
        "print(isinstance(client, httpx.Client), issubclass(WebSocketDenialResponse, httpx.Response),"
        " client.get('/').text)\n"
    )
    assert out == "True True hi"


def test_import_error_names_the_extra() -> None:
    out = run_python(
        "import sys; sys.modules['httpx2'] = None; sys.modules['httpx'] = None\n"
        "try:\n"
        "    import lyre.testclient\n"
        "except ImportError as exc:\n"
        "    print(isinstance(exc, RuntimeError), 'lyre-asgi[full]' in str(exc), 'httpx2' in str(exc))\n"
    )
    assert out == "True True True"


def test_explicit_host_header_is_used(anyio_backend: str) -> None:
    client = make_client(echo_scope, anyio_backend)
    headers = client.get("/", headers={"host": "example.org:8443"}).json()["headers"]
    assert [v for k, v in headers if k == "host"] == ["example.org:8443"]


def test_error_in_the_middle_of_a_stream(anyio_backend: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"first "
        raise RuntimeError("broken stream")

    async def endpoint(request: Request) -> Response:
        return StreamingResponse(chunks())

    app = Lyre(routes=[Route("/", endpoint)])
    with pytest.raises(RuntimeError, match="broken stream"):
        make_client(app, anyio_backend).get("/")
    client = make_client(app, anyio_backend, raise_server_exceptions=False)
    with client.stream("GET", "/") as response:
        assert response.status_code == 200
        assert response.read() == b"first "


def test_background_task_error_is_raised(anyio_backend: str) -> None:
    from lyre.background import BackgroundTask

    def fail() -> None:
        raise ValueError("background failed")

    async def endpoint(request: Request) -> Response:
        return PlainTextResponse("done", background=BackgroundTask(fail))

    app = Lyre(routes=[Route("/", endpoint)])
    with pytest.raises(ValueError, match="background failed"):
        make_client(app, anyio_backend).get("/")
    response = make_client(app, anyio_backend, raise_server_exceptions=False).get("/")
    assert response.text == "done"


def test_lingering_lifespan_apps_do_not_hang(anyio_backend: str) -> None:
    async def fails_then_waits(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})
        await anyio.sleep_forever()

    with pytest.raises(RuntimeError, match="no database"):
        with make_client(fails_then_waits, anyio_backend):
            pass  # pragma: no cover

    events: list[str] = []

    async def completes_then_waits(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        try:
            await anyio.sleep_forever()
        finally:
            events.append("cancelled")

    with make_client(completes_then_waits, anyio_backend):
        pass
    assert events == ["cancelled"]


# -- back-pressure, closing and shutdown of streamed responses -------------------------------------


def raw_chunk_app(chunks: list[bytes], log: list[str]) -> Any:
    """An app sending each of ``chunks`` with ``more_body`` (logging each return), then an empty end."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for index, chunk in enumerate(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            log.append(f"sent {index}")
        await send({"type": "http.response.body", "body": b""})
        log.append("done")

    return app


def wait_until(predicate: Any, seconds: float = 5.0) -> bool:
    """Polls ``predicate`` from the test thread while the app runs on the portal's thread."""
    import time

    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def test_app_runs_one_chunk_ahead_of_the_reader(anyio_backend: str) -> None:
    log: list[str] = []
    client = make_client(raw_chunk_app([b"a", b"b", b"c"], log), anyio_backend)
    with client.stream("GET", "/") as response:
        chunks = response.iter_raw()
        assert log == []  # nothing read yet: the first body send is still waiting
        assert next(chunks) == b"a"
        # Taking "a" released its send; the app then blocks on handing over "b".
        assert wait_until(lambda: log == ["sent 0"])
        assert log == ["sent 0"]
        assert next(chunks) == b"b"
        assert wait_until(lambda: log == ["sent 0", "sent 1"])
        assert list(chunks) == [b"c"]
    assert log == ["sent 0", "sent 1", "sent 2", "done"]


@pytest.mark.parametrize(("method", "chunk"), [("GET", b""), ("HEAD", b"payload")])
def test_undelivered_chunks_wait_for_a_reader_and_are_dropped(
    anyio_backend: str, method: str, chunk: bytes
) -> None:
    log: list[str] = []
    client = make_client(raw_chunk_app([chunk] * 20, log), anyio_backend)
    with client.stream(method, "/") as response:
        assert log == []  # even an empty chunk waits until someone reads
        assert response.read() == b""
    assert log == [f"sent {i}" for i in range(20)] + ["done"]


@pytest.mark.parametrize("raise_server_exceptions", [True, False])
def test_closing_a_complete_stream_waits_for_the_background_task(
    anyio_backend: str, raise_server_exceptions: bool
) -> None:
    from lyre.background import BackgroundTask

    events: list[str] = []

    async def slow_then_fail() -> None:
        await anyio.sleep(0.05)
        events.append("background finished")
        raise LookupError("background went wrong")

    async def endpoint(request: Request) -> Response:
        return PlainTextResponse("body", background=BackgroundTask(slow_then_fail))

    client = make_client(
        Lyre(routes=[Route("/", endpoint)]), anyio_backend, raise_server_exceptions=raise_server_exceptions
    )
    expectation = pytest.raises(LookupError) if raise_server_exceptions else contextlib.nullcontext()
    with expectation:
        with client.stream("GET", "/") as response:
            assert next(response.iter_raw()) == b"body"
            # Leaving the block early must not cancel the task: the response was complete.
    assert events == ["background finished"]


def test_closing_after_the_trailers_waits_for_the_app(anyio_backend: str) -> None:
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
        await send({"type": "http.response.body", "body": b"data"})
        await send({"type": "http.response.trailers", "headers": [(b"x-sum", b"1")]})
        events.append("trailers sent")
        await anyio.sleep(0.05)
        events.append("app returned")

    with make_client(app, anyio_backend).stream("GET", "/") as response:
        assert next(response.iter_raw()) == b"data"
        assert wait_until(lambda: "trailers sent" in events)
        assert response.extensions["http.response.trailers"] == [(b"x-sum", b"1")]
    assert events == ["trailers sent", "app returned"]


def test_closing_while_another_exception_is_handled_still_waits(anyio_backend: str) -> None:
    from lyre.background import BackgroundTask

    events: list[str] = []

    async def slow() -> None:
        await anyio.sleep(0.05)
        events.append("background finished")

    async def endpoint(request: Request) -> Response:
        return PlainTextResponse("body", background=BackgroundTask(slow))

    client = make_client(Lyre(routes=[Route("/", endpoint)]), anyio_backend)
    try:
        raise ZeroDivisionError
    except ZeroDivisionError:
        with client.stream("GET", "/") as response:
            assert next(response.iter_raw()) == b"body"
    assert events == ["background finished"]


@pytest.mark.parametrize("shutdown", ["close", "with-block"])
def test_shutting_the_client_down_cancels_responses_left_open(anyio_backend: str, shutdown: str) -> None:
    import gc

    from lyre.background import BackgroundTask

    events: list[str] = []

    async def forever() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            events.append("background cancelled")

    async def endpoint(request: Request) -> Response:
        return PlainTextResponse("body", background=BackgroundTask(forever))

    client = make_client(Lyre(routes=[Route("/", endpoint)]), anyio_backend)
    with client if shutdown == "with-block" else contextlib.closing(client):
        response = client.send(client.build_request("GET", "/"), stream=True)
        chunks = response.iter_raw()
        assert next(chunks) == b"body"
    assert events == ["background cancelled"]
    # The iterator was never closed; collecting it now must be silent (no unraisable exception,
    # which the warnings-as-errors setting would turn into a failure) and must not block.
    del chunks, response
    gc.collect()


def test_debug_message_after_the_start_reaches_the_response(anyio_backend: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.debug", "info": {"template": "page.html", "context": {"n": 1}}})
        await send({"type": "http.response.body", "body": b"ok"})

    response = make_client(app, anyio_backend).get("/")
    assert response.extensions["http.response.debug"] == {"template": "page.html", "context": {"n": 1}}
    assert response.template == "page.html"  # type: ignore[attr-defined]
    assert response.context == {"n": 1}  # type: ignore[attr-defined]

    async def plain(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.debug", "info": {"fragment": "nav"}})
        await send({"type": "http.response.body", "body": b"ok"})

    response = make_client(plain, anyio_backend).get("/")
    assert response.extensions["http.response.debug"] == {"fragment": "nav"}
    assert not hasattr(response, "template")


def test_streaming_semantics_hold_with_plain_httpx() -> None:
    out = run_python(
        "import sys; sys.modules['httpx2'] = None\n"
        "import anyio\n"
        "from lyre.testclient import TestClient\n"
        "log = []\n"
        "async def app(scope, receive, send):\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        "    for part in (b'a', b'', b'b'):\n"
        "        await send({'type': 'http.response.body', 'body': part, 'more_body': True})\n"
        "        log.append(part)\n"
        "    await send({'type': 'http.response.body', 'body': b''})\n"
        "    await anyio.sleep(0.05)\n"
        "    log.append('after')\n"
        "client = TestClient(app)\n"
        "with client.stream('GET', '/') as response:\n"
        "    before = list(log)\n"
        "    chunks = list(response.iter_raw())\n"
        "print(before, chunks, log)\n"
        "client.close()\n"
    )
    assert out == "[] [b'a', b'b'] [b'a', b'', b'b', 'after']"


def test_dropping_the_iterator_of_an_unfinished_stream_cancels_at_once(anyio_backend: str) -> None:
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            while True:
                await send({"type": "http.response.body", "body": b"tick", "more_body": True})
        finally:
            events.append("app stopped")
        raise AssertionError("unreachable")  # pragma: no cover

    with make_client(app, anyio_backend).stream("GET", "/") as response:
        assert next(response.iter_raw()) == b"tick"  # the iterator is collected right after
        # A body iterator dropped part-way cancels the unfinished app at once (httpx2's iterator
        # even closes the response; it is re-opened so that the block's own close still applies).
        assert events == ["app stopped"]
        assert not response.is_closed
    assert response.is_closed


def test_app_error_after_a_dropped_iterator_is_raised_by_the_response_close(anyio_backend: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"all of it"})
        await anyio.sleep(0.01)
        raise KeyError("after the body")

    client = make_client(app, anyio_backend)
    with pytest.raises(KeyError, match="after the body"):
        with client.stream("GET", "/") as response:
            chunks = cast(Generator[bytes, None, None], response.iter_raw())  # a generator at run time
            assert next(chunks) == b"all of it"
            chunks.close()  # neither raises nor waits: the response's close does both


def test_client_close_cancels_every_open_response_and_reports_an_error(anyio_backend: str) -> None:
    stopped: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            # Nobody reads: this waits for a reader until the client shuts down.
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
        finally:
            stopped.append(scope["path"])
            if scope["path"] == "/bad":
                raise OSError("cleanup failed")

    client = make_client(app, anyio_backend)
    responses = [client.send(client.build_request("GET", path), stream=True) for path in ("/good", "/bad")]
    assert [r.status_code for r in responses] == [200, 200]
    with pytest.raises(OSError, match="cleanup failed"):
        client.close()
    assert sorted(stopped) == ["/bad", "/good"]
    for response in responses:
        response.close()  # already ended by the client: nothing more happens
