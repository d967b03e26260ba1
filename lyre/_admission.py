"""Admission: the checks every HTTP request passes before any application code sees it.

``Lyre.__call__`` applies them to every ``http`` scope, whatever stack the application built
(lyre's own, the layered one with fusion off, or FastAPI's), so no framing, subclass or app class
escapes them. The request *body* is bounded where it is read (``lyre.middleware.body_limit``).

lyre decision (safety): these refuse traffic that is malformed or hostile, never well-formed
requests; see docs/decisions.md.
"""

from __future__ import annotations

from lyre.responses import PlainTextResponse, Response
from lyre.types import Scope

__all__ = ["MAX_REQUEST_HEADERS", "refusal"]

#: A request with more header lines than this answers ``431`` before any application code runs.
#: Servers bound header *bytes*; this bounds the count that every ``Headers`` lookup would scan.
#: Change it by assigning ``lyre._admission.MAX_REQUEST_HEADERS``.
MAX_REQUEST_HEADERS = 1000


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def refusal(scope: Scope) -> Response | None:
    """The response refusing this ``http`` request, or ``None`` when it is admitted."""
    if len(scope.get("headers", ())) > MAX_REQUEST_HEADERS:
        return PlainTextResponse("Request Header Fields Too Large", status_code=431)
    path: str = scope["path"]
    if not path.isascii() and not _encodable(path):
        # A path holding lone surrogates (a server that decoded invalid UTF-8 with
        # surrogateescape) cannot be echoed, encoded or logged safely.
        return PlainTextResponse("Bad Request", status_code=400)
    return None
