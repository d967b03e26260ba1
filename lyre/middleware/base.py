"""``BaseHTTPMiddleware``: write a middleware as ``dispatch(request, call_next) -> Response``.

How one request flows (same observable contract as Starlette 1.10):

* ``__call__`` opens a task group around ``dispatch``. ``call_next`` starts the downstream app as a
  child task of that group and waits for its ``http.response.start``; it then returns a response
  object whose body is pulled from the app, message by message, through a one-message handoff
  (``_Handoff``, a lighter memory object stream: bounded memory, the app stays at most a message
  ahead of the client).
* The app runs in its own task, so it may send from any task it likes (its own task group, a
  streaming response's worker): only public anyio primitives are involved, and asyncio and trio
  behave the same. That task starts with a copy of the context ``dispatch`` has when it calls
  ``call_next``: values set before ``call_next`` are visible in the endpoint and its background
  tasks; values set below are not visible in ``dispatch`` afterwards (nor above the middleware).
* The app's last body message (or ``pathsend``) is handed over and then held until the response
  ``dispatch`` returned has been sent completely, so background tasks run after the client got
  the whole response. From then on the app's ``receive()`` reports ``http.disconnect`` and its
  sends are dropped (a send that announces more body stops the app instead, so an endless stream
  whose response was replaced cannot run forever).
* Request body bookkeeping is shared both ways with the ``Request`` given to ``dispatch``: a body
  ``dispatch`` read is replayed to the app as one ``http.request`` message (an empty one if
  ``dispatch`` streamed it to the end); a body the app consumed makes ``request.stream()`` in
  ``dispatch`` raise ``RuntimeError("Stream consumed")``; a disconnect either side saw is seen by
  the other without asking the server again.
* Errors: an app error before the response starts is raised from ``call_next``; one after it is
  raised from the middleware once the response is out. An error in ``dispatch`` (or while sending
  its response, e.g. the server's ``send`` raising ``OSError``) cancels the app and propagates
  unchanged. lyre keeps one quiet case: ``ClientDisconnect`` escaping ``dispatch`` (the client went
  away while the body was read) ends the request without an error.
* The same-task tier (lyre): when all below is exactly lyre's own dispatch and the request goes to
  a plain ``Route``, the app runs in dispatch's task instead, driven by ``lyre._same_task`` and
  suspended at each response message; a response that may send from other tasks moves it to a
  task of its own before sending anything, and the rest is the general path. Same contract.
* lyre decision: if the wait in ``call_next`` is interrupted (a timeout around it), the app is
  cancelled, since nobody will ever read its response.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Coroutine, MutableMapping
from typing import Any, NoReturn, TypeVar, cast

import anyio
import anyio.abc
import anyio.lowlevel

from lyre import _same_task
from lyre._utils import create_collapsing_task_group
from lyre.requests import ClientDisconnect, Request
from lyre.responses import Response
from lyre.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "AsyncContentStream",
    "BaseHTTPMiddleware",
    "BodyStreamGenerator",
    "DispatchFunction",
    "RequestResponseEndpoint",
    "create_collapsing_task_group",
]

RequestResponseEndpoint = Callable[[Request], Awaitable[Response]]
DispatchFunction = Callable[[Request, RequestResponseEndpoint], Awaitable[Response]]
BodyStreamGenerator = AsyncGenerator[bytes | MutableMapping[str, Any], None]
AsyncContentStream = AsyncIterable[str | bytes | memoryview | MutableMapping[str, Any]]
T = TypeVar("T")

# Where the app stands in reading the request body.
_BODY_AHEAD = 0  # still to come (from the server, or replayed from what dispatch read)
_BODY_READ = 1  # delivered; only a disconnect can follow


class _Discarded(BaseException):
    """Raised in the app when it sends more body for a response nobody will read any more.

    A ``BaseException`` so that ``except Exception`` in the app does not turn it into a 500.
    """


def _only_discarded(exc: BaseException) -> bool:
    if isinstance(exc, _Discarded):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(_Discarded)[1] is None
    return False


def _is_last(message: Message, trailers: bool) -> bool:
    """Whether ``message`` completes the app's response."""
    kind = message["type"]
    if kind == "http.response.body":
        return not trailers and not bool(message.get("more_body", False))
    if kind == "http.response.trailers":
        return not bool(message.get("more_trailers", False))
    return bool(kind == "http.response.pathsend")


