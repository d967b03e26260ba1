"""Admission: the checks every HTTP request passes before any application code sees it.

``Lyre.__call__`` applies them to every ``http`` scope, whatever stack the application built
(lyre's own, the layered one with fusion off, or FastAPI's), so no framing, subclass or app class
escapes them. The request *body* is bounded where it is read (``lyre.middleware.body_limit``).

lyre decision (safety): these refuse traffic that is malformed or hostile, never well-formed
requests; see docs/decisions.md. Each limit is a module global read on every request, so assigning
it reconfigures the process:

* ``MAX_REQUEST_HEADERS`` header lines → ``431``;
* ``MAX_HEADER_BYTES`` bytes of header names and values together → ``431`` (servers bound the header
  block differently, or not at all; this holds whatever the server let through);
* ``lyre.datastructures.MAX_QUERY_PAIRS`` ``&``-separated query fields → ``414``, so a request is
  never handed to the application with part of its query string dropped (``QueryParams`` itself
  parses every field, in linear time);
* a path that is not encodable (lone surrogates) → ``400``.
"""

from __future__ import annotations

from lyre import datastructures as _datastructures
from lyre.responses import PlainTextResponse, Response
from lyre.types import Scope

__all__ = ["MAX_HEADER_BYTES", "MAX_REQUEST_HEADERS", "refusal"]

#: A request with more header lines than this answers ``431`` before any application code runs.
#: Servers bound header *bytes*; this bounds the count that every ``Headers`` lookup would scan.
#: Change it by assigning ``lyre._admission.MAX_REQUEST_HEADERS``.
MAX_REQUEST_HEADERS = 1000

#: A request whose header names and values add up to more bytes than this answers ``431`` naming the
#: limit. 64 KiB is above what browsers send and what common servers and proxies accept by default.
#: ``None`` lifts it. Change it by assigning ``lyre._admission.MAX_HEADER_BYTES``.
MAX_HEADER_BYTES: int | None = 64 * 1024


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def refusal(scope: Scope) -> Response | None:
    """The response refusing this ``http`` request, or ``None`` when it is admitted."""
    headers = scope.get("headers", ())
    if len(headers) > MAX_REQUEST_HEADERS:
        return PlainTextResponse("Request Header Fields Too Large", status_code=431)
    limit = MAX_HEADER_BYTES
    if limit is not None:
        # PERF (every cell): a plain loop, no generator + sum; measured: 0.36 µs vs 0.63 µs per call,
        # 5 headers (1.7x).
        total = 0
        for name, value in headers:
            total += len(name) + len(value)
        if total > limit:
            return PlainTextResponse(
                f"Request Header Fields Too Large: the headers exceed {limit} bytes", status_code=431
            )
    path: str = scope["path"]
    if not path.isascii() and not _encodable(path):
        # A path holding lone surrogates (a server that decoded invalid UTF-8 with
        # surrogateescape) cannot be echoed, encoded or logged safely.
        return PlainTextResponse("Bad Request", status_code=400)
    max_pairs = _datastructures.MAX_QUERY_PAIRS
    if max_pairs is not None:
        # ``n`` fields (empty ones count) need at least ``n - 1`` bytes, the ``&``s: a short query
        # string is never scanned, so the common case costs one ``len``.
        query_string = scope.get("query_string", b"")
        if query_string and len(query_string) >= max_pairs and query_string.count(b"&") >= max_pairs:
            return PlainTextResponse(
                f"URI Too Long: the query string has more than {max_pairs} fields", status_code=414
            )
    return None
