"""``Middleware``: a record of how to build one middleware layer when the stack is assembled."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ParamSpec, Protocol

from lyre.types import ASGIApp

P = ParamSpec("P")

__all__ = ["Middleware"]


class _MiddlewareFactory(Protocol[P]):
    def __call__(self, app: ASGIApp, /, *args: P.args, **kwargs: P.kwargs) -> ASGIApp: ...  # pragma: no cover


class Middleware:
    """``cls(app, *args, **kwargs)`` deferred; iterates as the triple ``(cls, args, kwargs)``."""

    __slots__ = ("args", "cls", "kwargs")

    def __init__(self, cls: _MiddlewareFactory[P], *args: P.args, **kwargs: P.kwargs) -> None:
        self.cls = cls
        self.args = args
        self.kwargs = kwargs

    def __iter__(self) -> Iterator[Any]:
        return iter((self.cls, self.args, self.kwargs))

    def __repr__(self) -> str:
        parts = [getattr(self.cls, "__name__", "")]
        parts += [repr(a) for a in self.args]
        parts += [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{type(self).__name__}({', '.join(parts)})"