class _Handoff:
    """One-message channel from the app's tasks to the response being sent.

    What a zero-buffer memory object stream does here, for less: no checkpoint and no event when
    nobody has to wait (a whole response usually crosses without either side blocking twice).
    """

    __slots__ = ("broken", "ended", "full", "message", "reader", "writer")

    def __init__(self) -> None:
        self.message: Message | None = None
        self.full = False
        self.ended = False  # the app is done sending
        self.broken = False  # nobody reads any more
        self.reader: anyio.Event | None = None
        self.writer: anyio.Event | None = None

    async def put(self, message: Message) -> bool:
        """Hand ``message`` over (waiting while the slot is taken); ``False`` if nobody reads."""
        while self.full and not self.broken:
            writer = self.writer
            if writer is None:
                writer = self.writer = anyio.Event()
            await writer.wait()
        if self.broken:
            return False
        self.message = message
        self.full = True
        reader = self.reader
        if reader is not None:
            self.reader = None
            reader.set()
        return True

    async def get(self) -> Message:
        """The next message; ``anyio.EndOfStream`` once the app is done and all was read."""
        while not self.full:
            if self.ended:
                raise anyio.EndOfStream
            reader = self.reader
            if reader is None:
                reader = self.reader = anyio.Event()
            await reader.wait()
        message = self.message
        assert message is not None
        self.message = None
        self.full = False
        self._wake_writers()
        return message

    def end(self) -> None:
        self.ended = True
        reader = self.reader
        if reader is not None:
            self.reader = None
            reader.set()

    def abandon(self) -> None:
        self.broken = True
        self.message = None
        self.full = False
        self._wake_writers()

    def _wake_writers(self) -> None:
        writer = self.writer
        if writer is not None:
            self.writer = None
            writer.set()


def _same_task_below(app: ASGIApp, scope: Scope) -> bool:
    """Whether ``call_next`` may drive ``app`` in dispatch's task (the same-task tier).

    Only when all that lies below is exactly lyre's own dispatch (``type(x) is``, no subclass, no
    user middleware) and it will hand this request to a plain ``Route``'s endpoint adapter: that
    code starts no task and holds no cancel scope across a send, and the adapter leaves the task
    before sending a response that might (``_same_task.leave_dispatch_task``).
    """
    known = _KNOWN
    if not known:
        _load_known()
    limiters, fused, responder_key, full, route_class, selection_key = known
    if app.__class__ in limiters:
        responder = scope.get(responder_key)
        if responder is None or responder.declared_too_large:
            return False
        app = app.app  # type: ignore[attr-defined]
    if app.__class__ is not fused:
        return False
    selection = app.router.select(scope)  # type: ignore[attr-defined]
    match, route, _ = selection
    if match is full and route.__class__ is route_class and route.app is route._inline_app:  # type: ignore[union-attr]
        # PERF (middleware): the dispatch below takes this selection instead of selecting again
        # (``FusedExceptionMiddleware``); measured (callgrind): 234.1k vs 243.2k instructions per
        # request (-3.7 %), for +0.4k on the cells without a BaseHTTPMiddleware (the scope lookup).
        scope[selection_key] = selection
        return True
    return False


#: ``(limiter classes, FusedExceptionMiddleware, RESPONDER_SCOPE_KEY, Match.FULL, Route,
#: SELECTION_SCOPE_KEY)``, loaded
#: on first use (those modules import this one's users). PERF (middleware): cached, not imported per
#: call; measured: 0.064 µs vs 3.4 µs per call (53x).
_KNOWN: list[Any] = []


