"""Exceptions that become HTTP responses or WebSocket closes, and lyre's deprecation warning."""

from __future__ import annotations

import http
from collections.abc import Mapping

__all__ = ("HTTPException", "StarletteDeprecationWarning", "WebSocketException")


class StarletteDeprecationWarning(UserWarning):
    """Warns about deprecated API; a UserWarning so that it is shown by default."""


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
