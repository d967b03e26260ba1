"""Routing: matching requests to endpoints, mounting sub-apps, reverse URLs and the lifespan protocol.

Matching keeps Starlette's semantics exactly — routes are tried in declaration order, the first
``FULL`` match wins, the first ``PARTIAL`` match (right path, wrong method) answers 405 when nothing
matches fully — but a ``Router`` never scans its whole route list per request. At first use it
compiles the list into an index (``_RouteIndex``): fully literal paths go into a dict, parametrised
paths and mounts into a trie of their literal leading segments. A request walks the trie once and
gets back, in declaration order, only the routes that could possibly match; each of those is still
asked with its own ``matches()``, so subclasses keep working. The public ``router.routes`` list is
a ``_RouteList`` that counts its mutations: appending a route (as FastAPI does) makes the next
request rebuild the index.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import inspect
import re
import traceback
import warnings
from collections.abc import Awaitable, Callable, Collection, Generator, Iterable, Sequence
from re import Pattern
from typing import Any, Literal, SupportsIndex, TypeVar

from lyre._exception_handler import (
    ResponseTracker,
    ends_quietly,
    handle_exception,
    tracked,
    tracker_for,
    wrap_app_handling_exceptions,
)
from lyre._same_task import _PLAIN_RESPONSES, is_plain_response, leave_dispatch_task
from lyre._utils import get_route_path, is_async_callable, parse_host_header
from lyre.concurrency import run_in_threadpool
from lyre.convertors import CONVERTOR_TYPES, Convertor
from lyre.datastructures import URL, Headers, URLPath
from lyre.exceptions import HTTPException, StarletteDeprecationWarning, _warn_deprecated
from lyre.middleware import Middleware
from lyre.middleware.body_limit import STARTED_SCOPE_KEY, RequestBodyLimitMiddleware
from lyre.requests import ClientDisconnect, Request
from lyre.responses import PlainTextResponse, RedirectResponse, Response
from lyre.types import ASGIApp, Lifespan, Receive, Scope, Send
from lyre.websockets import WebSocket, WebSocketClose, WebSocketState

__all__ = [
    "CONVERTOR_TYPES",
    "PARAM_FORMAT_REGEX",
    "PARAM_REGEX",
    "URL",
    "ASGIApp",
    "BaseRoute",
    "Convertor",
    "HTTPException",
    "Headers",
    "Host",
    "Lifespan",
    "Match",
    "Middleware",
    "Mount",
    "NoMatchFound",
    "PlainTextResponse",
    "Receive",
    "RedirectResponse",
    "Request",
    "RequestBodyLimitMiddleware",
    "Response",
    "Route",
    "Router",
    "Scope",
    "Send",
    "StarletteDeprecationWarning",
    "URLPath",
    "WebSocket",
    "WebSocketClose",
    "WebSocketRoute",
    "compile_path",
    "get_name",
    "get_route_path",
    "is_async_callable",
    "parse_host_header",
    "replace_params",
    "request_response",
    "run_in_threadpool",
    "websocket_session",
    "wrap_app_handling_exceptions",
]

PARAM_REGEX = re.compile("{([a-zA-Z_][a-zA-Z0-9_]*)(:[a-zA-Z_][a-zA-Z0-9_]*)?}")
PARAM_FORMAT_REGEX = re.compile("{([a-zA-Z_][a-zA-Z0-9_]*)}")

_T = TypeVar("_T")


class NoMatchFound(Exception):
    """``url_path_for`` found no route with that name and exactly those parameters."""

    def __init__(self, name: str, path_params: dict[str, Any]) -> None:
        keys = ", ".join(path_params)
        super().__init__(f'No route exists for name "{name}" and params "{keys}".')


class Match(enum.Enum):
    NONE = 0
    PARTIAL = 1
    FULL = 2


def get_name(endpoint: Callable[..., Any]) -> str:
    """The endpoint's ``__name__``, or its class name for objects without one."""
    name = getattr(endpoint, "__name__", None)
    if name is None:
        name = type(endpoint).__name__
    return str(name)


