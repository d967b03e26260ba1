"""Every name the spec lists for my modules is importable from the same module path."""

from __future__ import annotations

import importlib

import pytest

SURFACE = {
    "lyre.testclient": [
        "TestClient",
        "WebSocketTestSession",
        "WebSocketDenialResponse",
        "ASGIInstance",
        "ASGI2App",
        "ASGI3App",
        "ASGIApp",
        "Message",
        "Receive",
        "Scope",
        "Send",
        "StarletteDeprecationWarning",
        "WebSocketDisconnect",
        "is_async_callable",
    ],
    "lyre.websockets": [
        "WebSocket",
        "WebSocketState",
        "WebSocketDisconnect",
        "WebSocketDisconnected",
        "WebSocketClose",
        "HTTPConnection",
        "Message",
        "Receive",
        "Response",
        "Scope",
        "Send",
        "StateT",
    ],
    "lyre.endpoints": [
        "HTTPEndpoint",
        "WebSocketEndpoint",
        "HTTPException",
        "Message",
        "PlainTextResponse",
        "Receive",
        "Request",
        "Response",
        "Scope",
        "Send",
        "WebSocket",
        "is_async_callable",
        "run_in_threadpool",
        "status",
    ],
    "lyre.config": ["Config", "Environ", "EnvironError", "environ", "undefined", "T"],
    "lyre.schemas": [
        "OpenAPIResponse",
        "EndpointInfo",
        "BaseSchemaGenerator",
        "SchemaGenerator",
        "BaseRoute",
        "Host",
        "Mount",
        "Request",
        "Response",
        "Route",
    ],
}


@pytest.mark.parametrize("module", sorted(SURFACE))
def test_names_importable(module: str) -> None:
    mod = importlib.import_module(module)
    missing = [name for name in SURFACE[module] if not hasattr(mod, name)]
    assert missing == []


def test_same_objects_as_their_home_modules() -> None:
    import lyre.requests
    import lyre.responses
    import lyre.testclient
    import lyre.websockets

    assert lyre.testclient.WebSocketDisconnect is lyre.websockets.WebSocketDisconnect  # type: ignore[attr-defined]
    assert lyre.websockets.HTTPConnection is lyre.requests.HTTPConnection
    assert lyre.websockets.Response is lyre.responses.Response
    assert issubclass(lyre.websockets.WebSocket, lyre.requests.HTTPConnection)


def test_testclient_attributes() -> None:
    from lyre.responses import PlainTextResponse
    from lyre.testclient import TestClient

    client = TestClient(
        PlainTextResponse("x"),
        backend="trio",
        backend_options={"restrict_keyboard_interrupt_to_checkpoints": True},
    )
    assert client.async_backend == {
        "backend": "trio",
        "backend_options": {"restrict_keyboard_interrupt_to_checkpoints": True},
    }
    assert client.portal is None
    assert client.app_state == {}
    assert client.get("/").text == "x"
