"""Authentication primitives and the ``requires`` endpoint decorator.

``AuthenticationMiddleware`` (``lyre.middleware.authentication``) calls an ``AuthenticationBackend``
once per connection and stores ``scope["auth"]`` (an ``AuthCredentials``) and ``scope["user"]``
(a ``BaseUser``); ``requires`` checks the credentials' scopes before an endpoint runs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec
from urllib.parse import urlencode

from lyre._utils import is_async_callable
from lyre.exceptions import HTTPException
from lyre.requests import HTTPConnection, Request
from lyre.responses import RedirectResponse
from lyre.websockets import WebSocket

__all__ = [
    "AuthCredentials",
    "AuthenticationBackend",
    "AuthenticationError",
    "BaseUser",
    "HTTPConnection",
    "HTTPException",
    "RedirectResponse",
    "Request",
    "SimpleUser",
    "UnauthenticatedUser",
    "WebSocket",
    "has_required_scope",
    "is_async_callable",
    "requires",
]

_P = ParamSpec("_P")


def has_required_scope(conn: HTTPConnection, scopes: Sequence[str]) -> bool:
    """True iff every one of ``scopes`` is granted to the connection."""
    granted = conn.auth.scopes
    return all(scope in granted for scope in scopes)


def _find_argument(name: str, index: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[index] if index < len(args) else None


def requires(
    scopes: str | Sequence[str],
    status_code: int = 403,
    redirect: str | None = None,
) -> Callable[[Callable[_P, Any]], Callable[_P, Any]]:
    """Require all ``scopes`` for an endpoint: otherwise redirect (route name), 403, or close."""
    scopes_list = [scopes] if isinstance(scopes, str) else list(scopes)

    def decorator(func: Callable[_P, Any]) -> Callable[_P, Any]:
        sig = inspect.signature(func)
        names = list(sig.parameters)
        found = [i for i, name in enumerate(names) if name == "request" or name == "websocket"]
        if not found:
            raise Exception(f'No "request" or "websocket" argument on function "{func}"')
        idx = found[0]
        kind = names[idx]

        if kind == "websocket":

            @functools.wraps(func)
            async def websocket_wrapper(*args: _P.args, **kwargs: _P.kwargs) -> None:
                websocket = _find_argument("websocket", idx, args, kwargs)
                assert isinstance(websocket, WebSocket), (
                    f"Parameter with name 'websocket' is required to be of type 'WebSocket' "
                    f"not '{type(websocket).__name__}'"
                )
                if not has_required_scope(websocket, scopes_list):
                    await websocket.close()
                else:
                    await func(*args, **kwargs)

            return websocket_wrapper

        def check(request: Any) -> RedirectResponse | None:
            assert isinstance(request, Request), (
                f"Parameter with name 'request' is required to be of type 'Request' not '{type(request).__name__}'"
            )
            if has_required_scope(request, scopes_list):
                return None
            if redirect is not None:
                next_url = urlencode({"next": str(request.url)})
                return RedirectResponse(url=f"{request.url_for(redirect)}?{next_url}", status_code=303)
            raise HTTPException(status_code=status_code)

        if is_async_callable(func):

            @functools.wraps(func)
            async def async_wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Any:
                denied = check(_find_argument("request", idx, args, kwargs))
                if denied is not None:
                    return denied
                return await func(*args, **kwargs)

            return async_wrapper

        @functools.wraps(func)
        def sync_wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Any:
            denied = check(_find_argument("request", idx, args, kwargs))
            if denied is not None:
                return denied
            return func(*args, **kwargs)

        return sync_wrapper

    return decorator


class BaseUser:
    """What ``request.user`` must provide; subclasses implement all three properties."""

    @property
    def is_authenticated(self) -> bool:
        raise NotImplementedError  # pragma: no cover

    @property
    def display_name(self) -> str:
        raise NotImplementedError  # pragma: no cover

    @property
    def identity(self) -> str:
        raise NotImplementedError  # pragma: no cover


class UnauthenticatedUser(BaseUser):
    """The anonymous user: not authenticated, empty name and identity."""

    @property
    def identity(self) -> str:
        return ""

    @property
    def display_name(self) -> str:
        return ""

    @property
    def is_authenticated(self) -> bool:
        return False


class SimpleUser(BaseUser):
    """An authenticated user known by name (used as both display name and identity)."""

    def __init__(self, username: str) -> None:
        self.username = username

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def identity(self) -> str:
        return self.username

    @property
    def display_name(self) -> str:
        return self.username


class AuthCredentials:
    """The scopes granted to a connection (``request.auth.scopes``)."""

    def __init__(self, scopes: Sequence[str] | None = None):
        self.scopes = list(scopes or ())


class AuthenticationError(Exception):
    """Raised by a backend for bad credentials; the middleware answers with ``on_error``."""


class AuthenticationBackend:
    """Subclass and implement ``authenticate``: ``(AuthCredentials, BaseUser)`` or ``None``."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        raise NotImplementedError  # pragma: no cover