def replace_params(
    path: str, param_convertors: dict[str, Convertor[Any]], path_params: dict[str, str]
) -> tuple[str, dict[str, str]]:
    """Fill ``{name}`` placeholders from ``path_params`` in one pass; return the unused params."""
    consumed: list[str] = []

    def fill(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in path_params:
            return m.group(0)
        consumed.append(key)
        convertor = param_convertors.get(key)
        value = path_params[key]
        return convertor.to_string(value) if convertor is not None else str(value)

    filled = PARAM_FORMAT_REGEX.sub(fill, path)
    for key in consumed:
        path_params.pop(key, None)
    return filled, path_params


def compile_path(path: str) -> tuple[Pattern[str], str, dict[str, Convertor[Any]]]:
    """Turn a route template into ``(anchored regex, format string, {name: convertor})``.

    Templates not starting with ``/`` are host templates: case-insensitive, port ignored.
    """
    is_host = not path.startswith("/")
    pattern: list[str] = ["^"]
    fmt: list[str] = []
    convertors: dict[str, Convertor[Any]] = {}
    seen_twice: set[str] = set()
    pos = 0
    for m in PARAM_REGEX.finditer(path):
        name, kind = m.group(1), (m.group(2) or ":str")[1:]
        assert kind in CONVERTOR_TYPES, f"Unknown path convertor '{kind}'"
        convertor = CONVERTOR_TYPES[kind]
        literal = path[pos : m.start()]
        pattern.append(re.escape(literal))
        pattern.append(f"(?P<{name}>{convertor.regex})")
        fmt.append(literal)
        fmt.append("{" + name + "}")
        if name in convertors:
            seen_twice.add(name)
        convertors[name] = convertor
        pos = m.end()
    if seen_twice:
        names = ", ".join(sorted(seen_twice))
        plural = "s" if len(seen_twice) > 1 else ""
        raise ValueError(f"Duplicated param name{plural} {names} at path {path}")
    tail = path[pos:]
    fmt.append(tail)
    if is_host:
        head, colon, _port = tail.rpartition(":")
        if colon and not tail.endswith("]"):
            tail = head  # the port part, whatever it says, is not matched (as in Starlette)
    pattern.append(re.escape(tail))
    pattern.append("$")
    flags = re.IGNORECASE if is_host else 0
    return re.compile("".join(pattern), flags), "".join(fmt), convertors


def _convert_params(match: re.Match[str], convertors: dict[str, Convertor[Any]]) -> dict[str, Any]:
    params: dict[str, Any] = match.groupdict()
    for key, value in params.items():
        params[key] = convertors[key].convert(value)
    return params


def _merge_params(scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
    outer = scope.get("path_params")
    if not outer:
        return params
    merged = dict(outer)
    merged.update(params)
    return merged


def request_response(func: Callable[[Request], Awaitable[Response] | Response]) -> ASGIApp:
    """Wrap ``func(request) -> response`` as an ASGI app; sync functions run in the thread pool.

    PERF (plaintext, json, path, routes50...): sync-or-async decided once; exceptions answered in this
    frame (no per-request closure + wrapper); measured: 2.74 µs vs 4.15 µs per plaintext call (1.5x).

    lyre: a ``ClientDisconnect`` no exception handler takes (the client hung up while the endpoint
    read its body) ends the request quietly: there is nobody to answer, and it is no server error.
    """
    call: Callable[[Request], Awaitable[Response]]
    if is_async_callable(func):
        call = func  # type: ignore[assignment]
    else:
        call = functools.partial(run_in_threadpool, func)  # type: ignore[arg-type, call-arg, assignment]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        tracker: ResponseTracker | None = None
        handed_send = False
        try:
            response = await call(request)
            if response.__class__ in _PLAIN_RESPONSES or is_plain_response(response.__class__):
                # PERF (plaintext, json, path): a plain response sends start then one body, so no
                # tracking wrapper; measured: 2.76 µs vs 3.75 µs per plaintext call (1.36x).
                # An exception from here on may follow the start.
                handed_send = True
                await response(scope, receive, send)
            else:
                # It may send from other tasks: under a BaseHTTPMiddleware's same-task tier, the
                # app continues in a task of its own from here (nothing was sent yet).
                await leave_dispatch_task()
                tracker, tracked_send = tracked(send)
                await response(scope, receive, tracked_send)
        except Exception as exc:
            if tracker is None:
                tracker = tracker_for(send)
                tracker.started = tracker.started or handed_send
            try:
                await handle_exception(exc, request, scope, receive, tracker)
            except Exception as unhandled:
                if unhandled is exc and isinstance(exc, ClientDisconnect) and ends_quietly(exc):
                    return
                scope[STARTED_SCOPE_KEY] = tracker.started
                raise

    return app


def websocket_session(func: Callable[[WebSocket], Awaitable[None]]) -> ASGIApp:
    """Wrap ``func(websocket)`` as an ASGI app with the application's exception handlers."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        session = WebSocket(scope, receive=receive, send=send)
        try:
            await func(session)
        except Exception as exc:
            try:
                await handle_exception(exc, session, scope, receive, tracker_for(send))
            except Exception:
                # Unhandled: tell the client (1011) instead of leaving it to see an abnormal
                # close; the exception still propagates so that the server logs it.
                if session.application_state is WebSocketState.CONNECTED and (
                    session.client_state is WebSocketState.CONNECTED
                ):
                    with contextlib.suppress(Exception):
                        await session.close(code=1011)
                raise

    return app


def _wrap_app(app: ASGIApp, middleware: Sequence[Middleware] | None, max_body_size: int | None) -> ASGIApp:
    """Apply ``middleware`` (first = outermost) and then the body limit, outside everything."""
    if middleware is not None:
        for cls, args, kwargs in reversed(middleware):
            app = cls(app, *args, **kwargs)
    if max_body_size is not None:
        app = RequestBodyLimitMiddleware(app, max_body_size=max_body_size)
    return app


def _is_plain_function(endpoint: Any) -> bool:
    target = endpoint
    while isinstance(target, functools.partial):
        target = target.func
    return inspect.isfunction(target) or inspect.ismethod(target)


class BaseRoute:
    """The interface every route implements; a route alone is also a usable ASGI app.

    Used standalone, a route that does not match answers as a router would: 404 over HTTP, a
    close over WebSocket.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        outcome, child_scope = self.matches(scope)
        if outcome is not Match.NONE:
            scope.update(child_scope)
            await self.handle(scope, receive, send)
        elif scope["type"] == "http":
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
        elif scope["type"] == "websocket":
            await WebSocketClose()(scope, receive, send)

    # The three hooks subclasses provide: serve a matched scope, match one, build a URL.

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError()  # pragma: no cover

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        raise NotImplementedError()  # pragma: no cover

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NotImplementedError()  # pragma: no cover


class _EndpointRoute(BaseRoute):
    """What ``Route`` and ``WebSocketRoute`` share: a path template, an endpoint, a name and the
    reverse lookup (which differs only in the URL's protocol)."""

    _protocol: Literal["http", "websocket"]

    path: str
    endpoint: Callable[..., Any]
    name: str
    path_regex: Pattern[str]
    path_format: str
    param_convertors: dict[str, Convertor[Any]]

    def _set_template(self, path: str, endpoint: Any, name: str | None) -> None:
        assert path[:1] == "/", "Routed paths must start with '/'"
        self.path_regex, self.path_format, self.param_convertors = compile_path(path)
        self.path = path
        self.endpoint = endpoint
        self.name = name if name is not None else get_name(endpoint)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        if name != self.name or set(path_params) != set(self.param_convertors):
            raise NoMatchFound(name, path_params)
        path, remaining = replace_params(self.path_format, self.param_convertors, path_params)
        assert not remaining
        return URLPath(path=path, protocol=self._protocol)


class Route(_EndpointRoute):
    """An HTTP route: a path template, an endpoint and the methods it answers.

    Subclasses that do not call ``__init__`` (FastAPI's ``APIRoute``) must keep working from the
    documented attributes alone, hence the class-level defaults of the private ones.
    """

    _protocol = "http"

    _static_path: str | None = None
    _inline_app: ASGIApp | None = None
    _allow: str | None = None

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Iterable[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
        middleware: Sequence[Middleware] | None = None,
        max_body_size: int | None = None,
    ) -> None:
        self._set_template(path, endpoint, name)
        self.include_in_schema = include_in_schema
        # PERF (plaintext, json): a fully literal path is compared as a string, no regex;
        # measured: 0.50 µs vs 0.94 µs per matching call (1.9x).
        self._static_path = None if self.param_convertors else path

        if _is_plain_function(endpoint):
            app: ASGIApp = request_response(endpoint)
            if methods is None:
                methods = ["GET"]
        else:
            app = endpoint
        self.app = _wrap_app(app, middleware, max_body_size)
        # The adapter this route built, while ``self.app`` is still exactly it: lyre's fused
        # dispatch then calls it directly, its method check already done by the selection.
        self._inline_app = self.app if self.app is app and app is not endpoint else None

        if methods is None:
            self.methods: set[str] | None = None
        else:
            ordered = list(dict.fromkeys(m.upper() for m in methods))
            if "GET" in ordered and "HEAD" not in ordered:
                ordered.insert(ordered.index("GET") + 1, "HEAD")
            self.methods = set(ordered)
            # Stable Allow header (Starlette's comes from a set and has no defined order).
            self._allow = ", ".join(ordered)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        # PERF (FastAPI's routes50: its router asks every route in turn): without a root path the
        # route path is the path, no ``get_route_path`` call; measured (callgrind): 4.4k vs 4.9k
        # instructions per missed route.
        return self._match_http(scope, get_route_path(scope) if scope.get("root_path") else scope["path"])

    def _match_http(self, scope: Scope, route_path: str) -> tuple[Match, Scope]:
        """``matches`` for an ``http`` scope whose route path is already known (the router's)."""
        static = self._static_path
        if static is not None:
            if route_path != static:
                return Match.NONE, {}
            params: dict[str, Any] = {}
        else:
            m = self.path_regex.match(route_path)
            if m is None:
                return Match.NONE, {}
            params = _convert_params(m, self.param_convertors)
        # PERF (every routed cell): ``_merge_params`` only when a mount passed parameters down
        # (measured with ``Router.select``'s root-path shortcut).
        if "path_params" in scope:
            params = _merge_params(scope, params)
        child_scope = {"endpoint": self.endpoint, "path_params": params}
        methods = self.methods
        if methods and scope["method"] not in methods:
            return Match.PARTIAL, child_scope
        return Match.FULL, child_scope

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        allowed = self.methods
        if not allowed or scope["method"] in allowed:
            await self.app(scope, receive, send)
            return
        # Wrong method: 405 with an Allow header (raised inside an application, for its handlers).
        allow_header = {"Allow": self._allow if self._allow is not None else ", ".join(sorted(allowed))}
        if "app" in scope:
            raise HTTPException(status_code=405, headers=allow_header)
        await PlainTextResponse("Method Not Allowed", status_code=405, headers=allow_header)(
            scope, receive, send
        )

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Route):
            return False
        return (self.path, self.endpoint, self.methods) == (other.path, other.endpoint, other.methods)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        methods = sorted(self.methods or [])
        return f"{type(self).__name__}(path={self.path!r}, name={self.name!r}, methods={methods!r})"


class WebSocketRoute(_EndpointRoute):
    """A WebSocket route: a path template and a session function or ASGI endpoint."""

    _protocol = "websocket"

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        name: str | None = None,
        middleware: Sequence[Middleware] | None = None,
    ) -> None:
        self._set_template(path, endpoint, name)
        app: ASGIApp = websocket_session(endpoint) if _is_plain_function(endpoint) else endpoint
        self.app = _wrap_app(app, middleware, None)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "websocket":
            return Match.NONE, {}
        m = self.path_regex.match(get_route_path(scope))
        if m is None:
            return Match.NONE, {}
        params = _convert_params(m, self.param_convertors)
        return Match.FULL, {"endpoint": self.endpoint, "path_params": _merge_params(scope, params)}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, WebSocketRoute) and self.path == other.path and self.endpoint == other.endpoint
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={self.path!r}, name={self.name!r})"


