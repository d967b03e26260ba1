"""WebSocket: the state machine (driven directly) and sessions through TestClient.websocket_connect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from lyre.applications import Lyre
from lyre.exceptions import HTTPException, WebSocketException
from lyre.requests import HTTPConnection
from lyre.responses import PlainTextResponse, Response
from lyre.routing import Host, Mount, WebSocketRoute
from lyre.testclient import TestClient, WebSocketDenialResponse
from lyre.types import Message, Receive, Scope, Send
from lyre.websockets import (
    WebSocket,
    WebSocketClose,
    WebSocketDisconnect,
    WebSocketDisconnected,
    WebSocketState,
)

# -- direct, with hand-written receive/send ---------------------------------------------------


def ws_scope(**extra: Any) -> Scope:
    scope: Scope = {
        "type": "websocket",
        "path": "/ws",
        "raw_path": b"/ws",
        "root_path": "",
        "scheme": "ws",
        "query_string": b"a=1",
        "headers": [(b"host", b"example.org"), (b"cookie", b"k=v")],
        "client": ("1.2.3.4", 5),
        "server": ("example.org", 80),
        "subprotocols": [],
    }
    scope.update(extra)
    return scope


class Peer:
    """Feeds queued messages to the app and records what it sends."""

    def __init__(self, *incoming: Message) -> None:
        self.incoming = list(incoming)
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        await anyio.lowlevel.checkpoint()
        return self.incoming.pop(0)

    async def send(self, message: Message) -> None:
        await anyio.lowlevel.checkpoint()
        self.sent.append(message)


CONNECT: Message = {"type": "websocket.connect"}


def test_state_enum_and_exceptions() -> None:
    assert [(s.name, s.value) for s in WebSocketState] == [
        ("CONNECTING", 0),
        ("CONNECTED", 1),
        ("DISCONNECTED", 2),
        ("RESPONSE", 3),
    ]
    exc = WebSocketDisconnect()
    assert (exc.code, exc.reason) == (1000, "")
    exc = WebSocketDisconnect(1001, "away")
    assert (exc.code, exc.reason) == (1001, "away")
    assert issubclass(WebSocketDisconnected, RuntimeError)
    with pytest.raises(AssertionError):
        WebSocket({"type": "http"}, Peer().receive, Peer().send)


def test_websocket_is_an_http_connection() -> None:
    peer = Peer()
    websocket: WebSocket = WebSocket(ws_scope(), peer.receive, peer.send)
    assert isinstance(websocket, HTTPConnection)
    assert str(websocket.url) == "ws://example.org/ws?a=1"
    assert websocket.query_params["a"] == "1"
    assert websocket.cookies == {"k": "v"}
    assert websocket.client is not None and websocket.client.host == "1.2.3.4"
    assert websocket.client_state is WebSocketState.CONNECTING
    assert websocket.application_state is WebSocketState.CONNECTING


@pytest.mark.anyio
async def test_accept_receive_send_close() -> None:
    peer = Peer(
        CONNECT,
        {"type": "websocket.receive", "text": "hello"},
        {"type": "websocket.receive", "bytes": b"\x00\x01"},
        {"type": "websocket.receive", "text": '{"a": [1, 2]}'},
        {"type": "websocket.receive", "bytes": b'{"b": "\xc3\xa9"}'},
    )
    websocket = WebSocket(ws_scope(), peer.receive, peer.send)
    await websocket.accept(subprotocol="chat", headers=[(b"x-a", b"1")])
    assert websocket.client_state is WebSocketState.CONNECTED
    assert websocket.application_state is WebSocketState.CONNECTED
    assert await websocket.receive_text() == "hello"
    assert await websocket.receive_bytes() == b"\x00\x01"
    assert await websocket.receive_json() == {"a": [1, 2]}
    assert await websocket.receive_json(mode="binary") == {"b": "é"}
    await websocket.send_text("t")
    await websocket.send_bytes(b"b")
    await websocket.send_json({"k": "é", "n": [1, 2]})
    await websocket.send_json({"k": 1}, mode="binary")
    await websocket.close(code=1001)
    assert websocket.application_state is WebSocketState.DISCONNECTED  # type: ignore[comparison-overlap]
    assert peer.sent == [
        {"type": "websocket.accept", "subprotocol": "chat", "headers": [(b"x-a", b"1")]},
        {"type": "websocket.send", "text": "t"},
        {"type": "websocket.send", "bytes": b"b"},
        {"type": "websocket.send", "text": '{"k":"é","n":[1,2]}'},
        {"type": "websocket.send", "bytes": b'{"k":1}'},
        {"type": "websocket.close", "code": 1001, "reason": ""},
    ]


@pytest.mark.anyio
async def test_accept_defaults() -> None:
    peer = Peer(CONNECT)
    websocket = WebSocket(ws_scope(), peer.receive, peer.send)
    await websocket.accept()
    assert peer.sent == [{"type": "websocket.accept", "subprotocol": None, "headers": []}]


@pytest.mark.anyio
async def test_receive_disconnect_raises_websocket_disconnect() -> None:
    peer = Peer(CONNECT, {"type": "websocket.disconnect", "code": 1001, "reason": "gone"})
    websocket = WebSocket(ws_scope(), peer.receive, peer.send)
    await websocket.accept()
    with pytest.raises(WebSocketDisconnect) as info:
        await websocket.receive_text()
    assert (info.value.code, info.value.reason) == (1001, "gone")
    assert websocket.client_state is WebSocketState.DISCONNECTED
    with pytest.raises(WebSocketDisconnected) as disc:
        await websocket.receive()
    assert str(disc.value) == 'Cannot call "receive" once a disconnect message has been received.'


@pytest.mark.anyio
async def test_wrong_frame_kind_raises_key_error() -> None:
    peer = Peer(
        CONNECT, {"type": "websocket.receive", "bytes": b"x"}, {"type": "websocket.receive", "text": "y"}
    )
    websocket = WebSocket(ws_scope(), peer.receive, peer.send)
    await websocket.accept()
    with pytest.raises(KeyError):
        await websocket.receive_text()
    with pytest.raises(KeyError):
        await websocket.receive_bytes()


@pytest.mark.anyio
async def test_receive_before_accept_and_send_before_accept() -> None:
    peer = Peer(CONNECT)
    websocket = WebSocket(ws_scope(), peer.receive, peer.send)
    for method in (websocket.receive_text, websocket.receive_bytes, websocket.receive_json):
        with pytest.raises(WebSocketDisconnected) as info:
            await method()
        assert str(info.value) == 'WebSocket is not connected. Need to call "accept" first.'
    with pytest.raises(RuntimeError) as rt:
        await websocket.send_text("too early")
    assert str(rt.value) == (
        'Expected ASGI message "websocket.accept", "websocket.close" or '
        "\"websocket.http.response.start\", but got 'websocket.send'"
    )
    assert peer.sent == []


@pytest.mark.anyio
async def test_second_accept_is_an_error() -> None:
    peer = Peer(CONNECT)
    websocket = WebSocket(ws_scope(), peer.receive, peer.send)
    await websocket.accept()
    with pytest.raises(RuntimeError) as info:
        await websocket.accept()
    assert str(info.value) == (
        'Expected ASGI message "websocket.send" or "websocket.close", but got \'websocket.accept\''
    )


@pytest.mark.anyio
async def test_send_after_close() -> None:
    peer = Peer(CONNECT)
    websocket = WebSocket(ws_scope(), peer.receive, peer.send)
    await websocket.accept()
    await websocket.close()
    with pytest.raises(WebSocketDisconnected) as info:
        await websocket.send_text("late")
    assert str(info.value) == 'Cannot call "send" once a close message has been sent.'
    with pytest.raises(RuntimeError):  # still catchable as RuntimeError
        await websocket.close()


@pytest.mark.anyio
async def test_unexpected_client_messages() -> None:
    websocket = WebSocket(ws_scope(), Peer({"type": "websocket.receive", "text": "x"}).receive, Peer().send)
    with pytest.raises(RuntimeError) as info:
        await websocket.receive()
    assert str(info.value) == "Expected ASGI message \"websocket.connect\", but got 'websocket.receive'"

    websocket = WebSocket(ws_scope(), Peer(CONNECT, CONNECT).receive, Peer().send)
    await websocket.receive()
    with pytest.raises(RuntimeError) as info:
        await websocket.receive()
    assert str(info.value) == (
        'Expected ASGI message "websocket.receive" or "websocket.disconnect", but got \'websocket.connect\''
    )


@pytest.mark.anyio
async def test_bad_json_mode() -> None:
    peer = Peer(CONNECT)
    websocket = WebSocket(ws_scope(), peer.receive, peer.send)
    await websocket.accept()
    for call in (lambda: websocket.receive_json(mode="xml"), lambda: websocket.send_json({}, mode="xml")):
        with pytest.raises(RuntimeError) as info:
            await call()
        assert str(info.value) == 'The "mode" argument should be "text" or "binary".'
    assert peer.sent[1:] == []


@pytest.mark.anyio
async def test_os_error_on_send_becomes_disconnect() -> None:
    async def broken_send(message: Message) -> None:
        if message["type"] == "websocket.send":
            raise OSError("connection reset")

    websocket = WebSocket(ws_scope(), Peer(CONNECT).receive, broken_send)
    await websocket.accept()
    with pytest.raises(WebSocketDisconnect) as info:
        await websocket.send_text("x")
    assert info.value.code == 1006
    assert websocket.application_state is WebSocketState.DISCONNECTED


@pytest.mark.anyio
async def test_iterators_stop_at_disconnect() -> None:
    def frames(*items: Message) -> Peer:
        return Peer(CONNECT, *items, {"type": "websocket.disconnect", "code": 1000})

    peer = frames({"type": "websocket.receive", "text": "a"}, {"type": "websocket.receive", "text": "b"})
    websocket = WebSocket(ws_scope(), peer.receive, peer.send)
    await websocket.accept()
    assert [t async for t in websocket.iter_text()] == ["a", "b"]

    peer = frames({"type": "websocket.receive", "bytes": b"a"})
    websocket = WebSocket(ws_scope(), peer.receive, peer.send)
    await websocket.accept()
    assert [b async for b in websocket.iter_bytes()] == [b"a"]

    peer = frames({"type": "websocket.receive", "text": "[1]"}, {"type": "websocket.receive", "text": "{}"})
    websocket = WebSocket(ws_scope(), peer.receive, peer.send)
    await websocket.accept()
    assert [j async for j in websocket.iter_json()] == [[1], {}]


@pytest.mark.anyio
async def test_denial_response_states() -> None:
    peer = Peer(CONNECT)
    websocket = WebSocket(ws_scope(extensions={"websocket.http.response": {}}), peer.receive, peer.send)
    await websocket.send_denial_response(PlainTextResponse("no", status_code=403))
    assert websocket.application_state is WebSocketState.DISCONNECTED
    assert [m["type"] for m in peer.sent] == ["websocket.http.response.start", "websocket.http.response.body"]
    assert peer.sent[0]["status"] == 403
    assert peer.sent[1]["body"] == b"no"

    peer = Peer(CONNECT)
    websocket = WebSocket(ws_scope(), peer.receive, peer.send)
    with pytest.raises(RuntimeError) as info:
        await websocket.send_denial_response(PlainTextResponse("no", status_code=403))
    assert str(info.value) == "The server doesn't support the Websocket Denial Response extension."

    websocket = WebSocket(ws_scope(), Peer(CONNECT).receive, Peer().send)
    await websocket.send({"type": "websocket.http.response.start", "status": 400, "headers": []})
    assert websocket.application_state is WebSocketState.RESPONSE
    with pytest.raises(RuntimeError) as info:
        await websocket.send({"type": "websocket.send", "text": "x"})
    assert (
        str(info.value) == "Expected ASGI message \"websocket.http.response.body\", but got 'websocket.send'"
    )
    await websocket.send({"type": "websocket.http.response.body", "body": b"a", "more_body": True})
    assert websocket.application_state is WebSocketState.RESPONSE
    await websocket.send({"type": "websocket.http.response.body", "body": b"b"})
    assert websocket.application_state is WebSocketState.DISCONNECTED  # type: ignore[comparison-overlap]


@pytest.mark.anyio
async def test_websocket_close_app() -> None:
    peer = Peer()
    await WebSocketClose()(ws_scope(), peer.receive, peer.send)
    await WebSocketClose(code=4001, reason="nope")(ws_scope(), peer.receive, peer.send)
    assert peer.sent == [
        {"type": "websocket.close", "code": 1000, "reason": ""},
        {"type": "websocket.close", "code": 4001, "reason": "nope"},
    ]


# -- through the TestClient -------------------------------------------------------------------

WSApp = Callable[[WebSocket], Awaitable[None]]


def as_app(func: WSApp) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await func(WebSocket(scope, receive, send))

    return app


def client_for(func: WSApp, backend: str) -> TestClient:
    return TestClient(as_app(func), backend=backend)  # type: ignore[arg-type]


def test_text_bytes_json_round_trip(anyio_backend: str) -> None:
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.send_bytes(await websocket.receive_bytes())
        await websocket.send_json(await websocket.receive_json())
        await websocket.send_json(await websocket.receive_json(mode="binary"), mode="binary")
        await websocket.close()

    with client_for(echo, anyio_backend).websocket_connect("/") as session:
        session.send_text("héllo")
        assert session.receive_text() == "héllo"
        session.send_bytes(b"\xff\x00")
        assert session.receive_bytes() == b"\xff\x00"
        session.send_json({"a": ["é"]})
        assert session.receive_json() == {"a": ["é"]}
        session.send_json([1, 2], mode="binary")
        assert session.receive_json(mode="binary") == [1, 2]
        with pytest.raises(WebSocketDisconnect) as info:
            session.receive_text()
        assert info.value.code == 1000


def test_client_send_json_is_compact(anyio_backend: str) -> None:
    received: list[Message] = []

    async def app(websocket: WebSocket) -> None:
        await websocket.accept()
        received.append(await websocket.receive())
        received.append(await websocket.receive())
        await websocket.close()

    with client_for(app, anyio_backend).websocket_connect("/") as session:
        session.send_json({"k": "é", "l": [1, 2]})
        session.send_json({"k": 1}, mode="binary")
        assert session.receive() == {"type": "websocket.close", "code": 1000, "reason": ""}
    assert received == [
        {"type": "websocket.receive", "text": '{"k":"é","l":[1,2]}'},
        {"type": "websocket.receive", "bytes": b'{"k":1}'},
    ]


def test_scope_of_a_websocket(anyio_backend: str) -> None:
    scopes: list[Scope] = []

    async def app(websocket: WebSocket) -> None:
        scopes.append(dict(websocket.scope))
        await websocket.accept(subprotocol="wamp", headers=[(b"x-extra", b"1")])
        await websocket.close()

    client = TestClient(as_app(app), backend=anyio_backend, root_path="/root")  # type: ignore[arg-type]
    with client.websocket_connect("/ws/a%20b?x=1", subprotocols=["wamp", "soap"], headers={"x-h": "v"}) as s:
        assert s.accepted_subprotocol == "wamp"
        assert s.extra_headers == [(b"x-extra", b"1")]
    scope = scopes[0]
    assert scope["type"] == "websocket"
    assert scope["path"] == "/ws/a b"
    assert scope["raw_path"] == b"/ws/a%20b"
    assert scope["root_path"] == "/root"
    assert scope["scheme"] == "ws"
    assert scope["query_string"] == b"x=1"
    assert scope["subprotocols"] == ["wamp", "soap"]
    assert scope["client"] == ("testclient", 50000)
    assert scope["server"] == ["testserver", 80]
    assert scope["extensions"] == {"websocket.http.response": {}}
    headers = dict(scope["headers"])
    assert headers[b"host"] == b"testserver"
    assert headers[b"connection"] == b"upgrade"
    assert headers[b"sec-websocket-key"] == b"testserver=="
    assert headers[b"sec-websocket-version"] == b"13"
    assert headers[b"sec-websocket-protocol"] == b"wamp, soap"
    assert headers[b"x-h"] == b"v"


def test_wss_scheme_and_absolute_url(anyio_backend: str) -> None:
    seen: list[tuple[str, Any]] = []

    async def app(websocket: WebSocket) -> None:
        seen.append((websocket.scope["scheme"], websocket.scope["server"]))
        await websocket.accept()
        await websocket.close()

    with client_for(app, anyio_backend).websocket_connect("wss://example.com/ws"):
        pass
    assert seen == [("wss", ["example.com", 443])]


def test_close_before_accept_raises_disconnect(anyio_backend: str) -> None:
    async def app(websocket: WebSocket) -> None:
        await websocket.close(code=4003, reason="private")

    with pytest.raises(WebSocketDisconnect) as info:
        with client_for(app, anyio_backend).websocket_connect("/"):
            pass  # pragma: no cover
    assert (info.value.code, info.value.reason) == (4003, "private")


def test_denial_response_is_raised(anyio_backend: str) -> None:
    async def app(websocket: WebSocket) -> None:
        await websocket.send_denial_response(PlainTextResponse("Forbidden area", status_code=403))

    with pytest.raises(WebSocketDenialResponse) as info:
        with client_for(app, anyio_backend).websocket_connect("/"):
            pass  # pragma: no cover
    assert info.value.status_code == 403
    assert info.value.text == "Forbidden area"
    assert info.value.headers["content-type"] == "text/plain; charset=utf-8"
    assert isinstance(info.value, WebSocketDisconnect)


def test_streamed_denial_body_is_collected(anyio_backend: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.http.response.start", "status": 401, "headers": [(b"x-a", b"1")]})
        await send({"type": "websocket.http.response.body", "body": b"un", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"authorized"})

    with pytest.raises(WebSocketDenialResponse) as info:
        with TestClient(app, backend=anyio_backend).websocket_connect("/"):  # type: ignore[arg-type]
            pass  # pragma: no cover
    assert info.value.status_code == 401
    assert info.value.content == b"unauthorized"
    assert info.value.headers["x-a"] == "1"


def test_app_returning_without_answer_does_not_hang(anyio_backend: str) -> None:
    async def app(websocket: WebSocket) -> None:
        return None

    with pytest.raises(WebSocketDenialResponse) as info:
        with client_for(app, anyio_backend).websocket_connect("/"):
            pass  # pragma: no cover
    assert info.value.status_code == 403


def test_app_returning_after_accept_closes_normally(anyio_backend: str) -> None:
    async def app(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("only")

    with client_for(app, anyio_backend).websocket_connect("/") as session:
        assert session.receive_text() == "only"
        with pytest.raises(WebSocketDisconnect) as info:
            session.receive_text()
        assert info.value.code == 1000
        with pytest.raises(WebSocketDisconnect):
            session.receive_bytes()  # stays closed, never blocks


def test_app_exception_is_raised_in_the_test(anyio_backend: str) -> None:
    async def app(websocket: WebSocket) -> None:
        await websocket.accept()
        raise ValueError("handler failed")

    with pytest.raises(ValueError, match="handler failed"):
        with client_for(app, anyio_backend).websocket_connect("/") as session:
            session.receive_text()

    async def early(websocket: WebSocket) -> None:
        raise ValueError("before accept")

    with pytest.raises(ValueError, match="before accept"):
        with client_for(early, anyio_backend).websocket_connect("/"):
            pass  # pragma: no cover


def test_client_close_code_reaches_app(anyio_backend: str) -> None:
    codes: list[tuple[int, str]] = []

    async def app(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await websocket.receive_text()
        except WebSocketDisconnect as exc:
            codes.append((exc.code, exc.reason))

    with client_for(app, anyio_backend).websocket_connect("/") as session:
        session.close(code=1001, reason="leaving")
    assert codes == [(1001, "leaving")]


def test_exit_disconnects_an_app_waiting_for_messages(anyio_backend: str) -> None:
    """An echo loop that lets WebSocketDisconnect escape re-raises it at exit, as in Starlette."""

    async def app(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            await websocket.send_text(await websocket.receive_text())

    with pytest.raises(WebSocketDisconnect) as info:  # noqa: PT012
        with client_for(app, anyio_backend).websocket_connect("/") as session:
            session.send_text("ping")
            assert session.receive_text() == "ping"
    assert info.value.code == 1000


def test_exit_cancels_a_blocked_app(anyio_backend: str) -> None:
    async def app(websocket: WebSocket) -> None:
        await websocket.accept()
        await anyio.sleep_forever()

    with client_for(app, anyio_backend).websocket_connect("/"):
        pass


def test_using_the_socket_wrongly_in_the_app_surfaces(anyio_backend: str) -> None:
    async def app(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.accept()

    with pytest.raises(RuntimeError, match='Expected ASGI message "websocket.send" or "websocket.close"'):
        with client_for(app, anyio_backend).websocket_connect("/") as session:
            session.receive()


# -- end to end through Lyre and WebSocketRoute -----------------------------------------------


def test_routed_websocket_with_path_params_and_mount(anyio_backend: str) -> None:
    async def room(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json(
            {"room": websocket.path_params["name"], "q": websocket.query_params.get("q")}
        )
        await websocket.close()

    app = Lyre(routes=[Mount("/chat", routes=[WebSocketRoute("/{name}", room)])])
    with TestClient(app, backend=anyio_backend) as client:  # type: ignore[arg-type]
        with client.websocket_connect("/chat/lobby?q=1") as session:
            assert session.receive_json() == {"room": "lobby", "q": "1"}


def test_no_route_closes_with_1000(anyio_backend: str) -> None:
    app = Lyre(routes=[])
    with pytest.raises(WebSocketDisconnect) as info:
        with TestClient(app, backend=anyio_backend).websocket_connect("/nope"):  # type: ignore[arg-type]
            pass  # pragma: no cover
    assert (info.value.code, info.value.reason) == (1000, "")


def test_websocket_exception_closes_with_its_code(anyio_backend: str) -> None:
    async def guarded(websocket: WebSocket) -> None:
        raise WebSocketException(code=1008, reason="policy")

    app = Lyre(routes=[WebSocketRoute("/ws", guarded)])
    with pytest.raises(WebSocketDisconnect) as info:
        with TestClient(app, backend=anyio_backend).websocket_connect("/ws"):  # type: ignore[arg-type]
            pass  # pragma: no cover
    assert (info.value.code, info.value.reason) == (1008, "policy")


def test_http_exception_during_handshake_is_a_denial(anyio_backend: str) -> None:
    async def guarded(websocket: WebSocket) -> None:
        raise HTTPException(status_code=403)

    app = Lyre(routes=[WebSocketRoute("/ws", guarded)])
    with pytest.raises(WebSocketDenialResponse) as info:
        with TestClient(app, backend=anyio_backend).websocket_connect("/ws"):  # type: ignore[arg-type]
            pass  # pragma: no cover
    assert info.value.status_code == 403
    assert info.value.text == "Forbidden"


def test_awaiting_a_response_before_accept_is_a_denial(anyio_backend: str) -> None:
    async def endpoint(websocket: WebSocket) -> None:
        response: Response = PlainTextResponse("go away", status_code=400)
        await response(websocket.scope, websocket.receive, websocket.send)

    app = Lyre(routes=[WebSocketRoute("/ws", endpoint)])
    with pytest.raises(WebSocketDenialResponse) as info:
        with TestClient(app, backend=anyio_backend).websocket_connect("/ws"):  # type: ignore[arg-type]
            pass  # pragma: no cover
    assert (info.value.status_code, info.value.text) == (400, "go away")


def test_cookies_and_state_reach_the_websocket(anyio_backend: str) -> None:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"cookies": websocket.cookies, "headers": websocket.headers.get("x-h")})
        await websocket.close()

    app = Lyre(routes=[WebSocketRoute("/ws", endpoint)])
    client = TestClient(app, backend=anyio_backend, cookies={"c": "1"})  # type: ignore[arg-type]
    with client.websocket_connect("/ws", headers={"x-h": "v"}) as session:
        assert session.receive_json() == {"cookies": {"c": "1"}, "headers": "v"}


def test_exit_stops_an_app_that_only_sends(anyio_backend: str) -> None:
    async def app(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            await websocket.send_text("spam")

    with client_for(app, anyio_backend).websocket_connect("/") as session:
        assert session.receive_text() == "spam"


def test_app_raising_websocket_disconnect_on_its_own_is_reported(anyio_backend: str) -> None:
    async def app(websocket: WebSocket) -> None:
        await websocket.accept()
        raise WebSocketDisconnect(code=1001, reason="app gave up")

    with pytest.raises(WebSocketDisconnect) as info:
        with client_for(app, anyio_backend).websocket_connect("/") as session:
            with pytest.raises(WebSocketDisconnect):
                session.receive_text()
    assert (info.value.code, info.value.reason) == (1001, "app gave up")


# -- more routing ends: Host, bare Router, url_for, middleware, handlers ----------------------


def test_websocket_through_host_and_bare_router(anyio_backend: str) -> None:
    from lyre.routing import Router

    async def hello(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(f"{websocket.path_params['sub']} {websocket.path_params['n']}")
        await websocket.close()

    inner = Router(routes=[WebSocketRoute("/ws/{n:int}", hello, name="hello")])
    router = Router(routes=[Host("{sub}.example.org", app=inner, name="site")])
    client = TestClient(router, backend=anyio_backend)  # type: ignore[arg-type]
    with client.websocket_connect("ws://api.example.org/ws/7") as session:
        assert session.receive_text() == "api 7"
    with pytest.raises(WebSocketDisconnect) as info:
        with client.websocket_connect("ws://other.host/ws/7"):
            pass  # pragma: no cover
    assert info.value.code == 1000


def test_websocket_url_for(anyio_backend: str) -> None:
    async def target(websocket: WebSocket) -> None:
        await websocket.accept()  # pragma: no cover

    async def where(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(str(websocket.url_for("target", room="blue")))
        await websocket.close()

    app = Lyre(
        routes=[WebSocketRoute("/rooms/{room}", target, name="target"), WebSocketRoute("/where", where)]
    )
    with TestClient(app, backend=anyio_backend).websocket_connect("/where") as session:  # type: ignore[arg-type]
        assert session.receive_text() == "ws://testserver/rooms/blue"


def test_pure_asgi_middleware_sees_websocket_messages(anyio_backend: str) -> None:
    from lyre.middleware import Middleware

    seen: list[str] = []

    class Spy:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            async def spy_send(message: Message) -> None:
                seen.append(message["type"])
                await send(message)

            await self.app(scope, receive, spy_send)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("x")
        await websocket.close()

    app = Lyre(routes=[WebSocketRoute("/ws", endpoint)], middleware=[Middleware(Spy)])
    with TestClient(app, backend=anyio_backend).websocket_connect("/ws") as session:  # type: ignore[arg-type]
        assert session.receive_text() == "x"
    assert seen == ["websocket.accept", "websocket.send", "websocket.close"]


def test_custom_handler_for_an_exception_in_a_websocket(anyio_backend: str) -> None:
    class Banned(Exception):
        pass

    async def on_banned(websocket: WebSocket, exc: Exception) -> None:
        await websocket.close(code=4403, reason="banned")

    async def endpoint(websocket: WebSocket) -> None:
        raise Banned()

    app = Lyre(routes=[WebSocketRoute("/ws", endpoint)], exception_handlers={Banned: on_banned})
    with pytest.raises(WebSocketDisconnect) as info:
        with TestClient(app, backend=anyio_backend).websocket_connect("/ws"):  # type: ignore[arg-type]
            pass  # pragma: no cover
    assert (info.value.code, info.value.reason) == (4403, "banned")


def test_unhandled_error_in_routed_endpoint_reaches_the_test(anyio_backend: str) -> None:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()
        raise RuntimeError("endpoint crashed")

    app = Lyre(routes=[WebSocketRoute("/ws", endpoint)])
    with pytest.raises(RuntimeError, match="endpoint crashed"):
        with TestClient(app, backend=anyio_backend).websocket_connect("/ws") as session:  # type: ignore[arg-type]
            session.send_text("go")
            with pytest.raises((RuntimeError, WebSocketDisconnect)):
                session.receive_text()


def test_lifespan_state_reaches_websocket(anyio_backend: str) -> None:
    import contextlib
    from collections.abc import AsyncIterator

    @contextlib.asynccontextmanager
    async def lifespan(app: Lyre) -> AsyncIterator[dict[str, str]]:
        yield {"greeting": "hello"}

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.state.greeting)
        await websocket.close()

    app = Lyre(routes=[WebSocketRoute("/ws", endpoint)], lifespan=lifespan)
    with TestClient(app, backend=anyio_backend) as client:  # type: ignore[arg-type]
        with client.websocket_connect("/ws") as session:
            assert session.receive_text() == "hello"


@pytest.mark.anyio
async def test_subclass_overriding_receive_and_send_is_used_by_helpers() -> None:
    log: list[str] = []

    class Logged(WebSocket):
        async def receive(self) -> Message:
            message = await super().receive()
            log.append("in:" + message["type"])
            return message

        async def send(self, message: Message) -> None:
            log.append("out:" + message["type"])
            await super().send(message)

    peer = Peer(
        CONNECT, {"type": "websocket.receive", "text": "x"}, {"type": "websocket.disconnect", "code": 1001}
    )
    websocket = Logged(ws_scope(), peer.receive, peer.send)
    await websocket.accept()
    assert await websocket.receive_text() == "x"
    await websocket.send_text("y")
    with pytest.raises(WebSocketDisconnect):
        await websocket.receive_bytes()
    assert log == [
        "in:websocket.connect",
        "out:websocket.accept",
        "in:websocket.receive",
        "out:websocket.send",
        "in:websocket.disconnect",
    ]
