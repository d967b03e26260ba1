"""``RequestBodyLimitMiddleware``: bounds the request body; over the limit answers 413.

lyre applications install it by default with ``DEFAULT_MAX_BODY_SIZE`` (16 MiB); pass
``max_body_size=None`` to ``Lyre(...)`` to lift the limit. A declared ``Content-Length`` over the
limit fails before anything is read; chunked bodies are counted as they arrive.
"""

from __future__ import annotations

from lyre._exception_handler import tracked
from lyre.datastructures import Headers
from lyre.exceptions import HTTPException
from lyre.responses import PlainTextResponse
from lyre.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "MAX_BODY_SIZE_SCOPE_KEY",
    "Headers",
    "RequestBodyLimitMiddleware",
    "RequestBodyLimitResponder",
]

MAX_BODY_SIZE_SCOPE_KEY = "starlette.max_body_size"
RESPONDER_SCOPE_KEY = "starlette._body_limit_responder"

#: lyre's default request body limit for applications (Starlette's is unlimited).
DEFAULT_MAX_BODY_SIZE = 16 * 1024 * 1024


class _RequestBodyTooLarge(HTTPException):
    """The body exceeded the limit in force (answers 413 ``Content Too Large``)."""

    def __init__(self) -> None:
        super().__init__(413, detail="Content Too Large")


class _RequestBodyLimitResponseSent(Exception):
    """The limiter replaced the app's response with its own 413; the app is aborted quietly."""


def _declared_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _no_receive() -> Message:  # pragma: no cover - placeholder until __call__
    raise RuntimeError("RequestBodyLimitResponder used before it was called")


async def _no_send(message: Message) -> None:  # pragma: no cover - placeholder until __call__
    raise RuntimeError("RequestBodyLimitResponder used before it was called")


class RequestBodyLimitResponder:
    """Per-request state of the outermost limiter: counts bytes, swaps in a 413 when needed."""

    __slots__ = ("app", "declared_too_large", "max_body_size", "receive", "received", "response_started", "scope", "send")

    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size
        self.received = 0
        self.declared_too_large = False
        self.response_started = False
        self.scope: Scope = {}
        self.receive: Receive = _no_receive
        self.send: Send = _no_send

    def set_limit(self, max_body_size: int) -> None:
        """A nested limiter replaces the limit in force (and fails at once if already over it)."""
        self.max_body_size = max_body_size
        self.scope[MAX_BODY_SIZE_SCOPE_KEY] = max_body_size
        if self.received > max_body_size:
            raise _RequestBodyTooLarge()
        length = _declared_length(self.scope)
        self.declared_too_large = length is not None and length > max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope, self.receive, self.send = scope, receive, send
        length = _declared_length(scope)
        self.declared_too_large = length is not None and length > self.max_body_size
        had_key = MAX_BODY_SIZE_SCOPE_KEY in scope
        previous = scope.get(MAX_BODY_SIZE_SCOPE_KEY)
        scope[MAX_BODY_SIZE_SCOPE_KEY] = self.max_body_size
        scope[RESPONDER_SCOPE_KEY] = self
        # PERF: ``send`` is only wrapped when the declared length is already over the limit;
        # otherwise the per-request response tracker (shared with the error layers) is reused.
        tracker, tracked_send = tracked(send)
        downstream_send = self.send_with_limit if self.declared_too_large else tracked_send
        try:
            await self.app(scope, self.receive_with_limit, downstream_send)
        except _RequestBodyLimitResponseSent:
            pass
        except _RequestBodyTooLarge:
            if self.response_started or tracker.started:
                raise
            await PlainTextResponse("Content Too Large", status_code=413)(scope, receive, send)
        finally:
            del scope[RESPONDER_SCOPE_KEY]
            if had_key:
                scope[MAX_BODY_SIZE_SCOPE_KEY] = previous
            else:
                scope.pop(MAX_BODY_SIZE_SCOPE_KEY, None)

    async def receive_with_limit(self) -> Message:
        if self.declared_too_large:
            raise _RequestBodyTooLarge()
        message = await self.receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.max_body_size:
                raise _RequestBodyTooLarge()
        return message

    async def send_with_limit(self, message: Message) -> None:
        if message["type"] == "http.response.start" and self.declared_too_large and not self.response_started:
            self.response_started = True
            await PlainTextResponse("Content Too Large", status_code=413)(self.scope, self.receive, self.send)
            raise _RequestBodyLimitResponseSent()
        if message["type"] == "http.response.start":
            self.response_started = True
        await self.send(message)


class RequestBodyLimitMiddleware:
    """Limits the total request body of ``http`` requests to ``max_body_size`` bytes."""

    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        assert max_body_size >= 0, "max_body_size must be a non-negative integer"
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        active: RequestBodyLimitResponder | None = scope.get(RESPONDER_SCOPE_KEY)
        if active is not None:
            active.set_limit(self.max_body_size)
            await self.app(scope, receive, active.send_with_limit if active.declared_too_large else send)
            return
        await RequestBodyLimitResponder(self.app, self.max_body_size)(scope, receive, send)