def _child_url_path(routes: Iterable[BaseRoute], child_name: str, params: dict[str, Any]) -> URLPath | None:
    for route in routes:
        try:
            return route.url_path_for(child_name, **params)
        except NoMatchFound:
            continue
    return None


class _PrefixedRoute(BaseRoute):
    """What ``Mount`` and ``Host`` share: they hand matched requests to ``self.app`` and resolve
    ``"<name>:<child>"`` reverse lookups through the routes of the app they wrap."""

    app: ASGIApp
    name: str | None

    def _child_name(self, name: str) -> str:
        return name if self.name is None else name[len(self.name) + 1 :]

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    __hash__ = None  # type: ignore[assignment]


class Mount(_PrefixedRoute):
    """Serves a sub-application (or a list of routes) under a path prefix."""

    _base_app: ASGIApp  # the app or router as given, before ``middleware`` wraps it

    def __init__(
        self,
        path: str,
        app: ASGIApp | None = None,
        routes: Sequence[BaseRoute] | None = None,
        name: str | None = None,
        *,
        middleware: Sequence[Middleware] | None = None,
        max_body_size: int | None = None,
    ) -> None:
        assert path[:1] in ("", "/"), "Routed paths must start with '/'"
        if app is None:
            assert routes is not None, "Either 'app=...', or 'routes=' must be specified"
            app = Router(routes=routes)
        self.name = name
        self.path = path.rstrip("/")
        # The remainder of the path is matched as a ``path`` parameter after the prefix.
        self.path_regex, self.path_format, self.param_convertors = compile_path(f"{self.path}/{{path:path}}")
        self._base_app = app
        self.app = _wrap_app(app, middleware, max_body_size)

    @property
    def routes(self) -> list[BaseRoute]:
        return _routes_of(self._base_app)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] not in ("http", "websocket"):
            return Match.NONE, {}
        route_path = get_route_path(scope)
        m = self.path_regex.match(route_path)
        if m is None:
            return Match.NONE, {}
        params = _convert_params(m, self.param_convertors)
        rest = params.pop("path")
        # The matched prefix is everything before "/" + rest.
        prefix = route_path[: len(route_path) - len(rest) - 1]
        root_path = scope.get("root_path", "")
        child_scope = {
            "path_params": _merge_params(scope, params),
            "app_root_path": scope.get("app_root_path", root_path),
            "root_path": root_path + prefix,
            "endpoint": self.app,
        }
        return Match.FULL, child_scope

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        if self.name is not None and name == self.name and "path" in path_params:
            path_params["path"] = str(path_params["path"]).lstrip("/")
            path, remaining = replace_params(self.path_format, self.param_convertors, path_params)
            if not remaining:
                return URLPath(path=path)
        elif self.name is None or name.startswith(self.name + ":"):
            child_name = self._child_name(name)
            given_path = path_params.get("path")
            path_params["path"] = ""
            prefix, remaining = replace_params(self.path_format, self.param_convertors, path_params)
            if given_path is not None:
                remaining["path"] = given_path
            url = _child_url_path(self.routes, child_name, remaining)
            if url is not None:
                return URLPath(path=prefix.rstrip("/") + str(url), protocol=url.protocol)  # type: ignore[arg-type]
        raise NoMatchFound(name, path_params)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Mount) and self.path == other.path and self.app == other.app

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={self.path!r}, name={self.name or ''!r}, app={self.app!r})"


