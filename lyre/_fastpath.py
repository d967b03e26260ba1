"""The fused application stack: lyre's default layers run in as few Python frames as possible.

``Lyre.build_middleware_stack`` builds the documented layers — ``ServerErrorMiddleware`` →
``RequestBodyLimitMiddleware`` → user middleware → ``ExceptionMiddleware`` → ``Router`` — and, when
fusion is on and the pieces are exactly lyre's own classes, swaps two of them for fused ones:

- ``FusedServerErrorMiddleware``: the 500 layer, which learns from the fused dispatch whether the
  response had started (so ``send`` needs no tracking wrapper);
- ``FusedExceptionMiddleware``: the handled-exception layer and the router's dispatch in one frame,
  calling a plain route's endpoint adapter directly.

Nothing here re-implements behaviour: route selection is ``Router.select``, the endpoint adapter
is the route's own ``request_response`` app, exceptions are answered by ``handle_exception``, the
404 and slash redirect are the router's, the body limit and the admission checks are the layered
ones. The fused classes keep the attributes of the classes they replace (``app``, ``handler``,
``debug``...), so code that introspects ``app.middleware_stack`` sees the usual chain.

``LYRE_FUSION=0`` in the environment (read when a stack is built) turns fusion off: the layered
stack alone serves every request. CI runs every suite both ways.
"""

from __future__ import annotations

import os
from typing import Any

from lyre._exception_handler import HANDLERS_SCOPE_KEY, ResponseTracker, ends_quietly, handle_exception
from lyre.exceptions import HTTPException
from lyre.middleware.body_limit import STARTED_SCOPE_KEY
from lyre.middleware.errors import ServerErrorMiddleware
from lyre.middleware.exceptions import ExceptionMiddleware
from lyre.requests import ClientDisconnect, Request
from lyre.responses import PlainTextResponse
from lyre.routing import Match, Route, Router
from lyre.types import Receive, Scope, Send

__all__ = [
    "SELECTION_SCOPE_KEY",
    "STARTED_SCOPE_KEY",
    "FusedExceptionMiddleware",
    "FusedServerErrorMiddleware",
    "fusion_enabled",
    "router_is_fusable",
]


#: ``Router.select``'s answer for this request, left by a ``BaseHTTPMiddleware`` that selected the
#: route to decide how to run the app (``lyre.middleware.base._same_task_below``) immediately before
#: calling it; the dispatch takes it (and removes it) instead of selecting again.
SELECTION_SCOPE_KEY = "lyre.selection"


def fusion_enabled() -> bool:
    """Whether stacks built now may use the fused layers (``LYRE_FUSION=0`` turns them off)."""
    return os.environ.get("LYRE_FUSION", "1") != "0"


def router_is_fusable(router: Any) -> bool:
    """True when ``router`` is exactly lyre's ``Router`` (no subclass) with no middleware of its own."""
    return type(router) is Router and router.middleware_stack == router.app


class FusedServerErrorMiddleware(ServerErrorMiddleware):
    """``ServerErrorMiddleware`` over a chain whose innermost layer is the fused dispatch.

    Every exception that dispatch lets out carries ``scope[STARTED_SCOPE_KEY]``, so the 500 layer
    needs no ``send`` wrapper. Used only when nothing between it and the dispatch but lyre's body
    limit could send (no user middleware).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except ClientDisconnect as exc:
            if ends_quietly(exc):
                scope.pop(STARTED_SCOPE_KEY, None)  # the client left: no 500, nothing for the server
                return
            await self.answer_error(exc, scope, receive, send, scope.pop(STARTED_SCOPE_KEY, True))
            raise exc  # made from the server's failing send: the server's news
        except Exception as exc:
            started = scope.pop(STARTED_SCOPE_KEY, True)
            await self.answer_error(exc, scope, receive, send, started)
            raise exc


class FusedExceptionMiddleware(ExceptionMiddleware):
    """``ExceptionMiddleware`` + ``Router`` dispatch in one frame, for exactly lyre's ``Router``."""

    #: Exceptions it lets out carry ``scope[STARTED_SCOPE_KEY]`` (read by the layers above).
    reports_started = True

    def __init__(self, app: Router, handlers: Any = None, debug: bool = False) -> None:
        super().__init__(app, handlers=handlers, debug=debug)
        self.router = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await ExceptionMiddleware.__call__(self, scope, receive, send)
            return
        scope[HANDLERS_SCOPE_KEY] = self._handlers_pair
        router = self.router
        if "router" not in scope:
            scope["router"] = router
        tracker: ResponseTracker | None = None
        direct = handed_send = False
        try:
            selection = scope.pop(SELECTION_SCOPE_KEY, None)
            if selection is None:
                selection = router.select(scope)
            match, route, child_scope = selection
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                if route.__class__ is Route and route.app is route._inline_app:  # type: ignore[attr-defined]
                    # The route's own adapter, its method check already done by ``select``; it
                    # answers its exceptions and reports whether the response had started.
                    direct = True
                    await route._inline_app(scope, receive, send)  # type: ignore[attr-defined]
                    return
                tracker = ResponseTracker(send)
                await route.handle(scope, receive, tracker.track)  # type: ignore[union-attr]
                return
            if route is None and router.default == router.not_found and not self._custom_404():
                # What ``handle_unmatched`` and ``not_found`` answer when no handler is registered.
                handed_send = True
                response = router.slash_redirect(scope) or PlainTextResponse("Not Found", status_code=404)
                await response(scope, receive, send)
                return
            tracker = ResponseTracker(send)
            await router.handle_unmatched(scope, receive, tracker.track, route, child_scope)
        except Exception as exc:
            if direct:  # from the route's adapter: already offered to the handlers, key set
                raise
            if tracker is None:
                tracker = ResponseTracker(send)
                tracker.started = handed_send
            try:
                await handle_exception(exc, Request(scope, receive, tracker.track), scope, receive, tracker)
            except Exception as unhandled:
                if unhandled is exc and isinstance(exc, ClientDisconnect) and ends_quietly(exc):
                    # As the route adapter (``request_response``): the client left, end quietly.
                    return
                scope[STARTED_SCOPE_KEY] = tracker.started
                raise

    def _custom_404(self) -> bool:
        """Whether a user handler would answer the router's 404 (else the default text is sent)."""
        return (
            404 in self._status_handlers or self._exception_handlers.get(HTTPException) != self.http_exception
        )
