"""The application: routing, middleware, exception handling and lifespan tied together.

``Lyre`` is the class; ``Starlette`` is a thin subclass that only carries Starlette's name (so code
that prints or matches the class name reads ``Starlette`` through the alias): an app built either
way is a ``Lyre`` and takes the same paths, and code and libraries that import or subclass
``Starlette`` work unchanged.

FastAPI subclasses this class without calling ``__init__``: ``__call__`` and the other methods rely
only on the attributes it sets itself (``debug``, ``state``, ``router``, ``exception_handlers``,
``user_middleware``, ``middleware_stack``, ``max_body_size``).
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

import anyio

from lyre._admission import MAX_REQUEST_HEADERS, refusal
from lyre._fastpath import (
    FusedExceptionMiddleware,
    FusedServerErrorMiddleware,
    fusion_enabled,
    router_is_fusable,
)
from lyre.datastructures import State, URLPath
from lyre.exceptions import StarletteDeprecationWarning
from lyre.middleware import Middleware, _MiddlewareFactory
from lyre.middleware.body_limit import (
    DEFAULT_MAX_BODY_SIZE,
    RESPONDER_SCOPE_KEY,
    STARTED_SCOPE_KEY,
    RequestBodyLimitMiddleware,
    RequestBodyLimitResponder,
    _DefaultBodyLimitMiddleware,
)
from lyre.middleware.errors import ServerErrorMiddleware
from lyre.middleware.exceptions import ExceptionMiddleware
from lyre.requests import _STATE_KEY as _REQUEST_STATE_KEY
from lyre.requests import Request, _release_request_state
from lyre.responses import Response
from lyre.routing import BaseRoute, Router
from lyre.types import ASGIApp, ExceptionHandler, Lifespan, Receive, Scope, Send

AppType = TypeVar("AppType", bound="Lyre")
P = ParamSpec("P")
_F = TypeVar("_F")

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "MAX_REQUEST_HEADERS",
    "ASGIApp",
    "BaseRoute",
    "ExceptionHandler",
    "ExceptionMiddleware",
    "Lifespan",
    "Lyre",
    "Middleware",
    "Receive",
    "Request",
    "RequestBodyLimitMiddleware",
    "Response",
    "Router",
    "Scope",
    "Send",
    "ServerErrorMiddleware",
    "Starlette",
    "State",
    "URLPath",
]

_UNSET: Any = object()


async def _close_form(scope: Scope) -> None:
    """Close the upload files of the form parsed during this request (deterministically, at its end)."""
    form = scope.get("lyre.form")
    close = getattr(form, "close", None)
    # A form known to hold no file has nothing to close: no shielded scope for it.
    if close is not None and getattr(form, "_may_hold_files", True):
        with anyio.CancelScope(shield=True):
            await close()


def _deprecated(message: str) -> None:
    warnings.warn(message, StarletteDeprecationWarning, stacklevel=3)


class Lyre:
    """Creates an application.

    lyre decision: ``max_body_size`` defaults to ``DEFAULT_MAX_BODY_SIZE`` (16 MiB) instead of
    Starlette's unlimited; pass ``max_body_size=None`` to lift it, or any other size. The pre-1.0
    keywords ``on_startup`` / ``on_shutdown`` are accepted with a ``StarletteDeprecationWarning``.
    """

    #: The body limit lyre applies around a stack that a subclass builds itself (FastAPI's) when
    #: that stack configures none; ``app.default_max_body_size = None`` lifts it.
    default_max_body_size: int | None = DEFAULT_MAX_BODY_SIZE
    #: Whether ``middleware_stack`` was built by a subclass's own ``build_middleware_stack``.
    _builds_own_stack = False

    def __init__(
        self: AppType,
        debug: bool = False,
        routes: Sequence[BaseRoute] | None = None,
        middleware: Sequence[Middleware] | None = None,
        exception_handlers: Mapping[Any, ExceptionHandler] | None = None,
        lifespan: Lifespan[AppType] | None = None,
        *,
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
        on_startup: Sequence[Callable[[], Any]] | None = None,
        on_shutdown: Sequence[Callable[[], Any]] | None = None,
    ) -> None:
        if on_startup is not None or on_shutdown is not None:
            _deprecated(
                "The on_startup and on_shutdown parameters are deprecated, use 'lifespan=' "
                "(an @contextlib.asynccontextmanager function) instead."
            )
            assert lifespan is None, "Use either 'lifespan' or 'on_startup'/'on_shutdown', not both."
        assert max_body_size is None or max_body_size >= 0, "max_body_size must be a non-negative integer"
        self.debug = debug
        self.state = State()
        self.router = Router(routes, lifespan=lifespan)
        # Already warned above, at the user's call site.
        self.router.on_startup.extend(on_startup or ())
        self.router.on_shutdown.extend(on_shutdown or ())
        self.max_body_size = max_body_size
        self.exception_handlers: dict[Any, ExceptionHandler] = (
            {} if exception_handlers is None else dict(exception_handlers)
        )
        self.user_middleware: list[Middleware] = [] if middleware is None else list(middleware)
        self.middleware_stack: ASGIApp | None = None

    def build_middleware_stack(self) -> ASGIApp:
        """ServerError -> body limit -> user middleware (first outermost) -> ExceptionMiddleware -> router.

        With fusion on (the default; ``LYRE_FUSION=0`` turns it off) and exactly lyre's own
        pieces, the exception layer and the router's dispatch run fused, and so does the error
        layer when no user middleware sits between them (``lyre._fastpath``).
        """
        debug = self.debug
        error_handler: ExceptionHandler | None = None
        handlers: dict[Any, ExceptionHandler] = {}
        for key, value in self.exception_handlers.items():
            if key == 500 or key is Exception:
                error_handler = value
            else:
                handlers[key] = value

        router = self.router
        fuse = fusion_enabled()
        app: ASGIApp
        if fuse and router_is_fusable(router):
            app = FusedExceptionMiddleware(router, handlers=handlers, debug=debug)
        else:
            app = ExceptionMiddleware(router, handlers=handlers, debug=debug)
        fused_inner = isinstance(app, FusedExceptionMiddleware) and not self.user_middleware
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        max_body_size = getattr(self, "max_body_size", None)
        if max_body_size is not None:
            # lyre's default limit yields to a limit configured outside the application.
            limiter = (
                _DefaultBodyLimitMiddleware
                if max_body_size is DEFAULT_MAX_BODY_SIZE
                else RequestBodyLimitMiddleware
            )
            app = limiter(app, max_body_size=max_body_size)
        if fused_inner:
            return FusedServerErrorMiddleware(app, handler=error_handler, debug=debug)
        return ServerErrorMiddleware(app, handler=error_handler, debug=debug)

    @property
    def routes(self) -> list[BaseRoute]:
        """The router's live route list (appending to it adds routes)."""
        router: Router = self.router
        return router.routes

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """Reverse lookup of the route called ``name`` (``NoMatchFound`` if there is none)."""
        router: Router = self.router
        return router.url_path_for(name, **path_params)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        stack = self.middleware_stack
        if stack is None:
            stack = self.middleware_stack = self.build_middleware_stack()
            self._builds_own_stack = type(self).build_middleware_stack is not Lyre.build_middleware_stack
        if scope["type"] != "http":
            await stack(scope, receive, send)
            return
        # Admission, for every application whatever stack it built (lyre's, or FastAPI's own).
        refused = refusal(scope)
        if refused is not None:
            await refused(scope, receive, send)
            return
        try:
            if stack.__class__ is FusedServerErrorMiddleware:
                # PERF (every cell): lyre's fused stack with its error layer inline (as in
                # ``FusedServerErrorMiddleware.__call__``) and the body limit's responder without its
                # middleware frame; measured: 7.32 µs vs 7.79 µs per plaintext request (1.06x).
                app = stack.app
                try:
                    if app.__class__ is FusedExceptionMiddleware or RESPONDER_SCOPE_KEY in scope:
                        await app(scope, receive, send)
                    else:
                        # The outermost body limit's responder, without its middleware's frame.
                        limiter: RequestBodyLimitMiddleware = app  # type: ignore[assignment]
                        responder = RequestBodyLimitResponder(limiter.app, limiter.max_body_size)
                        await responder.serve(scope, receive, send, True)
                except Exception as exc:
                    started = scope.pop(STARTED_SCOPE_KEY, True)
                    await stack.answer_error(exc, scope, receive, send, started)
                    raise exc
            elif self._builds_own_stack:
                # A stack built by a subclass (FastAPI's): lyre's default body limit around it,
                # which any limit the stack configures itself replaces.
                limit = self.default_max_body_size
                if limit is None or RESPONDER_SCOPE_KEY in scope:
                    await stack(scope, receive, send)
                else:
                    await RequestBodyLimitResponder(stack, limit)(scope, receive, send)
            else:
                await stack(scope, receive, send)  # lyre's layered stack holds its body limit
        finally:
            if "lyre.form" in scope:
                await _close_form(scope)
            if _REQUEST_STATE_KEY in scope and RESPONDER_SCOPE_KEY not in scope:
                # The outermost lyre application (no limiter of an enclosing one is in force).
                _release_request_state(scope)

    def mount(self, path: str, app: ASGIApp, name: str | None = None) -> None:
        self.router.mount(path, app=app, name=name)

    def host(self, host: str, app: ASGIApp, name: str | None = None) -> None:
        self.router.host(host, app=app, name=name)

    def add_middleware(
        self, middleware_class: _MiddlewareFactory[P], *args: P.args, **kwargs: P.kwargs
    ) -> None:
        if self.middleware_stack is not None:
            raise RuntimeError("Cannot add middleware after an application has started")
        self.user_middleware.insert(0, Middleware(middleware_class, *args, **kwargs))

    def add_exception_handler(
        self, exc_class_or_status_code: int | type[Exception], handler: ExceptionHandler
    ) -> None:
        self.exception_handlers[exc_class_or_status_code] = handler

    def add_route(
        self,
        path: str,
        route: Callable[[Request], Awaitable[Response] | Response],
        methods: list[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> None:
        self.router.add_route(path, route, methods=methods, name=name, include_in_schema=include_in_schema)

    # ---- pre-1.0 forms lyre keeps (cheat-sheet compatibility), each with a deprecation warning ----

    def add_websocket_route(self, path: str, route: Callable[..., Any], name: str | None = None) -> None:
        """Deprecated on the application (still on ``Router``): use ``routes=[WebSocketRoute(...)]``."""
        _deprecated("Lyre.add_websocket_route is deprecated, use routes=[WebSocketRoute(...)] instead.")
        self.router.add_websocket_route(path, route, name=name)

    def add_event_handler(self, event_type: str, func: Callable[[], Any]) -> None:
        """Deprecated: use ``lifespan=``."""
        self.router.add_event_handler(event_type, func, _stacklevel=4)

    def on_event(self, event_type: str) -> Callable[[_F], _F]:
        """Deprecated decorator: use ``lifespan=``."""
        return self.router.on_event(event_type, _stacklevel=4)

    def route(
        self,
        path: str,
        methods: list[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> Callable[[_F], _F]:
        """Deprecated decorator: use ``routes=[Route(...)]`` or ``add_route``."""
        return self.router.route(path, methods, name, include_in_schema, _stacklevel=4)

    def websocket_route(self, path: str, name: str | None = None) -> Callable[[_F], _F]:
        """Deprecated decorator: use ``routes=[WebSocketRoute(...)]``."""
        return self.router.websocket_route(path, name, _stacklevel=4)

    def exception_handler(self, exc_class_or_status_code: int | type[Exception]) -> Callable[[_F], _F]:
        """Deprecated decorator: use ``exception_handlers=`` or ``add_exception_handler``."""
        _deprecated(
            "The `exception_handler` decorator is deprecated, "
            "use `exception_handlers=` or `add_exception_handler` instead."
        )

        def decorator(func: _F) -> _F:
            self.add_exception_handler(exc_class_or_status_code, func)  # type: ignore[arg-type]
            return func

        return decorator

    def middleware(self, middleware_type: str) -> Callable[[_F], _F]:
        """Deprecated decorator: ``@app.middleware("http")`` adds a ``BaseHTTPMiddleware``."""
        assert middleware_type == "http", 'Currently only middleware("http") is supported.'
        _deprecated(
            "The `middleware` decorator is deprecated, "
            "use `middleware=[Middleware(BaseHTTPMiddleware, dispatch=...)]` instead."
        )

        from lyre.middleware.base import BaseHTTPMiddleware

        def decorator(func: _F) -> _F:
            self.add_middleware(BaseHTTPMiddleware, dispatch=func)  # type: ignore[arg-type]
            return func

        return decorator


class Starlette(Lyre):
    """``Lyre`` under Starlette's name (what ``starlette.applications.Starlette`` is through the alias).

    A plain subclass, so ``__name__``/``__qualname__``/repr read ``Starlette`` for code that prints
    or matches them, while ``lyre.Lyre`` keeps lyre's name. Every ``Starlette`` is a ``Lyre``, and
    it inherits ``build_middleware_stack`` untouched, so it takes the same fast path as a ``Lyre``.
    """