def _load_known() -> None:
    from lyre._fastpath import SELECTION_SCOPE_KEY, FusedExceptionMiddleware
    from lyre.middleware.body_limit import (
        RESPONDER_SCOPE_KEY,
        RequestBodyLimitMiddleware,
        _DefaultBodyLimitMiddleware,
    )
    from lyre.routing import Match, Route

    limiters = frozenset({RequestBodyLimitMiddleware, _DefaultBodyLimitMiddleware})
    _KNOWN[:] = [
        limiters,
        FusedExceptionMiddleware,
        RESPONDER_SCOPE_KEY,
        Match.FULL,
        Route,
        SELECTION_SCOPE_KEY,
    ]


class _Call:
    """Everything one request through the middleware shares: dispatch, the app task, the response."""

    # PERF (middleware): rarely-changed per-request fields are class attributes until assigned;
    # measured: 0.27 µs vs 0.39 µs per _Call() (1.5x).
    started = False  # call_next was called
    finished = False  # the response went out (or the request is over): the app is on its own
    app_disconnected = False  # the app was told http.disconnect; it stays so
    body_state = _BODY_AHEAD
    trailers = False
    app_error: Exception | None = None
    error_raised = False
    released: anyio.Event | None = None
    waiting: set[anyio.CancelScope] | None = None
    debug: list[Message] | None = None
    app_scope: anyio.CancelScope | None = None
    handoff: _Handoff | None = None
    body: AsyncGenerator[bytes | MutableMapping[str, Any], None] | None = None
    group: anyio.abc.TaskGroup
    # The same-task tier: the app's coroutine, driven in dispatch's task (see ``_same_task``).
    same_task = False  # chosen by ``BaseHTTPMiddleware.__call__`` for this request
    coro: Coroutine[Any, Any, None] | None = None  # suspended at a send, until it returns
    context: contextvars.Context | None = None
    pending: list[Message] | None = None  # what the app sent at its last pause

    def __init__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, request: Request) -> None:
        self.app = app
        self.scope = scope
        self.receive = receive
        self.send = send
        self.request = request

    # -- dispatch's side ---------------------------------------------------------------------------

    async def call_next(self, request: Request) -> Response:
        if self.started:
            raise RuntimeError("call_next() may only be called once per request.")
        self.started = True
        if _same_task_below(self.app, self.scope):
            self.same_task = True
            return await self._call_next_same_task()
        self.handoff = _Handoff()
        self.app_scope = anyio.CancelScope()
        # start_soon copies the current context: the app sees what dispatch set so far, and what
        # it sets stays in its own copy.
        self.group.start_soon(self._run_app)
        return await self._first_response()

    async def _first_response(self) -> Response:
        """The app runs in its own task: wait for its ``http.response.start``."""
        handoff = self.handoff
        assert handoff is not None and self.app_scope is not None
        try:
            first = await handoff.get()
        except anyio.EndOfStream:
            error = self.app_error
            if error is not None:
                self._raise_app_error(error)
            if self.app_disconnected:
                raise ClientDisconnect() from None
            raise RuntimeError("No response returned.") from None
        except BaseException:
            # Interrupted (a timeout around call_next): nobody will read this response.
            self.app_scope.cancel()
            raise
        if first["type"] != "http.response.start":
            self.app_scope.cancel()
            raise RuntimeError(f"Expected 'http.response.start' from the app, got {first['type']!r}.")
        self.trailers = bool(first.get("trailers", False))
        self.body = self._body(handoff.get)
        return _StreamingResponse(self, first, self.body)

    def _raise_app_error(self, error: Exception) -> NoReturn:
        """Raise the app's error from ``call_next``, the same way on both tiers.

        It surfaces as the end of the app's message stream is handled (that end-of-stream is its
        suppressed context); what the error came from stays its cause.
        """
        self.error_raised = True
        try:
            raise anyio.EndOfStream
        except anyio.EndOfStream:
            origin = error.__cause__ if error.__cause__ is not None else error.__context__
            raise error from origin

    # -- the same-task tier ------------------------------------------------------------------------

    async def _call_next_same_task(self) -> Response:
        """Run the app in this task, in a copy of dispatch's context, up to its first message.

        Taken only below exactly lyre's own dispatch (see ``BaseHTTPMiddleware.__call__``); a
        response that may send from other tasks makes the app continue in a task of its own
        (``_escape``), so from then on this request follows the general path.
        """
        context = self.context = contextvars.copy_context()
        self.pending = []
        coro = self.coro = cast(
            "Coroutine[Any, Any, None]", self.app(self.scope, self.app_receive, self.same_task_send)
        )
        try:
            state = await _same_task.drive(coro, context)
        except Exception as exc:
            self.coro = None
            self._raise_app_error(exc)
        except BaseException:
            self.coro = None
            raise
        if state == _same_task.ESCAPED:
            self._escape()
            return await self._first_response()
        if state == _same_task.FINISHED:
            self.coro = None
            if self.app_disconnected:
                raise ClientDisconnect()
            raise RuntimeError("No response returned.")
        first = self.pending.pop(0)
        if first["type"] != "http.response.start":
            self.abandon_same_task()
            raise RuntimeError(f"Expected 'http.response.start' from the app, got {first['type']!r}.")
        self.trailers = bool(first.get("trailers", False))
        self.body = self._body(self._next_same_task)
        return _StreamingResponse(self, first, self.body)

    def _escape(self) -> None:
        """The suspended app continues in a task of its own: the general path from here on."""
        self.same_task = False
        self.handoff = _Handoff()
        self.app_scope = anyio.CancelScope()
        self.group.start_soon(self._run_app)

    async def same_task_send(self, message: Message) -> None:
        """The app's ``send`` in the same-task tier: a response message pauses the app."""
        if not self.same_task:
            await self.app_send(message)
            return
        kind = message["type"]
        if kind == "http.response.early_hint" or kind == "http.response.debug":
            await self.app_send(message)  # passed on (or kept) at once, as on the general path
            return
        if self.finished:
            if kind == "http.response.body" and message.get("more_body", False):
                raise _Discarded()
            return
        if not _same_task.stepping():
            raise RuntimeError(
                "BaseHTTPMiddleware: a response message was sent from a task the endpoint started; "
                "send the response from the endpoint's own task"
            )
        pending = self.pending
        assert pending is not None
        pending.append(message)
        await _same_task.pause()

    async def _next_same_task(self) -> Message:
        """The app's next message, resuming it if need be; ``anyio.EndOfStream`` once it is done."""
        pending = self.pending
        assert pending is not None and self.context is not None
        while not pending:
            coro = self.coro
            if coro is None:
                raise anyio.EndOfStream
            try:
                state = await _same_task.drive(coro, self.context)
            except Exception as exc:
                # As on the general path: raised from the middleware once the response is out.
                self.coro = None
                if not _only_discarded(exc):
                    self.app_error = exc
                raise anyio.EndOfStream from None
            except BaseException:
                self.coro = None
                raise
            if state == _same_task.FINISHED:
                self.coro = None
                raise anyio.EndOfStream
            if state == _same_task.ESCAPED:  # only lyre's own code is driven: never after a send
                self.abandon_same_task()
                raise RuntimeError("A response left the dispatch task after it had started.")
        return pending.pop(0)

    async def finish_same_task(self) -> None:
        """After the response went out: let the app run to its end (its background tasks).

        Its sends are dropped from now on and never pause, so it is driven to its end here, even
        past a point where it would otherwise have left this task.
        """
        coro = self.coro
        context = self.context
        assert coro is not None and context is not None
        try:
            while await _same_task.drive(coro, context) != _same_task.FINISHED:
                pass
        except Exception as exc:
            if not _only_discarded(exc):
                self.app_error = exc
        finally:
            self.coro = None

    def abandon_same_task(self) -> None:
        """The app will not be resumed (dispatch failed): close it where it is suspended.

        Once handed to a task of its own, the app is that task's to run (and cancel) instead.
        """
        if not self.same_task:
            return
        coro = self.coro
        self.coro = None
        if coro is not None:
            try:
                coro.close()
            except RuntimeError:
                pass

    async def _body(self, next_message: Callable[[], Awaitable[Message]]) -> BodyStreamGenerator:
        """The response body as the app sends it: chunks as ``bytes``, other messages as dicts.

        ``next_message``: the hand-off's ``get`` (general path) or ``_next_same_task``.
        """
        trailers = self.trailers
        while True:
            try:
                message = await next_message()
            except anyio.EndOfStream:
                return
            if message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                if chunk:
                    yield chunk
                if not message.get("more_body", False):
                    if not trailers:
                        return
                    yield {"type": "http.response.body", "body": b"", "more_body": False}
            else:
                yield message
                if _is_last(message, trailers):
                    return

    def finish(self) -> None:
        """The response went out (or never will): release the app and stop talking to it."""
        self.finished = True
        waiting = self.waiting
        if waiting:
            for scope in waiting:
                scope.cancel()
        if self.handoff is not None:
            self.handoff.abandon()
        released = self.released
        if released is not None:
            released.set()

    # -- the app's side ----------------------------------------------------------------------------

    async def _run_app(self) -> None:
        assert self.app_scope is not None and self.handoff is not None
        try:
            with self.app_scope:
                coro, context = self.coro, self.context
                if coro is not None and context is not None:
                    # Escaped from the same-task tier: carry on where the app left off. A later
                    # request to leave (a handler's response after a failed one) needs nothing
                    # more: this is the app's own task already.
                    self.coro = None
                    while await _same_task.drive(coro, context) != _same_task.FINISHED:
                        pass
                else:
                    await self.app(self.scope, self.app_receive, self.app_send)
        except BaseException as exc:
            if not _only_discarded(exc):
                if not isinstance(exc, Exception):
                    raise
                self.app_error = exc
        finally:
            self.handoff.end()

    async def app_send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.early_hint":
            if not self.finished:
                await self.send(message)
            return
        if kind == "http.response.debug":
            if self.debug is None:
                self.debug = []
            self.debug.append(message)
            return
        more = kind == "http.response.body" and message.get("more_body", False)
        if not self.finished:
            if kind == "http.response.start":
                self.trailers = bool(message.get("trailers", False))
            handoff = self.handoff
            assert handoff is not None
            if handoff.ended:
                pass  # sent from a task that outlived the app's own: nobody will read it
            elif await handoff.put(message):
                if _is_last(message, self.trailers) and not self.finished:
                    # Hold the app (and so its background tasks) until the client has it all.
                    released = self.released
                    if released is None:
                        released = self.released = anyio.Event()
                    await released.wait()
                return
        if more:
            raise _Discarded()
        await anyio.lowlevel.checkpoint()

    async def app_receive(self) -> Message:
        if self.app_disconnected or self.finished:
            self.app_disconnected = True
            return {"type": "http.disconnect"}
        request = self.request
        if self.body_state == _BODY_AHEAD:
            # What dispatch read is handed on (even if the client left since), so the app is not
            # left waiting for it.
            body: bytes | None = getattr(request, "_body", None)
            if body is not None:
                self.body_state = _BODY_READ
                return {"type": "http.request", "body": body, "more_body": False}
            if request._stream_consumed:
                self.body_state = _BODY_READ
                return {"type": "http.request", "body": b"", "more_body": False}
        if request._is_disconnected:
            return self._disconnected()
        scope = anyio.CancelScope()
        waiting = self.waiting
        if waiting is None:
            waiting = self.waiting = set()
        waiting.add(scope)
        try:
            with scope:
                message = await self.receive()
        finally:
            waiting.discard(scope)
        if scope.cancelled_caught:  # the response went out while the app was waiting
            return self._disconnected()
        kind = message["type"]
        if kind == "http.request":
            if self.body_state == _BODY_AHEAD and not message.get("more_body", False):
                self.body_state = _BODY_READ
                request._stream_consumed = True  # dispatch can no longer read it
        elif kind == "http.disconnect":
            return self._disconnected()
        return message

    def _disconnected(self) -> Message:
        self.app_disconnected = True
        self.request._is_disconnected = True
        return {"type": "http.disconnect"}