def _routes_of(app: ASGIApp) -> list[BaseRoute]:
    """The routes of a router-like app; an opaque ASGI app has none."""
    return getattr(app, "routes", [])


def _first_host_header(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"host":
            return str(value.decode("latin-1"))
    return None


class Host(_PrefixedRoute):
    """Routes by the request's Host header (a template such as ``{sub}.example.com``)."""

    def __init__(self, host: str, app: ASGIApp, name: str | None = None) -> None:
        assert host[:1] != "/", "Host must not start with '/'"
        # A template without a leading "/" compiles as a host pattern (case-insensitive, no port).
        _, self.host_format, self.param_convertors = compile_path(host)
        self.host_regex = self._template_regex(host)
        self.host, self.app, self.name = host, app, name

    @staticmethod
    def _template_regex(host: str) -> Pattern[str]:
        """The template's case-insensitive regex, without the ``:suffix`` of its literal tail.

        As in Starlette, whatever follows the last ``:`` after the last parameter is dropped, port
        digits or not (``example.com:http`` matches ``example.com``), unless the tail ends with
        ``]`` (a bare IP literal such as ``[::1]``).
        """
        split = 0
        for m in PARAM_REGEX.finditer(host):
            split = m.end()
        head, tail = host[:split], host[split:]
        if ":" in tail and not tail.endswith("]"):
            tail = tail.rpartition(":")[0]
        head_pattern = compile_path(head)[0].pattern  # "^...$"; ``head`` has no literal tail
        return re.compile(head_pattern[:-1] + re.escape(tail) + "$", re.IGNORECASE)

    @staticmethod
    def _request_host(scope: Scope) -> str | None:
        """The host part of the request's Host header, or ``None`` if it is missing or malformed.

        A port of any number of digits is ignored, as in Starlette (``api.example.org:65536``
        still routes to ``api.example.org``).
        """
        header = _first_host_header(scope)
        parsed = parse_host_header(header)
        if parsed is None and header:
            head, colon, port = header.rpartition(":")
            if colon and port.isascii() and port.isdigit():
                parsed = parse_host_header(head)
                if parsed is not None and parsed.port is not None:
                    return None
        return None if parsed is None else parsed.host

    @property
    def routes(self) -> list[BaseRoute]:
        return _routes_of(self.app)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] not in ("http", "websocket"):
            return Match.NONE, {}
        host = self._request_host(scope)
        if host is None:
            return Match.NONE, {}
        m = self.host_regex.match(host.lower())
        if m is None:
            return Match.NONE, {}
        params = _convert_params(m, self.param_convertors)
        return Match.FULL, {"path_params": _merge_params(scope, params), "endpoint": self.app}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        if self.name is not None and name == self.name and "path" in path_params:
            path = str(path_params.pop("path"))
            host, remaining = replace_params(self.host_format, self.param_convertors, path_params)
            if not remaining:
                return URLPath(path=path, host=host)
        elif self.name is None or name.startswith(self.name + ":"):
            child_name = self._child_name(name)
            host, remaining = replace_params(self.host_format, self.param_convertors, path_params)
            url = _child_url_path(self.routes, child_name, remaining)
            if url is not None:
                return URLPath(path=str(url), protocol=url.protocol, host=host)  # type: ignore[arg-type]
        raise NoMatchFound(name, path_params)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Host) and self.host == other.host and self.app == other.app

    def __repr__(self) -> str:
        return f"{type(self).__name__}(host={self.host!r}, name={self.name or ''!r}, app={self.app!r})"


