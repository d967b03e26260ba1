"""``WSGIMiddleware``: run a WSGI app inside an ASGI app (deprecated; use ``a2wsgi``).

The WSGI app runs in a worker thread; its output is handed to the event loop through a memory
stream without a buffer, so a large or endless WSGI response is streamed with back-pressure instead
of being collected in memory (lyre decision). The iterable's ``close()`` is called, as PEP 3333
requires.
"""

from __future__ import annotations

import io
import math as math
import sys
import warnings
from collections.abc import Callable, MutableMapping
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
from anyio.abc import ObjectReceiveStream as ObjectReceiveStream  # ``X as X``: names Starlette's module has
from anyio.abc import ObjectSendStream as ObjectSendStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from lyre._utils import create_collapsing_task_group
from lyre.exceptions import StarletteDeprecationWarning
from lyre.types import Receive, Scope, Send

__all__ = ["StarletteDeprecationWarning", "WSGIMiddleware", "WSGIResponder", "build_environ"]

warnings.warn(
    "starlette.middleware.wsgi is deprecated and will be removed in a future release. "
    "Please refer to https://github.com/abersheeran/a2wsgi as a replacement.",
    StarletteDeprecationWarning,
    stacklevel=2,
)


def build_environ(scope: Scope, body: bytes) -> dict[str, Any]:
    """The PEP 3333 environ for an HTTP scope and its (already read) body."""
    script_name = scope.get("root_path", "").encode("utf8").decode("latin1")
    path_info = scope["path"].encode("utf8").decode("latin1")
    # The root path is removed only at a segment boundary: "/app" leaves "/application" alone. A
    # root path that ends with "/" is itself a boundary ("/app/" + "users" -> PATH_INFO "users").
    if (
        script_name
        and path_info.startswith(script_name)
        and (
            len(path_info) == len(script_name)
            or script_name.endswith("/")
            or path_info[len(script_name)] == "/"
        )
    ):
        path_info = path_info[len(script_name) :]

    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": scope["query_string"].decode("ascii"),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stdout,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }

    server = scope.get("server") or ("localhost", 80)
    environ["SERVER_NAME"] = server[0]
    environ["SERVER_PORT"] = server[1]

    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = client[0]

    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin1")
        if name == "content-length":
            key = "CONTENT_LENGTH"
        elif name == "content-type":
            key = "CONTENT_TYPE"
        else:
            key = "HTTP_" + name.upper().replace("-", "_")
        value = raw_value.decode("latin1")
        if key in environ:
            value = environ[key] + "," + value
        environ[key] = value
    return environ


# What travels from the WSGI thread to the event loop: ASGI response messages.
_Message = MutableMapping[str, Any]


class WSGIMiddleware:
    """An ASGI app serving ``http`` requests with a WSGI callable."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        await WSGIResponder(self.app, scope)(receive, send)


class WSGIResponder:
    """One request: read the body, run the WSGI app in a thread, stream its output."""

    stream_send: MemoryObjectSendStream[_Message]
    stream_receive: MemoryObjectReceiveStream[_Message]

    def __init__(self, app: Callable[..., Any], scope: Scope) -> None:
        self.app, self.scope = app, scope
        # No buffer: the WSGI thread blocks until the event loop has taken each message (back-pressure).
        self.stream_send, self.stream_receive = anyio.create_memory_object_stream(0)
        self.response_started = False
        self.status: str | None = None
        self.response_headers: list[tuple[str, str]] | None = None
        self.exc_info: Any = None

    async def __call__(self, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []
        more_body = True
        while more_body:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before the body was complete
            chunks.append(message.get("body", b""))
            more_body = message.get("more_body", False)
        environ = build_environ(self.scope, b"".join(chunks))

        async with create_collapsing_task_group() as task_group:
            task_group.start_soon(self.sender, send)
            # Closing the send side when the WSGI app is done ends ``sender``'s loop.
            async with self.stream_send:
                await anyio.to_thread.run_sync(self.wsgi, environ, self.start_response)
        if self.exc_info is None:
            return
        # Re-raised as Starlette does it: ``BaseException.with_traceback`` through the class.
        exc_type, exc_value, traceback = self.exc_info
        raise exc_type.with_traceback(exc_value, traceback)

    async def sender(self, send: Send) -> None:
        async with self.stream_receive as messages:
            async for message in messages:
                await send(message)

    def start_response(
        self, status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
    ) -> None:
        self.exc_info = exc_info
        if self.response_started:
            return
        self.response_started = True
        code, _reason = status.split(" ", 1)
        start = {
            "type": "http.response.start",
            "status": int(code),
            "headers": [
                (name.strip().encode("latin1").lower(), value.strip().encode("latin1"))
                for name, value in response_headers
            ],
        }
        anyio.from_thread.run(self.stream_send.send, start)

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> None:
        iterable = self.app(environ, start_response)
        try:
            for chunk in iterable:
                anyio.from_thread.run(
                    self.stream_send.send,
                    {"type": "http.response.body", "body": chunk, "more_body": True},
                )
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
        anyio.from_thread.run(self.stream_send.send, {"type": "http.response.body", "body": b""})