class _StreamingResponse(Response):
    """What ``call_next`` returns: the app's status and headers, its body still to be pulled.

    ``body_iterator`` yields the body chunks (and non-body messages such as ``pathsend`` as dicts)
    as the app produces them; ``dispatch`` may replace it.
    """

    media_type = None
    background = None

    def __init__(self, call: _Call, start: Message, body: AsyncIterable[Any]) -> None:
        self.status_code: int = start["status"]
        headers = start.get("headers")
        if headers is None:
            headers = []
        elif type(headers) is not list:
            headers = [(bytes(k), bytes(v)) for k, v in headers]
        self.raw_headers = headers
        self.body_iterator: AsyncIterable[Any] = body
        self._call = call
        self._start = start

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        debug = self._call.debug
        if debug:
            for message in debug:
                await send(message)
        start = self._start
        start["status"] = self.status_code
        start["headers"] = self.raw_headers
        await send(start)
        closed = False
        charset = self.charset
        async for item in self.body_iterator:
            if isinstance(item, bytes | memoryview):
                await send({"type": "http.response.body", "body": item, "more_body": True})
            elif isinstance(item, str):
                await send({"type": "http.response.body", "body": item.encode(charset), "more_body": True})
            else:
                await send(item)
                kind = item["type"]
                closed = kind == "http.response.pathsend" or kind == "http.response.trailers"
        if not closed:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        if self.background is not None:
            await self.background()


