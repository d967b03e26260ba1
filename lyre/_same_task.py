"""Running an ASGI app inside the caller's task, one send at a time (``BaseHTTPMiddleware``'s fast tier).

``drive(coro, context)`` steps an app's coroutine by the coroutine protocol alone: every value the app
yields to the event loop (an asyncio future, a trio trap) is passed up unchanged through the caller's
own ``await``, and what the loop sends or throws back is passed down, with the app's code run in
``context``. So the app waits on the loop exactly as if it were awaited directly; asyncio and trio
behave the same, and no private attribute of either is read.

Two markers let lyre's own code talk to the driver:

* ``pause()`` (the app's ``send`` in the fast tier) stops the stepping and hands control back to the
  driver's caller, with the app suspended at that ``send``; the next ``drive`` resumes it.
* ``leave_dispatch_task()`` (lyre's endpoint adapter and exception handling, before sending a
  response that may send from other tasks or hold a cancel scope across its sends) stops the
  stepping too and tells the driver that the rest of the app must run in a task of its own.

Why this is safe: the fast tier is taken only when everything between the middleware and the
endpoint is lyre's own code, which opens no cancel scope and starts no task around a ``send``; the
only sends that pause are those of a response whose class sends like ``Response`` (start, then one
body, from the calling task). Any other response leaves first, before it sends anything, and the
suspended coroutine, holding no cancel scope at that point, continues in a task of its own.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Coroutine, Generator
from contextvars import Context
from typing import Any

__all__ = [
    "ESCAPED",
    "FINISHED",
    "PAUSED",
    "drive",
    "is_plain_response",
    "leave_dispatch_task",
    "pause",
    "stepping",
]

PAUSED = 0  # the app waits in ``pause()`` (a message for the caller)
ESCAPED = 1  # the app asked to run in a task of its own
FINISHED = 2  # the app returned

_PAUSE: Any = object()
_ESCAPE: Any = object()


class _Stepping(threading.local):
    """How many drivers are stepping an app on this thread right now (their app's code is running).

    Code that runs in a task the app started sees ``0``: such a task runs only while the driven
    app waits on the event loop, never inside a step.
    """

    depth = 0


_STEPPING = _Stepping()


def stepping() -> bool:
    """Whether the running code is a driven app's, in its driver's task."""
    return _STEPPING.depth > 0


@types.coroutine
def _marker(value: Any) -> Generator[Any, None, None]:
    yield value


async def pause() -> None:
    """Suspend the driven app here until its driver resumes it."""
    await _marker(_PAUSE)


async def leave_dispatch_task() -> None:
    """If this code is a driven app's, continue the app in a task of its own (else nothing)."""
    if _STEPPING.depth:
        await _marker(_ESCAPE)


@types.coroutine
def drive(coro: Coroutine[Any, Any, Any], context: Context) -> Generator[Any, Any, int]:
    """Step ``coro`` in ``context`` until it pauses, asks to leave, or returns; its errors propagate."""
    value: Any = None
    error: BaseException | None = None
    state = _STEPPING
    while True:
        state.depth += 1
        try:
            if error is None:
                yielded = context.run(coro.send, value)
            else:
                thrown, error = error, None
                yielded = context.run(coro.throw, thrown)
        except StopIteration:
            return FINISHED
        finally:
            state.depth -= 1
        if yielded is _PAUSE:
            return PAUSED
        if yielded is _ESCAPE:
            return ESCAPED
        try:
            value = yield yielded
        except BaseException as exc:  # cancellation (or close) reaches the app where it waits
            error = exc
            value = None


#: Response classes known to send exactly like ``Response`` (start, then one body, same task).
_PLAIN_RESPONSES: set[type] = set()


def is_plain_response(cls: type) -> bool:
    """Whether ``cls`` sends like ``Response`` (its ``__call__`` is ``Response.__call__``) — memoised."""
    if cls in _PLAIN_RESPONSES:
        return True
    from lyre.responses import Response  # lazy: lyre.responses imports this module's users

    if cls.__call__ is Response.__call__:  # type: ignore[comparison-overlap]
        _PLAIN_RESPONSES.add(cls)
        return True
    return False
