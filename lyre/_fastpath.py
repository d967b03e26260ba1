"""The fused application stack: the default layers' behaviour in as few Python frames as possible.

``Lyre.build_middleware_stack`` builds the documented layers — ``ServerErrorMiddleware`` →
``RequestBodyLimitMiddleware`` → user middleware → ``ExceptionMiddleware`` → ``Router`` — and, when
the pieces are lyre's own, swaps two of them for fused equivalents that behave identically:

- ``FusedServerErrorMiddleware``: the 500 layer and the outermost body limit in one frame.
- ``FusedExceptionMiddleware``: the handled-exception layer, the router's dispatch and, for a plain
  function endpoint, the ``request_response`` adapter, in one frame.

Both keep the attributes of the classes they replace (``app``, ``handler``, ``debug``...), so code
that introspects ``app.middleware_stack`` sees the usual chain. Anything unusual (a lifespan or
WebSocket scope, a nested body limit, a router with its own middleware, a route whose ``app`` was
replaced) goes through the ordinary layered code.

PERF: Starlette passes a request through ~10 frames and 3-4 ``send`` wrappers before the endpoint
runs; here it is ``Lyre.__call__`` → fused error layer → fused dispatch → endpoint, with one
``send`` wrapper (the response tracker) shared by every layer.
"""

from __future__ import annotations

from typing import Any

from lyre._exception_handler import HANDLERS_SCOPE_KEY, ResponseTracker, handle_exception
from lyre.exceptions import HTTPException
from lyre.middleware.body_limit import (
    RESPONDER_SCOPE_KEY,
    RequestBodyLimitResponder,
)
from lyre.middleware.errors import ServerErrorMiddleware
from lyre.middleware.exceptions import ExceptionMiddleware
from lyre.requests import Request
from lyre.responses import PlainTextResponse, Response
from lyre.routing import BaseRoute, Match, Route, Router, _convert_params
from lyre.types import ASGIApp, ExceptionHandler, Receive, Scope, Send

__all__ = ["MAX_REQUEST_HEADERS", "FusedExceptionMiddleware", "FusedServerErrorMiddleware", "router_is_fusable"]

#: lyre decision (safety): a request with more header lines than this answers ``431`` before any
#: application code runs. Servers bound header *bytes*; this bounds the count that every
#: ``Headers`` lookup would scan. Change it by assigning ``lyre._fastpath.MAX_REQUEST_HEADERS``.
MAX_REQUEST_HEADERS = 1000


def router_is_fusable(router: Any) -> bool:
    """True when ``router`` is a plain ``Router`` whose dispatch can be inlined."""
    cls = type(router)
    return (
        isinstance(router, Router)
        and cls.__call__ is Router.__call__
        and cls.app is Router.app
        and cls.handle_unmatched is Router.handle_unmatched
        and router.middleware_stack == router.app
    )


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class FusedServerErrorMiddleware(ServerErrorMiddleware):
    """``ServerErrorMiddleware`` + the outermost ``RequestBodyLimitMiddleware`` in one frame.

    ``app`` is the layered chain (starting with the body limit, when there is one), used for
    non-HTTP scopes and for nested limits; ``inner`` is what the body limit wraps.
    """

    def __init__(
        self,
        app: ASGIApp,
        inner: ASGIApp,
        handler: ExceptionHandler | None = None,
        debug: bool = False,
        max_body_size: int | None = None,
    ) -> None:
        super().__init__(app, handler=handler, debug=debug)
        self.inner = inner
        self.max_body_size = max_body_size
        self.inner_reports_started = isinstance(inner, FusedExceptionMiddleware)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope["headers"]) > MAX_REQUEST_HEADERS:
            await PlainTextResponse("Request Header Fields Too Large", status_code=431)(scope, receive, send)
            return
        if not scope["path"].isascii() and not _encodable(scope["path"]):
            # lyre decision (safety): a path holding lone surrogates (a server that decoded invalid
            # UTF-8 with surrogateescape) cannot be echoed, encoded or logged safely: 400 up front.
            await PlainTextResponse("Bad Request", status_code=400)(scope, receive, send)
            return
        # (``Lyre.__call__`` runs the common case of this layer inline, see ``fused_call``.)
        limit = self.max_body_size
        tracker = ResponseTracker(send)
        tracked_send = tracker.track
        try:
            if limit is None:
                await self.inner(scope, receive, tracked_send)
            elif RESPONDER_SCOPE_KEY in scope:
                # Mounted inside another limited app: the layered limiter knows the nesting rules.
                await self.app(scope, receive, tracked_send)
            else:
                # A chunked (or HTTP/2+) body: the responder counts it. A declared length over the
                # limit is handled there too (413 in place of the app's response).
                await RequestBodyLimitResponder(self.inner, limit)(scope, receive, tracked_send)
        except Exception as exc:
            scope.pop(STARTED_SCOPE_KEY, None)
            await self.answer_error(exc, scope, receive, send, tracker.started)
            raise exc


