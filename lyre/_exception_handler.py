"""Looking up and running the application's exception handlers (private; FastAPI imports it).

The handlers live in ``scope["starlette.exception_handlers"]`` as the pair
``(class_handlers, status_handlers)`` stored there by ``ExceptionMiddleware``.

PERF (session, middleware): whether the response has started is observed through one
``ResponseTracker`` per request: the outermost layer that needs it wraps ``send`` once, and inner
layers that receive that very ``send`` reuse the tracker instead of wrapping again (``tracker_for``);
measured: 0.133 µs vs 0.386 µs per ``tracked()`` (2.9x).
"""

from __future__ import annotations

from types import MethodType
from typing import TYPE_CHECKING, Any

from lyre._same_task import is_plain_response, leave_dispatch_task
from lyre._utils import is_async_callable
from lyre.concurrency import run_in_threadpool
from lyre.exceptions import HTTPException
from lyre.types import ASGIApp, ExceptionHandler, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from lyre.requests import Request
    from lyre.websockets import WebSocket

ExceptionHandlers = dict[Any, ExceptionHandler]
StatusHandlers = dict[int, ExceptionHandler]

HANDLERS_SCOPE_KEY = "starlette.exception_handlers"

__all__ = [
    "ExceptionHandlers",
    "ResponseTracker",
    "StatusHandlers",
    "handle_exception",
    "tracked",
    "tracker_for",
    "wrap_app_handling_exceptions",
]


class ResponseTracker:
    """Wraps ``send`` to remember whether ``http.response.start`` went through.

    Pass ``tracker.track`` down as the ``send`` callable. (The bound method is not stored on the
    instance: that would make every request's tracker a reference cycle for the GC to collect.)
    """

    __slots__ = ("send", "started")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def track(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)


_TRACK = ResponseTracker.track


def tracker_for(send: Send) -> ResponseTracker:
    """The tracker behind ``send`` if it is one, else a new tracker wrapping it."""
    if type(send) is MethodType and send.__func__ is _TRACK:
        return send.__self__  # type: ignore[no-any-return, return-value]
    return ResponseTracker(send)


def tracked(send: Send) -> tuple[ResponseTracker, Send]:
    """``(tracker, send_to_pass_down)``: reuses the tracker behind ``send`` when there is one."""
    if type(send) is MethodType and send.__func__ is _TRACK:
        return send.__self__, send  # type: ignore[return-value]
    tracker = ResponseTracker(send)
    return tracker, tracker.track


_SEND_FAILED = "_lyre_send_failed"


def mark_send_failed(exc: Exception) -> Exception:
    """Tag ``exc`` (a ``ClientDisconnect`` made from the server's ``send`` raising) as the server's news.

    lyre ends a request quietly on a ``ClientDisconnect`` met while the body was read; one made from
    a failed ``send`` must instead reach the server unchanged (it decides what a broken send means).
    """
    setattr(exc, _SEND_FAILED, True)
    return exc


def ends_quietly(exc: BaseException) -> bool:
    """Whether a ``ClientDisconnect`` may end the request without reaching the server (not from ``send``)."""
    return not getattr(exc, _SEND_FAILED, False)


def _lookup_exception_handler(exc_handlers: ExceptionHandlers, exc: Exception) -> ExceptionHandler | None:
    for cls in type(exc).__mro__:
        handler = exc_handlers.get(cls)
        if handler is not None:
            return handler
    return None


def find_handler(scope: Scope, exc: Exception) -> ExceptionHandler | None:
    """The handler registered for ``exc`` (status code first for HTTPException, then by class)."""
    pair = scope.get(HANDLERS_SCOPE_KEY)
    if pair is None:
        return None
    class_handlers, status_handlers = pair
    if isinstance(exc, HTTPException):
        handler = status_handlers.get(exc.status_code)
        if handler is not None:
            return handler  # type: ignore[no-any-return]
    return _lookup_exception_handler(class_handlers, exc)


async def handle_exception(
    exc: Exception, conn: Request | WebSocket, scope: Scope, receive: Receive, tracker: ResponseTracker
) -> None:
    """Answer ``exc`` with its registered handler, or re-raise it when there is none."""
    handler = find_handler(scope, exc)
    if handler is None:
        raise exc
    if tracker.started:
        raise RuntimeError("Caught handled exception, but response already started.") from exc
    try:
        response = await _run_handler(handler, conn, exc)
        if response is not None:
            if not is_plain_response(response.__class__):
                # As in the endpoint adapter: such a response sends from its own task if need be.
                await leave_dispatch_task()
            await response(scope, receive, tracker.track)
    finally:
        # Re-raised singletons must not keep request objects alive through their traceback.
        exc.__traceback__ = None


async def _run_handler(handler: ExceptionHandler, conn: Request | WebSocket, exc: Exception) -> Any:
    if is_async_callable(handler):
        return await handler(conn, exc)  # type: ignore[arg-type, misc]
    return await run_in_threadpool(handler, conn, exc)  # type: ignore[arg-type]


async def handler_response(exc: Exception, conn: Request | WebSocket, scope: Scope) -> Any:
    """The response the application's registered handler gives for ``exc`` (``None``: no handler).

    For layers outside the exception middleware that answer in the application's name (the
    body limit's 413 in place of a response), so one exception has one answer however it arises.
    """
    handler = find_handler(scope, exc)
    if handler is None:
        return None
    return await _run_handler(handler, conn, exc)


def wrap_app_handling_exceptions(app: ASGIApp, conn: Request | WebSocket) -> ASGIApp:
    """An ASGI app running ``app`` and answering its exceptions with the registered handlers."""

    async def wrapped_app(scope: Scope, receive: Receive, send: Send) -> None:
        tracker, tracked_send = tracked(send)
        try:
            await app(scope, receive, tracked_send)
        except Exception as exc:
            await handle_exception(exc, conn, scope, receive, tracker)

    return wrapped_app