# --------------------------------------------------------------------------------------------
# The route index
# --------------------------------------------------------------------------------------------


class _RouteList(list[BaseRoute]):
    """``router.routes``: a plain list that counts its mutations so the index knows to rebuild."""

    version = 0

    def _changed(self) -> None:
        self.version += 1

    def append(self, item: BaseRoute) -> None:
        super().append(item)
        self._changed()

    def extend(self, items: Iterable[BaseRoute]) -> None:
        super().extend(items)
        self._changed()

    def insert(self, index: SupportsIndex, item: BaseRoute) -> None:
        super().insert(index, item)
        self._changed()

    def remove(self, item: BaseRoute) -> None:
        super().remove(item)
        self._changed()

    def pop(self, index: SupportsIndex = -1) -> BaseRoute:
        item = super().pop(index)
        self._changed()
        return item

    def clear(self) -> None:
        super().clear()
        self._changed()

    def sort(self, *args: Any, **kwargs: Any) -> None:
        super().sort(*args, **kwargs)
        self._changed()

    def reverse(self) -> None:
        super().reverse()
        self._changed()

    def __setitem__(self, index: Any, value: Any) -> None:
        super().__setitem__(index, value)
        self._changed()

    def __delitem__(self, index: Any) -> None:
        super().__delitem__(index)
        self._changed()

    def __iadd__(self, items: Iterable[BaseRoute]) -> _RouteList:  # type: ignore[override, misc]
        super().__iadd__(items)
        self._changed()
        return self

    def __imul__(self, n: SupportsIndex) -> _RouteList:  # type: ignore[override]
        super().__imul__(n)
        self._changed()
        return self


