"""Exceptions that become HTTP responses or WebSocket closes, and lyre's deprecation warning."""

from __future__ import annotations

import http
import sys
import warnings
from collections.abc import Mapping

__all__ = ("HTTPException", "StarletteDeprecationWarning", "WebSocketException")


class StarletteDeprecationWarning(UserWarning):
    """Warns about deprecated API; a UserWarning so that it is shown by default."""


def _alias_on() -> bool:
    alias = sys.modules.get("lyre.compat.starlette")
    return alias is not None and bool(alias.installed())


def _warn_deprecated(message: str, stacklevel: int = 1) -> None:
    """Issue a ``StarletteDeprecationWarning`` attributed to the code ``stacklevel`` frames up.

    ``stacklevel=1`` is the caller itself, as with ``warnings.warn``. While the ``starlette`` alias
    is on (``lyre.compat.starlette``), a warning attributed to a lyre module carries that module's
    ``starlette.*`` name, which is how the application imports it: warning filters written for
    Starlette (``ignore:...:starlette.exceptions.StarletteDeprecationWarning:starlette.routing``)
    then match.
    """
    if not _alias_on():
        warnings.warn(message, StarletteDeprecationWarning, stacklevel=stacklevel + 1)
        return
    frame = sys._getframe(stacklevel)
    module_globals = frame.f_globals
    module: str = module_globals.get("__name__", "<string>")
    if module == "lyre" or module.startswith("lyre."):
        module = "starlette" + module[4:]
    warnings.warn_explicit(
        message,
        StarletteDeprecationWarning,
        frame.f_code.co_filename,
        frame.f_lineno,
        module=module,
        registry=module_globals.setdefault("__warningregistry__", {}),
        module_globals=module_globals,
    )


def _reason_phrase(status_code: int) -> str:
    try:
        return http.HTTPStatus(status_code).phrase
    except ValueError:
        return ""


class HTTPException(Exception):
    """Raise to answer with ``status_code``; ``detail`` defaults to the reason phrase."""

    def __init__(
        self, status_code: int, detail: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        self.status_code, self.headers = status_code, headers
        self.detail = _reason_phrase(status_code) if detail is None else detail

    def __str__(self) -> str:
        status, detail = self.status_code, self.detail
        return f"{status}: {detail}"

    def __repr__(self) -> str:
        cls = self.__class__.__name__
        return f"{cls}(status_code={self.status_code!r}, detail={self.detail!r})"


class WebSocketException(Exception):
    """Raise inside a WebSocket endpoint to close the socket with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str | None = None) -> None:
        self.code, self.reason = code, (reason if reason else "")

    def __str__(self) -> str:
        code, reason = self.code, self.reason
        return f"{code}: {reason}"

    def __repr__(self) -> str:
        cls = self.__class__.__name__
        return f"{cls}(code={self.code!r}, reason={self.reason!r})"