class FusedExceptionMiddleware(ExceptionMiddleware):
    """``ExceptionMiddleware`` + ``Router`` dispatch + ``request_response`` in one frame."""

    def __init__(self, app: Router, handlers: Any = None, debug: bool = False) -> None:
        super().__init__(app, handlers=handlers, debug=debug)
        self.router = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        router = self.router
        if scope["type"] != "http":
            await ExceptionMiddleware.__call__(self, scope, receive, send)
            return
        scope[HANDLERS_SCOPE_KEY] = self._handlers_pair
        # PERF: no ``send`` wrapper unless something other than a plain ``Response`` sends:
        # ``plain_started`` stands in for the tracker when a plain response was handed ``send``
        # (an exception from inside it can only come from ``send`` or a background task, both
        # after the response may have started).
        tracker: ResponseTracker | None = None
        plain_started = False
        request: Request | None = None
        try:
            if "router" not in scope:
                scope["router"] = router
            root_path = scope.get("root_path")
            path: str = scope["path"]
            if root_path and path.startswith(root_path):
                n = len(root_path)
                if len(path) == n:
                    path = ""
                elif path[n] == "/":
                    path = path[n:]
            partial: BaseRoute | None = None
            partial_scope: Scope = {}
            index = router._index
            if index is None or router._index_version != router._routes.version:
                index = router._route_index()
            candidates = index.cache.get(path)
            if candidates is None:
                candidates = index.candidates(path)
            for route in candidates:
                if route.__class__ is Route:
                    # Route.matches, inlined for lyre's own Route class.
                    static = route._static_path
                    if static is not None:
                        if static != path:
                            continue
                        params: dict[str, Any] = {}
                    else:
                        m = route.path_regex.match(path)
                        if m is None:
                            continue
                        params = _convert_params(m, route.param_convertors)
                    outer = scope.get("path_params")
                    if outer:
                        params = {**outer, **params}
                    methods = route.methods
                    if methods and scope["method"] not in methods:
                        if partial is None:
                            partial = route
                            partial_scope = {"endpoint": route.endpoint, "path_params": params}
                        continue
                    scope["route"] = route
                    scope["endpoint"] = route.endpoint
                    scope["path_params"] = params
                    call = route._inline_call
                    if call is None or route.app is not route._inline_app:
                        tracker = ResponseTracker(send)
                        await route.handle(scope, receive, tracker.track)
                        return
                    # request_response, inlined.
                    request = Request(scope, receive, send)
                    try:
                        response = await call(request)
                        if response.__class__ in _PLAIN_RESPONSES or _is_plain(response.__class__):
                            plain_started = True
                            await response(scope, receive, send)
                        else:
                            tracker = ResponseTracker(send)
                            await response(scope, receive, tracker.track)
                    except Exception as exc:
                        if tracker is None:
                            tracker = ResponseTracker(send)
                        tracker.started = tracker.started or plain_started
                        await handle_exception(exc, request, scope, receive, tracker)
                    return
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope["route"] = route
                    scope.update(child_scope)
                    tracker = ResponseTracker(send)
                    await route.handle(scope, receive, tracker.track)
                    return
                if match is Match.PARTIAL and partial is None:
                    partial, partial_scope = route, child_scope
            if partial is None and router.default == router.not_found and not self._custom_404():
                redirect = router.slash_redirect(scope)
                plain_started = True
                await (redirect or PlainTextResponse("Not Found", status_code=404))(scope, receive, send)
                return
            tracker = ResponseTracker(send)
            await router.handle_unmatched(scope, receive, tracker.track, partial, partial_scope)
        except Exception as exc:
            if tracker is None:
                tracker = ResponseTracker(send)
            tracker.started = tracker.started or plain_started
            try:
                await handle_exception(exc, Request(scope, receive, tracker.track), scope, receive, tracker)
            except Exception:
                scope[STARTED_SCOPE_KEY] = tracker.started
                raise

    def _custom_404(self) -> bool:
        """Whether a user handler would answer the router's 404 (else the default text is sent)."""
        return (
            404 in self._status_handlers
            or self._exception_handlers.get(HTTPException) != self.http_exception
        )


#: Set by the fused dispatch when it lets an exception out: had the response started?
STARTED_SCOPE_KEY = "lyre.response_started"

_PLAIN_RESPONSES: set[type] = set()


def _is_plain(cls: type) -> bool:
    """Whether ``cls`` sends like ``Response`` (start, then one body) — memoised per class."""
    if cls.__call__ is Response.__call__:  # type: ignore[comparison-overlap]
        _PLAIN_RESPONSES.add(cls)
        return True
    return False
