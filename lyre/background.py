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
        self.func, self.args, self.kwargs = func, args, kwargs
        # Decided once, here, rather than on every run.
        self.is_async = is_async_callable(func)

    async def __call__(self) -> None:
        func, args, kwargs = self.func, self.args, self.kwargs
        if not self.is_async:
            await run_in_threadpool(func, *args, **kwargs)
            return
        await func(*args, **kwargs)


class BackgroundTasks(BackgroundTask):
    """An ordered list of tasks run one after another; an exception stops the rest."""

    def __init__(self, tasks: Sequence[BackgroundTask] | None = None):
        self.tasks: list[BackgroundTask] = [*tasks] if tasks is not None else []

    def add_task(self, func: Callable[P, Any], *args: P.args, **kwargs: P.kwargs) -> None:
        """Queue ``func(*args, **kwargs)`` after the tasks already added."""
        task = BackgroundTask(func, *args, **kwargs)
        self.tasks.append(task)

    async def __call__(self) -> None:
        # Sequential and in insertion order: a task may rely on the ones before it.
        for pending in self.tasks:
            await pending()
