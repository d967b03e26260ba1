"""``BaseHTTPMiddleware``: ``dispatch(request, call_next)`` middleware without a task per request.

How ``call_next`` works (lyre design, same observable contract as Starlette):

* The downstream app runs **in the caller's task**, as a coroutine that this module steps by hand
  (``_Exchange._step``): every value the app yields to the event loop is passed straight through, so
  it runs exactly as if awaited. When the app calls ``send``, its coroutine *pauses* (it yields a
  private marker that never reaches the event loop) and ``call_next`` returns the response to
  ``dispatch``. The response's body is pulled by resuming the app chunk by chunk, so streaming keeps
  bounded memory and the app's background tasks run only after the whole response went out.
  No task group, task, memory stream or lock is created on this path.
* Because dispatch and the app share one task, context variables set in ``dispatch`` before
  ``call_next`` are visible in the endpoint, **and** values the endpoint sets are visible in
  ``dispatch`` afterwards (lyre decision: Starlette runs the app in a separate task, which hides the
  latter).
* Below an ASGI < 2.4 server the app is shown ``spec_version`` 2.4 while it starts its response
  (its sends come to this exchange, which stops the app when the client is gone), so lyre's
  streaming responses send from their own task rather than from a task group watching
  ``receive()``; the consumer polls ``receive()`` between streamed chunks for the disconnect
  instead. The scope's ``asgi`` entry is restored once the response has started.
* When an app does send from another task anyway (its own task group), the exchange hands the
  messages over: if the app's task waits in ``receive()`` it parks there and the other task wakes
  the consumer through a cancel scope; on asyncio, whatever future the app's task waits on is
  awaited through a private wake-up future the sending task can complete (the shape of
  sse-starlette's ``EventSourceResponse``). Still no extra task is spawned by lyre. Known gap: on
  trio, an app whose own task waits elsewhere while children send (``EventSourceResponse``) is
  buffered until it ends, so an endless stream never starts; likewise when ``call_next`` itself
  runs in a separate task (``asyncio.wait_for``, a task group in dispatch) and the app sends from
  a task group.
* A body read in ``dispatch`` stays readable downstream: it is handed to the app through
  ``receive()`` as one ``http.request`` message (so a middleware below that rewrites request
  messages sees it, as in Starlette).
* A client disconnect never surfaces as an error in the server log: ``ClientDisconnect`` escaping
  ``dispatch`` (or raised while sending the response) ends the request quietly.

Limitation: a cancel scope opened in ``dispatch`` around ``call_next`` and closed after it (for
example ``with anyio.fail_after(5): response = await call_next(request)``) works as long as the app
does not keep a cancel scope of its own open while it sends (lyre's and Starlette's responses do
not, see above); an app that streams from inside its own task group and a timeout around
``call_next`` cannot be combined.
"""

from __future__ import annotations

import asyncio
import math
import sys
import types
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Generator, MutableMapping
from typing import Any, TypeVar

import anyio
import anyio.lowlevel

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

# Scope keys under which ``Request`` caches the body and its JSON (owned by lyre.requests).
_BODY_KEY = "lyre.body"
_JSON_KEY = "lyre.json"

# States of the downstream app coroutine.
_IDLE = 0  # created, or paused after a ``send``: resume it with ``None``
_PARKED = 1  # paused inside ``receive()`` waiting for a disconnect: resume it with a message
_DONE = 2  # returned or raised

_DISCONNECT: Message = {"type": "http.disconnect"}
_INTERRUPTED: Any = object()


def _at_least_2_4(asgi: Any) -> bool:
    if not asgi:
        return False
    spec = asgi.get("spec_version", "2.0")
    if spec == "2.4" or spec == "2.5":
        return True
    try:
        return tuple(int(part) for part in spec.split(".")) >= (2, 4)
    except (TypeError, ValueError, AttributeError):
        return False


class _Discarded(BaseException):
    """Thrown into the downstream app to stop it once its response is no longer wanted.

    A ``BaseException`` so that ``except Exception`` handlers in the app do not turn it into a 500.
    """


def _is_discarded(exc: BaseException) -> bool:
    if isinstance(exc, _Discarded):
        return True
    if isinstance(exc, BaseExceptionGroup):
        rest = exc.split(_Discarded)[1]
        return rest is None
    return False


