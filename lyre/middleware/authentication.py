"""``AuthenticationMiddleware``: run an ``AuthenticationBackend`` for every HTTP/WebSocket connection."""

from __future__ import annotations

from collections.abc import Callable

from lyre.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    UnauthenticatedUser,
)
from lyre.requests import HTTPConnection
from lyre.responses import PlainTextResponse, Response
from lyre.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "AuthCredentials",
    "AuthenticationBackend",
    "AuthenticationError",
    "AuthenticationMiddleware",
    "HTTPConnection",
    "UnauthenticatedUser",
]

# What ``on_error`` receives and must return.
_OnError = Callable[[HTTPConnection, AuthenticationError], Response]


class AuthenticationMiddleware:
    """Set ``scope["auth"]``/``scope["user"]``; an ``AuthenticationError`` answers with ``on_error``."""

    def __init__(
        self,
        app: ASGIApp,
        backend: AuthenticationBackend,
        on_error: _OnError | None = None,
    ) -> None:
        if on_error is None:
            on_error = self.default_on_error  # type: ignore[assignment]
        self.on_error: Callable[[HTTPConnection, Exception], Response] = on_error  # type: ignore[assignment]
        self.app, self.backend = app, backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        if scope_type != "http" and scope_type != "websocket":
            await self.app(scope, receive, send)
            return

        conn = HTTPConnection(scope)
        try:
            auth_result = await self.backend.authenticate(conn)
        except AuthenticationError as exc:
            response = self.on_error(conn, exc)
            if scope_type == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            else:
                await response(scope, receive, send)
            return

        if auth_result is None:
            scope["auth"] = AuthCredentials()
            scope["user"] = UnauthenticatedUser()
        else:
            scope["auth"], scope["user"] = auth_result
        await self.app(scope, receive, send)

    @staticmethod
    def default_on_error(conn: HTTPConnection, exc: Exception) -> Response:
        return PlainTextResponse(str(exc), status_code=400)
