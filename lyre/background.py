"""Work that runs after the response has been sent to the client."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ParamSpec

from lyre._utils import is_async_callable
from lyre.concurrency import run_in_threadpool

P = ParamSpec("P")

__all__ = ["BackgroundTask", "BackgroundTasks"]


class BackgroundTask:
    """One call, ``func(*args, **kwargs)``; sync functions run in the thread pool."""

    def __init__(self, func: Callable[P, Any], *args: P.args, **kwargs: P.kwargs) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.is_async = is_async_callable(func)

    async def __call__(self) -> None:
        if self.is_async:
            await self.func(*self.args, **self.kwargs)
        else:
            await run_in_threadpool(self.func, *self.args, **self.kwargs)


class BackgroundTasks(BackgroundTask):
    """An ordered list of tasks run one after another; an exception stops the rest."""

    def __init__(self, tasks: Sequence[BackgroundTask] | None = None):
        self.tasks = list(tasks) if tasks else []

    def add_task(self, func: Callable[P, Any], *args: P.args, **kwargs: P.kwargs) -> None:
        self.tasks.append(BackgroundTask(func, *args, **kwargs))

    async def __call__(self) -> None:
        for task in self.tasks:
            await task()