class BaseHTTPMiddleware:
    """Subclass and implement ``dispatch(request, call_next)``, or pass ``dispatch=``."""

    def __init__(self, app: ASGIApp, dispatch: DispatchFunction | None = None) -> None:
        self.dispatch_func = dispatch if dispatch is not None else self.dispatch
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan and websocket pass straight through
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        call = _Call(self.app, scope, receive, send, request)
        failure: Exception | None = None
        quiet = False
        try:
            async with anyio.create_task_group() as group:
                call.group = group
                try:
                    try:
                        response = await self.dispatch_func(request, call.call_next)
                    except ClientDisconnect:
                        quiet = True  # lyre: the client left while its request was read
                        raise
                    await response(scope, call.app_receive, send)
                except Exception as exc:
                    # Kept out of the task group (so it is not wrapped in a group): stop the app.
                    failure = exc
                    if call.app_scope is not None:
                        call.app_scope.cancel()
                    call.abandon_same_task()
                except BaseException:
                    call.abandon_same_task()
                    raise
                finally:
                    call.finish()
        except BaseExceptionGroup as group_error:
            if len(group_error.exceptions) != 1:
                raise
            only = group_error.exceptions[0]
            raise only from only.__cause__
        finally:
            body = call.body
            if body is not None:
                await _close_quietly(body)
        if call.coro is not None:
            # The same-task tier: the app is still suspended at its last send. Leaving the task
            # group gave other tasks a turn (as if the app had a task of its own), so requests
            # served concurrently complete their responses before its background tasks start.
            await call.finish_same_task()
        if failure is not None:
            if quiet:
                return
            raise failure
        error = call.app_error
        if error is not None and not call.error_raised:
            if isinstance(error, ClientDisconnect):
                return  # lyre: the app read a body the client never finished sending
            raise error

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        raise NotImplementedError()  # pragma: no cover


async def _close_quietly(body: AsyncGenerator[Any, None]) -> None:
    """Close the body generator ``call_next`` made, unless something else is still iterating it."""
    try:
        await body.aclose()
    except RuntimeError:
        pass
