"""ASGI type aliases shared by lyre and the libraries built on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

if TYPE_CHECKING:
    from lyre.requests import Request
    from lyre.responses import Response
    from lyre.websockets import WebSocket

AppType = TypeVar("AppType")

# The ASGI 3 interface: connection scope and messages are plain mutable mappings.
Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]

# ``lifespan=`` callables: given the app, they return an async context manager that may yield state.
StatelessLifespan = Callable[[AppType], AbstractAsyncContextManager[None]]
StatefulLifespan = Callable[[AppType], AbstractAsyncContextManager[Mapping[str, Any]]]
Lifespan = StatelessLifespan[AppType] | StatefulLifespan[AppType]

# Exception handlers registered on an application.
HTTPExceptionHandler: TypeAlias = Callable[["Request", Exception], "Response | Awaitable[Response]"]
WebSocketExceptionHandler: TypeAlias = Callable[["WebSocket", Exception], Awaitable[None]]
ExceptionHandler: TypeAlias = HTTPExceptionHandler | WebSocketExceptionHandler