class _TrieNode:
    __slots__ = ("anchored", "children")

    def __init__(self) -> None:
        self.children: dict[str, _TrieNode] = {}
        self.anchored: list[int] = []


def _literal_prefix(template: str) -> list[str] | None:
    """The leading ``/``-separated segments of ``template`` that contain no parameter.

    ``None`` when the whole template is literal (a static path).
    """
    segments = template.split("/")
    for i, segment in enumerate(segments):
        if PARAM_REGEX.search(segment):
            return segments[:i]
    return None


class _RouteIndex:
    """Candidate routes for a route path, in declaration order, without scanning every route.

    Only routes whose ``matches`` is exactly lyre's ``Route``/``WebSocketRoute``/``Mount`` one are
    indexed by their template; every other route (``Host``, any subclass overriding ``matches``)
    is a candidate for every path, asked in declaration order. The result for a path is memoised in a bounded dict.
    """

    CACHE_SIZE = 2048

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.routes = list(routes)
        self.static: dict[str, list[int]] = {}
        self.root = _TrieNode()
        self.always: list[int] = []
        for i, route in enumerate(self.routes):
            matches = type(route).matches
            if matches is Mount.matches:
                prefix = _literal_prefix(route.path + "/{path:path}")  # type: ignore[attr-defined]
            elif matches is Route.matches or matches is WebSocketRoute.matches:
                assert isinstance(route, (Route, WebSocketRoute))
                if not isinstance(route.path, str):
                    self.always.append(i)
                    continue
                prefix = _literal_prefix(route.path)
                if prefix is None:
                    self.static.setdefault(route.path, []).append(i)
                    continue
            else:
                self.always.append(i)
                continue
            node = self.root
            for segment in prefix or []:
                node = node.children.setdefault(segment, _TrieNode())
            node.anchored.append(i)
        self.cache: dict[str, tuple[BaseRoute, ...]] = {}

    def candidates(self, route_path: str) -> tuple[BaseRoute, ...]:
        found = self.cache.get(route_path)
        if found is not None:
            return found
        indices: list[int] = list(self.always)
        exact = self.static.get(route_path)
        if exact:
            indices += exact
        node: _TrieNode | None = self.root
        indices += self.root.anchored
        for segment in route_path.split("/"):
            node = node.children.get(segment)  # type: ignore[union-attr]
            if node is None:
                break
            indices += node.anchored
        indices.sort()
        found = tuple(self.routes[i] for i in indices)
        if len(self.cache) >= self.CACHE_SIZE:
            self.cache.clear()
        self.cache[route_path] = found
        return found


# --------------------------------------------------------------------------------------------
# Lifespan helpers
# --------------------------------------------------------------------------------------------


class _HandlersLifespan:
    """The default lifespan: runs the (deprecated) ``on_startup`` / ``on_shutdown`` handlers."""

    def __init__(self, router: Router) -> None:
        self._router = router

    async def __aenter__(self) -> None:
        await self._router.startup()

    async def __aexit__(self, *exc_info: object) -> None:
        await self._router.shutdown()

    def __call__(self: _T, app: object) -> _T:
        return self


class _SyncGeneratorLifespan:
    """Adapts a (deprecated) generator-function lifespan to an async context manager."""

    def __init__(self, func: Callable[[Any], Generator[Any, Any, Any]]) -> None:
        self._func = func
        self._gen: Generator[Any, Any, Any] | None = None

    def __call__(self, app: object) -> _SyncGeneratorLifespan:
        self._gen = self._func(app)
        return self

    async def __aenter__(self) -> Any:
        assert self._gen is not None
        return next(self._gen)

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._gen is not None
        with contextlib.suppress(StopIteration):
            next(self._gen)


def _share_lifespan_state(scope: Scope, state: Any) -> None:
    """Copy what the lifespan yielded into the server's per-application state."""
    if "state" not in scope:
        raise RuntimeError('The server does not support "state" in the lifespan scope.')
    scope["state"].update(state)


def _deprecated(message: str, stacklevel: int = 3) -> None:
    warnings.warn(message, StarletteDeprecationWarning, stacklevel=stacklevel)


