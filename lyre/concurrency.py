"""Running blocking code off the event loop (anyio worker threads)."""

from __future__ import annotations

import functools
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, ParamSpec, TypeVar

import anyio.to_thread

from lyre.exceptions import StarletteDeprecationWarning

P = ParamSpec("P")
T = TypeVar("T")

__all__ = ["iterate_in_threadpool", "run_in_threadpool", "run_until_first_complete"]


async def run_until_first_complete(*args: tuple[Callable, dict]) -> None:  # type: ignore[type-arg]
    """Deprecated: run each ``(func, kwargs)`` concurrently; the first to finish cancels the rest."""
    warnings.warn(
        "run_until_first_complete is deprecated and will be removed in a future version.",
        StarletteDeprecationWarning,
        stacklevel=2,
    )
    async with anyio.create_task_group() as tg:

        async def run(func: Callable[[], Any]) -> None:
            await func()
            tg.cancel_scope.cancel()

        for func, kwargs in args:
            tg.start_soon(run, functools.partial(func, **kwargs))


async def run_in_threadpool(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call ``func(*args, **kwargs)`` in anyio's worker thread pool and return its result."""
    if kwargs:
        return await anyio.to_thread.run_sync(functools.partial(func, *args, **kwargs))
    return await anyio.to_thread.run_sync(func, *args)


class _Exhausted(Exception):
    """Carries the end of a sync iterator out of the worker thread (StopIteration cannot cross)."""


def _next_or_raise(iterator: Iterator[T]) -> T:
    try:
        return next(iterator)
    except StopIteration:
        raise _Exhausted from None


async def iterate_in_threadpool(iterator: Iterable[T]) -> AsyncIterator[T]:
    """Iterate a blocking iterable, calling ``next()`` in a worker thread for every item."""
    it = iter(iterator)
    while True:
        try:
            item = await anyio.to_thread.run_sync(_next_or_raise, it)
        except _Exhausted:
            break
        yield item