async def _await(awaitable: Awaitable[None]) -> None:
    await awaitable


class _Exchange:
    """One request through a ``BaseHTTPMiddleware``: drives the downstream app for ``call_next``."""

    # PERF: rarely-changed per-request flags are class attributes until first assignment, so
    # creating an exchange costs a handful of stores.
    coro: Any = None
    state = _IDLE
    stepping = False
    error: BaseException | None = None
    error_reported = False
    body_done = False
    dispatch_read = False
    replayed = False
    disconnected = False
    complete = False
    discard = False
    debug: list[Message] | None = None
    waker: anyio.CancelScope | None = None
    drained: anyio.Event | None = None
    replay_body = b""
    upgraded = False
    stash: list[Message] | None = None
    blocked: asyncio.Future[Any] | None = None
    wake: asyncio.Future[None] | None = None

    def __init__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        self.app = app
        self.scope = scope
        self.receive = receive
        self.send = send
        self.pending: list[Message] = []

    # -- driving the app coroutine ----------------------------------------------------------------

    def __await__(self) -> Generator[Any, Any, Any]:
        # The pause point inside the app: the marker is the exchange itself, which ``_step``
        # recognises (a nested exchange's marker is passed on to the stepper that owns it).
        return (yield self)

    @types.coroutine
    def _step(self, value: Any = None, exc: BaseException | None = None) -> Generator[Any, Any, None]:
        """Run the app until it pauses in ``send``/``receive``, finishes, or (asyncio) until another
        task hands over a message while the app waits on something else."""
        coro = self.coro
        blocked = self.blocked
        if blocked is not None:
            # The app is still waiting on this future from an interrupted step.
            self.blocked = None
            if exc is not None:
                if not blocked.done():
                    blocked.cancel()
            elif not blocked.done():
                outcome = yield from self._wait_blocked(blocked)
                if outcome is _INTERRUPTED:
                    return
                exc = outcome
        while True:
            self.stepping = True
            try:
                if exc is None:
                    signal = coro.send(value)
                else:
                    signal = coro.throw(exc)
            except StopIteration:
                self.state = _DONE
                return
            except BaseException as error:
                self.state = _DONE
                self.error = error
                return
            finally:
                self.stepping = False
            if signal is self:
                return
            value = None
            exc = None
            if isinstance(signal, asyncio.Future) and signal._asyncio_future_blocking:
                # asyncio: wait on the app's future in a way another task can interrupt (a
                # response streaming from a child task while the app's task waits for it).
                outcome = yield from self._wait_blocked(signal)
                if outcome is _INTERRUPTED:
                    return
                exc = outcome
                continue
            # PERF: anything else is for the event loop (or an outer exchange): pass it through.
            try:
                value = yield signal
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as error:
                exc = error

    def _wait_blocked(self, future: asyncio.Future[Any]) -> Generator[Any, Any, Any]:
        """Wait until ``future`` is done (``None``), or another task wakes us (``_INTERRUPTED``).

        Returns an exception to throw into the app if waiting was interrupted by one other than
        the cancellation of ``future`` itself.
        """
        # Mirrors what an asyncio Task does with a yielded future, on a private wake-up future.
        future._asyncio_future_blocking = False
        wake = future.get_loop().create_future()

        def done(_: Any) -> None:
            if not wake.done():
                wake.set_result(None)

        future.add_done_callback(done)
        self.wake = wake
        wake._asyncio_future_blocking = True
        try:
            yield wake
        except GeneratorExit:
            future.remove_done_callback(done)
            self.wake = None
            self.coro.close()
            raise
        except BaseException as error:
            # Our task was cancelled (or an outer exchange threw): as a Task would, cancel the
            # future the app awaits, so the app sees the cancellation where it waits.
            future.remove_done_callback(done)
            self.wake = None
            if isinstance(error, asyncio.CancelledError) and not future.done():
                future.cancel(*error.args)
                return None
            return error
        future.remove_done_callback(done)
        self.wake = None
        if wake.cancelled():
            # An outer exchange cancelled our wake-up future on behalf of the task.
            if not future.done():
                future.cancel()
                return None
            return asyncio.CancelledError()
        if future.done():
            return None
        self.blocked = future
        return _INTERRUPTED

    async def next_message(self) -> Message | None:
        """The next message the app sent, resuming it as needed; ``None`` once it has finished."""
        pending = self.pending
        while True:
            if pending:
                return pending.pop(0)
            drained = self.drained
            if drained is not None:
                # Everything sent so far has been handled: release senders waiting in other tasks.
                self.drained = None
                drained.set()
            state = self.state
            if state == _DONE:
                return None
            if state == _IDLE:
                await self._step()
            else:
                await self._wait_parked()

    async def _wait_parked(self) -> None:
        """The app waits in ``receive()``; serve it, or wake up when another task sends."""
        scope = anyio.CancelScope()
        self.waker = scope
        try:
            with scope:
                message = await self.receive()
        except BaseException as exc:
            self.waker = None
            if isinstance(exc, anyio.get_cancelled_exc_class()):
                # Most likely the app's own cancel scope (e.g. its task group): let the app see it.
                self.state = _IDLE
                await self._step(None, exc)
                return
            raise
        self.waker = None
        if scope.cancelled_caught:
            return
        self._track(message)
        self.state = _IDLE
        await self._step(message)

    def _driven_by_owner_task(self) -> bool:
        """Whether the task running the middleware's ``__call__`` is the one stepping the app."""
        # Only asked before parking (rare): walk the running stack for our own ``__call__`` frame.
        frame = sys._getframe(2)
        code = _CALL_CODE
        while frame is not None:
            if frame.f_code is code and frame.f_locals.get("exchange") is self:
                return True
            frame = frame.f_back  # type: ignore[assignment]
        return False

    def _track(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.request":
            if not message.get("more_body", False):
                self.body_done = True
        elif kind == "http.disconnect":
            self.disconnected = True

    def _release(self) -> None:
        self.pending.clear()
        drained = self.drained
        if drained is not None:
            self.drained = None
            drained.set()

    async def finish(self) -> None:
        """After the response went out: let the app run to its end (background tasks)."""
        self.discard = True
        self._release()
        while self.state != _DONE:
            if self.state == _PARKED:
                self.state = _IDLE
                await self._step(_DISCONNECT)
            else:
                await self._step()
        error = self.error
        if error is not None and not self.error_reported and not _is_discarded(error):
            self.error_reported = True
            raise error

    async def abort(self, exc: BaseException) -> BaseException | None:
        """Stop the app after ``exc`` interrupted dispatch; returns the exception to raise (if any)."""
        self.discard = True
        self._release()
        cancelled = anyio.get_cancelled_exc_class()
        is_cancel = isinstance(exc, cancelled)
        self.state = _IDLE
        await self._step(None, exc if is_cancel else _Discarded())
        while self.state != _DONE:
            if self.state == _PARKED:
                self.state = _IDLE
                await self._step(_DISCONNECT)
            else:
                await self._step()
        error = self.error
        if is_cancel and (error is None or _is_discarded(error)):
            # The app's own cancel scope absorbed the cancellation: it was meant for the app.
            return None
        if is_cancel and error is not None and not isinstance(error, cancelled):
            self.error_reported = True
            return error
        return exc

    # -- the receive/send pair given to the app ---------------------------------------------------

    async def app_receive(self) -> Message:
        if self.complete:
            return _DISCONNECT
        if self.stash:
            stashed = self.stash.pop(0)
            self._track(stashed)
            return stashed
        if self.body_done:
            if self.dispatch_read and not self.replayed:
                # dispatch read the body: hand it on (cached by Request.body(), or gone if streamed).
                self.replayed = True
                return {"type": "http.request", "body": self.replay_body, "more_body": False}
            if self.disconnected:
                return _DISCONNECT
            if (
                self.stepping
                and anyio.current_effective_deadline() != -math.inf
                and self._driven_by_owner_task()
            ):
                # Waiting for a disconnect while the response is produced: park the app here so the
                # consumer can run; it resumes the app with the next message from the client.
                # Not for a poll inside an already-cancelled scope (``Request.is_disconnected()``,
                # which must come back at once), and not when ``call_next`` runs in a task of its
                # own (``asyncio.wait_for``, a task group in dispatch): the app's cancel scopes
                # would then be left open in a task that is about to finish.
                self.state = _PARKED
                message: Message = await self
                return message
        message = await self.receive()
        self._track(message)
        return message

    async def app_send(self, message: Message) -> None:
        kind = message["type"]
        if self.discard:
            if kind == "http.response.body" and message.get("more_body", False):
                raise _Discarded()
            return
        if kind == "http.response.early_hint":
            await self.send(message)
            return
        if kind == "http.response.debug":
            if self.debug is None:
                self.debug = []
            self.debug.append(message)
            return
        self.pending.append(message)
        if self.stepping:
            self.state = _IDLE
            await self
            return
        # Sent from another task (the app spawned it): wake the consumer, and wait until it has
        # handled the message (bounded memory, and ordering: e.g. a StreamingResponse cancels its
        # task group right after its last send).
        self._wake_consumer()
        for _ in range(3):
            if self.state != _IDLE:
                break
            # The app's own task is busy elsewhere; give it a chance to reach its receive() (where
            # it parks, so the consumer can run) before deciding whether to wait.
            await anyio.lowlevel.checkpoint()
        if (self.state == _PARKED or self.wake is not None or self.blocked is not None) and not self.discard:
            drained = self.drained
            if drained is None:
                drained = self.drained = anyio.Event()
            self._wake_consumer()
            await drained.wait()
        # Otherwise the app's task is not parked (it waits for this task, say): never block on the
        # consumer then, or both would wait forever; the message stays queued.

    async def poll_disconnect(self) -> bool:
        """Whether the client is gone, asking ``receive()`` without waiting.

        A request message read on the way is kept for the app (``app_receive`` hands it on).
        """
        if self.disconnected:
            return True
        message: Message | None = None
        with anyio.CancelScope() as poll:
            poll.cancel()
            message = await self.receive()
        if message is not None:
            if message["type"] == "http.disconnect":
                self.disconnected = True
            else:
                if self.stash is None:
                    self.stash = []
                self.stash.append(message)
        return self.disconnected

    def _wake_consumer(self) -> None:
        waker = self.waker
        if waker is not None:
            waker.cancel()
        wake = self.wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def dispatch_receive(self) -> Message:
        """``receive`` for the ``Request`` given to ``dispatch`` (tracks what it consumed)."""
        message = await self.receive()
        kind = message["type"]
        if kind == "http.request":
            self.dispatch_read = True
            if not message.get("more_body", False):
                self.body_done = True
        elif kind == "http.disconnect":
            self.disconnected = True
        return message

    async def call_next(self, request: Request) -> Response:
        if self.coro is not None:
            raise RuntimeError("call_next() may only be called once per request.")
        scope = self.scope
        if self.dispatch_read and _BODY_KEY in scope:
            # The app gets the body through receive() (as in Starlette), so a middleware below that
            # rewrites request messages sees it too; dispatch's own Request keeps its copy.
            self.replay_body = scope.pop(_BODY_KEY)
            scope.pop(_JSON_KEY, None)
        coro = self.app(scope, self.app_receive, self.app_send)
        if type(coro) is not types.CoroutineType:
            coro = _await(coro)
        self.coro = coro
        asgi = scope.get("asgi")
        if not _at_least_2_4(asgi):
            # The app's sends come to this exchange, which reports a gone client by stopping the
            # app, so to the app this is an ASGI 2.4 server: responses then send from their own
            # task instead of a task group that watches receive() (a task group left open while
            # dispatch goes on would break dispatch's own cancel scopes). The disconnect watch
            # moves to the consumer (see _StreamingResponse). The scope is restored once the
            # response has started.
            self.upgraded = True
            scope["asgi"] = {**(asgi or {"version": "3.0"}), "spec_version": "2.4"}
            try:
                message = await self.next_message()
            finally:
                if asgi is None:
                    scope.pop("asgi", None)
                else:
                    scope["asgi"] = asgi
        else:
            message = await self.next_message()
        if message is None:
            error = self.error
            if error is not None:
                self.error_reported = True
                raise error
            if self.disconnected:
                raise ClientDisconnect()
            raise RuntimeError("No response returned.")
        if message["type"] != "http.response.start":
            raise RuntimeError(f"Expected 'http.response.start' from the app, got {message['type']!r}.")
        return _StreamingResponse(self, message)


class _StreamingResponse(Response):
    """What ``call_next`` returns: the app's response, its body still to be pulled from the app."""

    media_type = None
    background = None

    def __init__(self, exchange: _Exchange, start: Message) -> None:
        self.status_code: int = start["status"]
        headers = start.get("headers")
        if headers is None:
            headers = []
        elif type(headers) is not list:
            headers = [(bytes(k), bytes(v)) for k, v in headers]
        self.raw_headers = headers
        self._exchange = exchange
        self._start = start
        self._iterator: AsyncIterable[Any] | None = None

    @property
    def body_iterator(self) -> AsyncIterable[Any]:
        """The body chunks (``bytes``) and non-body messages (dicts) as the app produces them."""
        if self._iterator is None:
            self._iterator = self._iterate()
        return self._iterator

    @body_iterator.setter
    def body_iterator(self, value: AsyncIterable[Any]) -> None:
        self._iterator = value

    async def _iterate(self) -> AsyncGenerator[bytes | MutableMapping[str, Any], None]:
        exchange = self._exchange
        trailers = self._start.get("trailers", False)
        while True:
            message = await exchange.next_message()
            if message is None:
                return
            kind = message["type"]
            if kind == "http.response.body":
                body = message.get("body", b"")
                if body:
                    yield body
                if not message.get("more_body", False) and not trailers:
                    return
            else:
                yield message
                if kind == "http.response.pathsend":
                    return
                if kind == "http.response.trailers" and not message.get("more_trailers", False):
                    return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        exchange = self._exchange
        start = self._start
        start["status"] = self.status_code
        start["headers"] = self.raw_headers
        try:
            if exchange.debug:
                for debug in exchange.debug:
                    await send(debug)
            await send(start)
            iterator = self._iterator
            if iterator is None:
                # PERF: forward the app's own messages (no generator, no new dicts).
                trailers = start.get("trailers", False)
                while True:
                    message = await exchange.next_message()
                    if message is None:
                        await send({"type": "http.response.body", "body": b"", "more_body": False})
                        break
                    await send(message)
                    kind = message["type"]
                    if kind == "http.response.body":
                        if not message.get("more_body", False) and not trailers:
                            break
                        if exchange.upgraded and await exchange.poll_disconnect():
                            # A server below ASGI 2.4 reports a gone client only via receive().
                            raise ClientDisconnect()
                    elif kind == "http.response.pathsend":
                        break
                    elif kind == "http.response.trailers" and not message.get("more_trailers", False):
                        break
            else:
                charset = self.charset
                async for chunk in iterator:
                    if isinstance(chunk, str):
                        chunk = chunk.encode(charset)
                    if isinstance(chunk, bytes | memoryview):
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    else:
                        await send(chunk)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            # ASGI >= 2.4 servers raise OSError from send() when the client has gone away.
            exchange.disconnected = True
            raise ClientDisconnect() from None
        if self.background is not None:
            await self.background()


class BaseHTTPMiddleware:
    """Subclass and implement ``dispatch(request, call_next)``, or pass ``dispatch=``."""

    def __init__(self, app: ASGIApp, dispatch: DispatchFunction | None = None) -> None:
        self.dispatch_func = dispatch if dispatch is not None else self.dispatch
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.app
        if scope["type"] != "http":  # lifespan and websocket pass straight through
            return await app(scope, receive, send)
        exchange = _Exchange(app, scope, receive, send)
        failure: BaseException | None = None
        try:
            request = Request(scope, receive=exchange.dispatch_receive)
            response = await self.dispatch_func(request, exchange.call_next)
            await response(scope, exchange.dispatch_receive, send)
        except BaseException as exc:
            if isinstance(exc, GeneratorExit):
                # This coroutine is being closed (no awaiting possible): close the app with it.
                if exchange.coro is not None:
                    exchange.coro.close()
                raise
            if exchange.coro is None or exchange.state == _DONE:
                if isinstance(exc, ClientDisconnect):
                    return  # lyre: the client is gone; nothing to answer, nothing worth a traceback.
                raise
            failure = exc
        if failure is not None:
            # dispatch (or sending its response) failed while the app was paused: stop the app.
            outcome = await exchange.abort(failure)
            failure = None
            if outcome is None or isinstance(outcome, ClientDisconnect):
                return
            raise outcome
        exchange.complete = True
        if exchange.coro is not None:
            await exchange.finish()

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        raise NotImplementedError()  # pragma: no cover


_CALL_CODE = BaseHTTPMiddleware.__call__.__code__