class Router:
    """A list of routes plus the dispatch, redirect-slashes, not-found and lifespan logic."""

    def __init__(
        self,
        routes: Iterable[BaseRoute] | None = None,
        redirect_slashes: bool = True,
        default: ASGIApp | None = None,
        lifespan: Lifespan[Any] | None = None,
        *,
        middleware: Sequence[Middleware] | None = None,
        max_body_size: int | None = None,
        on_startup: Sequence[Callable[[], Any]] | None = None,
        on_shutdown: Sequence[Callable[[], Any]] | None = None,
    ) -> None:
        self.routes = _RouteList(routes or [])
        self.redirect_slashes = redirect_slashes
        self.default: ASGIApp = self.not_found if default is None else default

        if on_startup is not None or on_shutdown is not None:
            _deprecated(
                "The on_startup and on_shutdown parameters are deprecated, use 'lifespan=' "
                "(an @contextlib.asynccontextmanager function) instead.",
            )
            assert lifespan is None, "Use either 'lifespan' or 'on_startup'/'on_shutdown', not both."
        self.on_startup: list[Callable[[], Any]] = list(on_startup or [])
        self.on_shutdown: list[Callable[[], Any]] = list(on_shutdown or [])

        self.lifespan_context: Lifespan[Any]
        if lifespan is None:
            self.lifespan_context = _HandlersLifespan(self)
        elif inspect.isasyncgenfunction(lifespan):
            # Attributed to this module (not the caller), as Starlette does.
            _warn_deprecated(
                "async generator function lifespans are deprecated, "
                "use an @contextlib.asynccontextmanager function instead",
            )
            self.lifespan_context = contextlib.asynccontextmanager(lifespan)
        elif inspect.isgeneratorfunction(lifespan):
            _warn_deprecated(
                "generator function lifespans are deprecated, "
                "use an @contextlib.asynccontextmanager function instead",
            )
            self.lifespan_context = _SyncGeneratorLifespan(lifespan)
        else:
            self.lifespan_context = lifespan

        self.middleware_stack: ASGIApp = _wrap_app(self.app, middleware, max_body_size)
        self._index: _RouteIndex | None = None
        self._index_version = -1

    # The public list may be replaced wholesale; keep it a counting list.
    @property
    def routes(self) -> list[BaseRoute]:
        return self._routes

    @routes.setter
    def routes(self, value: Iterable[BaseRoute]) -> None:
        self._routes = value if isinstance(value, _RouteList) else _RouteList(value)
        self._index = None

    def _route_index(self) -> _RouteIndex:
        routes = self._routes
        index = self._index
        if index is None or self._index_version != routes.version:
            index = _RouteIndex(routes)
            self._index = index
            self._index_version = routes.version
        return index

    async def not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await WebSocketClose()(scope, receive, send)
            return
        # Inside an application, raise so that a 404 handler can answer.
        if "app" in scope:
            raise HTTPException(status_code=404)
        await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        url = _child_url_path(self.routes, name, path_params)
        if url is None:
            raise NoMatchFound(name, path_params)
        return url

    async def lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the ASGI lifespan protocol around ``self.lifespan_context``."""
        phase = "startup"  # which phase a failure is reported against
        await receive()
        try:
            async with self.lifespan_context(scope.get("app")) as initial_state:
                if initial_state is not None:
                    _share_lifespan_state(scope, initial_state)
                await send({"type": "lifespan.startup.complete"})
                phase = "shutdown"
                await receive()
        except BaseException:
            await send({"type": f"lifespan.{phase}.failed", "message": traceback.format_exc()})
            raise
        await send({"type": "lifespan.shutdown.complete"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.middleware_stack(scope, receive, send)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch: first FULL match in declaration order, else first PARTIAL, else redirect/404."""
        scope_type = scope["type"]
        assert scope_type in ("http", "websocket", "lifespan")
        if "router" not in scope:
            scope["router"] = self
        if scope_type == "lifespan":
            await self.lifespan(scope, receive, send)
            return

        match, route, child_scope = self.select(scope)
        if match is Match.FULL:
            scope["route"] = route
            scope.update(child_scope)
            await route.handle(scope, receive, send)  # type: ignore[union-attr]
            return
        await self.handle_unmatched(scope, receive, send, route, child_scope)

    def select(self, scope: Scope) -> tuple[Match, BaseRoute | None, Scope]:
        """The route for ``scope``: the first FULL match in declaration order, else the first
        PARTIAL one, else ``(Match.NONE, None, {})``; with the child scope to apply.

        Only the routes the index cannot rule out are asked, each through its ``matches`` (lyre's
        own ``Route`` through the same code with the route path computed once).
        """
        index = self._index
        if index is None or self._index_version != self._routes.version:
            index = self._route_index()
        # PERF (every routed cell): without a root path the route path is the path; with the
        # ``_merge_params`` test in ``_match_http``, measured (callgrind): 9.3k vs 10.3k
        # instructions per select().
        route_path = get_route_path(scope) if scope.get("root_path") else scope["path"]
        candidates = index.cache.get(route_path)
        if candidates is None:
            candidates = index.candidates(route_path)
        partial: BaseRoute | None = None
        partial_scope: Scope = {}
        http = scope["type"] == "http"
        for route in candidates:
            if http and route.__class__ is Route:
                # PERF (path, routes50): the route path is computed once per request; measured:
                # 2.00 µs vs 2.12 µs per select() (1.06x).
                match, child_scope = route._match_http(scope, route_path)  # type: ignore[attr-defined]
            else:
                match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return Match.FULL, route, child_scope
            if match is Match.PARTIAL and partial is None:
                partial, partial_scope = route, child_scope
        if partial is not None:
            return Match.PARTIAL, partial, partial_scope
        return Match.NONE, None, {}

    async def handle_unmatched(
        self, scope: Scope, receive: Receive, send: Send, partial: BaseRoute | None, partial_scope: Scope
    ) -> None:
        """No FULL match: the first PARTIAL match (405), else a slash redirect, else ``default``."""
        if partial is not None:
            scope["route"] = partial
            scope.update(partial_scope)
            await partial.handle(scope, receive, send)
            return

        redirect = self.slash_redirect(scope)
        if redirect is not None:
            await redirect(scope, receive, send)
            return
        await self.default(scope, receive, send)

    def slash_redirect(self, scope: Scope) -> Response | None:
        """The 307 to the same path with its trailing slash toggled, if that path would match.

        Whether the slash is added or removed follows the *route* path, as in Starlette: with a
        ``root_path`` of ``/sub/`` the request ``/sub/`` has the empty route path, so it is sent to
        ``/sub//`` (route path ``/``), not to ``/sub``.
        """
        route_path = get_route_path(scope)
        if scope["type"] != "http" or not self.redirect_slashes or route_path == "/":
            return None
        redirect_scope = dict(scope)
        path = scope["path"]
        redirect_scope["path"] = path.rstrip("/") if route_path.endswith("/") else path + "/"
        for route in self._route_index().candidates(get_route_path(redirect_scope)):
            match, _ = route.matches(redirect_scope)
            if match is not Match.NONE:
                return RedirectResponse(url=str(URL(scope=redirect_scope)))
        return None

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Router) and self.routes == other.routes

    __hash__ = None  # type: ignore[assignment]

    def mount(self, path: str, app: ASGIApp, name: str | None = None) -> None:
        self.routes.append(Mount(path, app=app, name=name))

    def host(self, host: str, app: ASGIApp, name: str | None = None) -> None:
        self.routes.append(Host(host, app=app, name=name))

    def add_route(
        self,
        path: str,
        endpoint: Callable[[Request], Awaitable[Response] | Response],
        methods: Collection[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> None:
        self.routes.append(
            Route(path, endpoint=endpoint, methods=methods, name=name, include_in_schema=include_in_schema)
        )

    def add_websocket_route(
        self, path: str, endpoint: Callable[[WebSocket], Awaitable[None]], name: str | None = None
    ) -> None:
        self.routes.append(WebSocketRoute(path, endpoint=endpoint, name=name))

    # ---- pre-1.0 forms lyre keeps (cheat-sheet compatibility), each with a deprecation warning ----

    def route(
        self,
        path: str,
        methods: Collection[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
        *,
        _stacklevel: int = 3,
    ) -> Callable[[_T], _T]:
        """Deprecated decorator form of ``add_route``."""
        _deprecated(
            "The `route` decorator is deprecated, use `add_route` or `routes=[Route(...)]` instead.",
            _stacklevel,
        )

        def decorator(func: _T) -> _T:
            self.add_route(path, func, methods=methods, name=name, include_in_schema=include_in_schema)  # type: ignore[arg-type]
            return func

        return decorator

    def websocket_route(
        self, path: str, name: str | None = None, *, _stacklevel: int = 3
    ) -> Callable[[_T], _T]:
        """Deprecated decorator form of ``add_websocket_route``."""
        _deprecated(
            "The `websocket_route` decorator is deprecated, "
            "use `add_websocket_route` or `routes=[WebSocketRoute(...)]` instead.",
            _stacklevel,
        )

        def decorator(func: _T) -> _T:
            self.add_websocket_route(path, func, name=name)  # type: ignore[arg-type]
            return func

        return decorator

    def add_event_handler(self, event_type: str, func: Callable[[], Any], *, _stacklevel: int = 3) -> None:
        """Deprecated: register a startup/shutdown handler (use ``lifespan=``)."""
        _deprecated("add_event_handler is deprecated, use 'lifespan=' instead.", _stacklevel)
        self._add_event_handler(event_type, func)

    def _add_event_handler(self, event_type: str, func: Callable[[], Any]) -> None:
        assert event_type in ("startup", "shutdown")
        (self.on_startup if event_type == "startup" else self.on_shutdown).append(func)

    def on_event(self, event_type: str, *, _stacklevel: int = 3) -> Callable[[_T], _T]:
        """Deprecated decorator form of ``add_event_handler``."""
        _deprecated("The on_event decorator is deprecated, use 'lifespan=' instead.", _stacklevel)

        def decorator(func: _T) -> _T:
            self._add_event_handler(event_type, func)  # type: ignore[arg-type]
            return func

        return decorator

    async def startup(self) -> None:
        """Run the registered startup handlers, in order (sync ones called directly)."""
        for handler in self.on_startup:
            if is_async_callable(handler):
                await handler()
            else:
                handler()

    async def shutdown(self) -> None:
        """Run the registered shutdown handlers, in order (sync ones called directly)."""
        for handler in self.on_shutdown:
            if is_async_callable(handler):
                await handler()
            else:
                handler()
