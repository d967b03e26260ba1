"""Response classes: each is an ASGI app sending one HTTP response (``await response(scope, receive, send)``).

Design notes (lyre):

* ``raw_headers`` (a ``list[tuple[bytes, bytes]]``) is the source of truth; the ``headers`` property
  builds a ``MutableHeaders`` view over that same list lazily, on first access.
* The common case (str/bytes body, class media type, no extra headers) builds its header list from
  precomputed byte pairs; ``Set-Cookie`` lines are formatted directly (same bytes as the standard
  library's ``SimpleCookie`` would produce) instead of going through ``http.cookies``.
* Safer by default: CR, LF or NUL in a header name or value (including ``media_type`` and cookie
  attributes) raise ``ValueError`` instead of being sent, and ``HEAD`` requests get the headers of the
  response with an empty body (the server would drop it anyway).
"""

from __future__ import annotations

import json
import mimetypes
import os
import re
import stat
import sys
import time
import warnings
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from datetime import UTC, datetime
from functools import lru_cache
from json.encoder import c_make_encoder as _c_make_encoder  # type: ignore[attr-defined]
from json.encoder import encode_basestring as _encode_basestring
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import anyio
import anyio.lowlevel
import anyio.to_thread

from lyre._utils import create_collapsing_task_group
from lyre.background import BackgroundTask
from lyre.concurrency import iterate_in_threadpool
from lyre.datastructures import URL, MutableHeaders
from lyre.datastructures import Headers as Headers
from lyre.exceptions import StarletteDeprecationWarning
from lyre.requests import ClientDisconnect
from lyre.types import Message, Receive, Scope, Send

__all__ = [
    "AsyncContentStream",
    "Content",
    "ContentStream",
    "FileResponse",
    "HTMLResponse",
    "JSONResponse",
    "MalformedRangeHeader",
    "PlainTextResponse",
    "RangeNotSatisfiable",
    "RedirectResponse",
    "Response",
    "StreamingResponse",
    "SyncContentStream",
]

Content = str | bytes | memoryview
# Annotation shorthands shared by the constructors and cookie methods below.
_HeaderMap = Mapping[str, str]
_SameSite = Literal["lax", "strict", "none"]
_CookieExpiry = datetime | str | int
SyncContentStream = Iterable[Content]
AsyncContentStream = AsyncIterable[Content]
ContentStream = AsyncContentStream | SyncContentStream


# ---------------------------------------------------------------------------------------------
# Header helpers
# ---------------------------------------------------------------------------------------------


def _check_header_text(text: str, what: str) -> None:
    """Reject CR, LF and NUL (header injection / response splitting)."""
    # PERF: ``isprintable`` is one C pass and true for almost every real header value; the precise
    # check only runs when it is not.
    if not text.isprintable() and ("\r" in text or "\n" in text or "\x00" in text):
        raise ValueError(f"Invalid {what} {text!r}: CR, LF and NUL are not allowed in headers.")


_CONTENT_TYPE_CACHE: dict[tuple[str, str], tuple[bytes, bytes]] = {}


def _content_type_pair(media_type: str, charset: str) -> tuple[bytes, bytes]:
    """The ``content-type`` raw header for a media type, cached (validated once)."""
    key = (media_type, charset)
    pair = _CONTENT_TYPE_CACHE.get(key)
    if pair is None:
        _check_header_text(media_type, "media type")
        value = media_type
        if media_type.startswith("text/") and "charset=" not in media_type.lower():
            _check_header_text(charset, "charset")
            value = f"{media_type}; charset={charset}"
        pair = (b"content-type", value.encode("latin-1"))
        if len(_CONTENT_TYPE_CACHE) >= 512:  # bounded: media types are normally a handful
            _CONTENT_TYPE_CACHE.clear()
        _CONTENT_TYPE_CACHE[key] = pair
    return pair


def _raw_get(raw: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in raw:
        if key == name:
            return value
    return None


def _raw_setdefault(raw: list[tuple[bytes, bytes]], name: bytes, value: bytes) -> None:
    for key, _ in raw:
        if key == name:
            return
    raw.append((name, value))


def _raw_set(raw: list[tuple[bytes, bytes]], name: bytes, value: bytes) -> None:
    """``MutableHeaders.__setitem__`` semantics: replace the first occurrence, drop later ones."""
    found = -1
    for index, (key, _) in enumerate(raw):
        if key == name:
            found = index
            break
    if found < 0:
        raw.append((name, value))
        return
    raw[found] = (name, value)
    for index in range(len(raw) - 1, found, -1):
        if raw[index][0] == name:
            del raw[index]


_NO_CONTENT_LENGTH = frozenset({204, 304})

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _http_date(timestamp: float) -> str:
    """IMF-fixdate (``Wed, 02 Jan 2030 03:04:05 GMT``) for a POSIX timestamp."""
    t = time.gmtime(timestamp)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


# ---------------------------------------------------------------------------------------------
# Cookies (same output as http.cookies.SimpleCookie, formatted directly)
# ---------------------------------------------------------------------------------------------

_LEGAL_COOKIE_CHARS = "!#$%&'*+-.^_`|~:0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_is_legal_cookie_token = re.compile(f"[{re.escape(_LEGAL_COOKIE_CHARS)}]+").fullmatch
_COOKIE_UNESCAPED = set(_LEGAL_COOKIE_CHARS + " ()/<=>?@[]{}")
_COOKIE_TRANSLATE = {n: f"\\{n:03o}" for n in range(256) if chr(n) not in _COOKIE_UNESCAPED}
_COOKIE_TRANSLATE[ord('"')] = '\\"'
_COOKIE_TRANSLATE[ord("\\")] = "\\\\"
_COOKIE_RESERVED = frozenset(
    {"expires", "path", "comment", "domain", "max-age", "secure", "httponly", "version", "samesite"}
    | ({"partitioned"} if sys.version_info >= (3, 14) else set())
)
# Attribute values may not break out of their ``; Name=value`` slot.
_BAD_COOKIE_ATTR = re.compile(r"[\x00-\x1f\x7f;]")


def _quote_cookie_value(value: str) -> str:
    if _is_legal_cookie_token(value):
        return value
    return '"' + value.translate(_COOKIE_TRANSLATE) + '"'


def _check_cookie_attr(name: str, value: str) -> None:
    if _BAD_COOKIE_ATTR.search(value):
        raise ValueError(f"Invalid cookie {name} {value!r}: control characters and ';' are not allowed.")


# ---------------------------------------------------------------------------------------------
# Response
# ---------------------------------------------------------------------------------------------


class Response:
    """A response with a fully rendered body; ``raw_headers`` is built at construction."""

    media_type: str | None = None
    charset = "utf-8"
    # Whether ``render`` / ``init_headers`` are Response's own (set per subclass): only then may
    # ``__init__`` inline them.
    _own_render: ClassVar[bool] = True
    _own_init_headers: ClassVar[bool] = True
    _headers: MutableHeaders | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._own_render = cls.render is Response.render
        cls._own_init_headers = cls.init_headers is Response.init_headers

    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: _HeaderMap | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        self.status_code = status_code
        if media_type is None:
            media_type = self.media_type
        else:
            self.media_type = media_type
        self.background = background
        # PERF: the common case (str/bytes body, no extra headers) is inlined: no render() or
        # init_headers() calls, the header list built in one expression from cached pairs.
        if self._own_render and type(content) is str:
            body: bytes | memoryview = content.encode(self.charset)
        elif self._own_render and type(content) is bytes:
            body = content
        else:
            body = self.render(content)
        self.body = body
        if (
            headers is None
            and self._own_init_headers
            and status_code >= 200
            and status_code not in _NO_CONTENT_LENGTH
        ):
            if media_type is None:
                self.raw_headers = [(b"content-length", b"%d" % len(body))]
            else:
                self.raw_headers = [
                    (b"content-length", b"%d" % len(body)),
                    _content_type_pair(media_type, self.charset),
                ]
        else:
            self.init_headers(headers)

    def render(self, content: Any) -> bytes | memoryview:
        """Turn ``content`` into body bytes: ``None`` → empty, ``str`` encoded with ``charset``."""
        if content is None:
            return b""
        if isinstance(content, bytes):
            return content
        if isinstance(content, memoryview):
            return content.cast("B") if content.c_contiguous else content.tobytes()
        return content.encode(self.charset)  # type: ignore[no-any-return]

    def init_headers(self, headers: _HeaderMap | None = None) -> None:
        """Build ``raw_headers``: the given headers, then content-length, then content-type."""
        body = getattr(self, "body", None)
        status = self.status_code
        media_type = self.media_type
        if headers is None:
            # PERF: the common case appends at most two ready-made pairs.
            raw: list[tuple[bytes, bytes]] = []
            if body is not None and status >= 200 and status not in _NO_CONTENT_LENGTH:
                raw.append((b"content-length", b"%d" % len(body)))
            if media_type is not None:
                raw.append(_content_type_pair(media_type, self.charset))
            self.raw_headers = raw
            return
        raw = []
        has_length = has_type = False
        for key, value in headers.items():
            name = key.lower()
            if not (name.isprintable() and value.isprintable()):  # PERF: inline fast check
                _check_header_text(name, "header name")
                _check_header_text(value, "header value")
            if name == "content-length":
                has_length = True
            elif name == "content-type":
                has_type = True
            raw.append((name.encode("latin-1"), value.encode("latin-1")))
        if not has_length and body is not None and status >= 200 and status not in _NO_CONTENT_LENGTH:
            raw.append((b"content-length", b"%d" % len(body)))
        if not has_type and media_type is not None:
            raw.append(_content_type_pair(media_type, self.charset))
        self.raw_headers = raw

    @property
    def headers(self) -> MutableHeaders:
        """A ``MutableHeaders`` over ``raw_headers`` (the same list), created on first access."""
        # PERF: a class-level ``None`` instead of catching AttributeError on first access: FastAPI
        # touches ``.headers`` of two responses per request (~5 % of a FastAPI request on lyre).
        headers = self._headers
        if headers is None:
            headers = self._headers = MutableHeaders(raw=self.raw_headers)
        return headers

    def set_cookie(
        self,
        key: str,
        value: str = "",
        max_age: int | None = None,
        expires: _CookieExpiry | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: _SameSite | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Append one ``set-cookie`` header (byte-for-byte what ``SimpleCookie`` would write)."""
        # PERF: formatted directly; attributes are emitted in SimpleCookie's (sorted) order:
        # domain, expires, httponly, max-age, partitioned, path, samesite, secure.
        if key.lower() in _COOKIE_RESERVED:
            import http.cookies  # lazy: only needed to report an error

            raise http.cookies.CookieError(f"Attempt to set a reserved key {key!r}")
        if not _is_legal_cookie_token(key):
            import http.cookies

            raise http.cookies.CookieError(f"Illegal key {key!r}")
        if not isinstance(value, str):
            value = str(value)
        parts = [f"{key}={_quote_cookie_value(value)}"]
        if domain is not None and domain != "":
            _check_cookie_attr("domain", domain)
            parts.append(f"Domain={domain}")
        if expires is not None:
            if isinstance(expires, datetime):
                if expires.tzinfo is None or expires.tzinfo != UTC:
                    raise ValueError("usegmt option requires a UTC datetime")
                parts.append(
                    f"expires={_DAYS[expires.weekday()]}, {expires.day:02d} {_MONTHS[expires.month]} "
                    f"{expires.year:04d} {expires.hour:02d}:{expires.minute:02d}:{expires.second:02d} GMT"
                )
            elif isinstance(expires, int):
                parts.append(f"expires={_http_date(time.time() + expires)}")
            elif expires != "":
                expires = str(expires)
                _check_cookie_attr("expires", expires)
                parts.append(f"expires={expires}")
        if httponly:
            parts.append("HttpOnly")
        if max_age is not None:
            if isinstance(max_age, int):
                parts.append(f"Max-Age={int(max_age)}")
            elif str(max_age) != "":
                _check_cookie_attr("max_age", str(max_age))
                parts.append(f"Max-Age={max_age}")
        if partitioned:
            if sys.version_info < (3, 14):
                raise ValueError("Partitioned cookies are only supported in Python 3.14 and above.")
            parts.append("Partitioned")
        if path is not None and path != "":
            _check_cookie_attr("path", path)
            parts.append(f"Path={path}")
        if samesite is not None:
            assert samesite.lower() in ("strict", "lax", "none"), (
                "samesite must be either 'strict', 'lax' or 'none'"
            )
            parts.append(f"SameSite={samesite}")
        if secure:
            parts.append("Secure")
        line = "; ".join(parts).strip()
        self.raw_headers.append((b"set-cookie", line.encode("latin-1")))

    def delete_cookie(
        self,
        key: str,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: _SameSite | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Expire a cookie now (``Max-Age=0``); ``path``/``domain`` must match how it was set."""
        self.set_cookie(
            key, max_age=0, expires=0, path=path, domain=domain,
            secure=secure, httponly=httponly, samesite=samesite, partitioned=partitioned,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # PERF: exactly two messages, no intermediate objects; HEAD keeps headers, drops the body.
        if scope["type"] == "http":
            await send(
                {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            )
            body = b"" if scope.get("method") == "HEAD" else self.body
            await send({"type": "http.response.body", "body": body})
        else:
            # A normal response during a WebSocket handshake is a denial response.
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            await send({"type": "websocket.http.response.body", "body": self.body})
        task = self.background
        if task is not None:
            await task()


class HTMLResponse(Response):
    """``text/html; charset=utf-8`` response."""

    media_type = "text/html"


class PlainTextResponse(Response):
    """``text/plain; charset=utf-8`` response."""

    media_type = "text/plain"


# PERF: one encoder built once instead of a new JSONEncoder per ``json.dumps(..., **options)`` call.
# Used only while ``json.dumps`` is the standard one: code that patches ``json.dumps`` (tests do,
# e.g. ``mock.patch("starlette.responses.json.dumps")``) must see the call.
_json_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
_stdlib_dumps = json.dumps


def _json_encode(content: Any) -> str:
    """``_json_encoder.encode(content)``, calling the C encoder directly when it is available.

    PERF: ``JSONEncoder.encode`` goes through ``iterencode`` (which builds a closure and a new C
    encoder per call); building the C encoder here the same way (fresh ``markers``, so circular
    references still raise ``ValueError``; the same ``default``, so unserialisable objects raise the
    same ``TypeError``) saves about 0.5 µs per small document. The output is identical.
    """
    if _c_make_encoder is None:  # pragma: no cover - CPython always has the accelerator
        return _json_encoder.encode(content)
    encoder = _c_make_encoder(
        {}, _json_encoder.default, _encode_basestring, None, ":", ",", False, False, False
    )
    return "".join(encoder(content, 0))


class JSONResponse(Response):
    """Compact UTF-8 JSON, ``content-type: application/json`` (no charset)."""

    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: _HeaderMap | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        super().__init__(content, status_code, headers, media_type, background)

    def render(self, content: Any) -> bytes:
        if json.dumps is _stdlib_dumps:
            text = _json_encode(content)
        else:
            text = json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            # lyre decision (safety): a lone surrogate (e.g. echoed from a JSON request body such as
            # "\ud800") cannot be UTF-8; escape it as JSON allows (\ud800) instead of failing with a 500.
            return json.dumps(
                content, ensure_ascii=True, allow_nan=False, indent=None, separators=(",", ":")
            ).encode("ascii")


class RedirectResponse(Response):
    """Empty-bodied redirect (default ``307``) with a percent-quoted ``location`` header."""

    def __init__(
        self,
        url: str | URL,
        status_code: int = 307,
        headers: _HeaderMap | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        super().__init__(content=b"", status_code=status_code, headers=headers, background=background)
        location = quote(str(url), safe=":/%#?=@[]!$&'()*+,;")
        _raw_set(self.raw_headers, b"location", location.encode("latin-1"))


# ---------------------------------------------------------------------------------------------
# Streaming
# ---------------------------------------------------------------------------------------------


def _asgi_at_least_2_4(scope: Scope) -> bool:
    version = scope.get("asgi", {}).get("spec_version", "2.0")
    try:
        major, _, minor = version.partition(".")
        return (int(major), int(minor or 0)) >= (2, 4)
    except (ValueError, AttributeError):
        return False


class _PrefixedSend:
    """Prefixes message types with ``websocket.`` (WebSocket denial responses)."""

    __slots__ = ("send",)

    def __init__(self, send: Send) -> None:
        self.send = send

    async def __call__(self, message: Message) -> None:
        message["type"] = "websocket." + message["type"]
        await self.send(message)


async def _aclose_quietly(iterator: Any) -> None:
    """Close an abandoned async iterator promptly (shielded, bounded)."""
    aclose = getattr(iterator, "aclose", None)
    if aclose is None:
        return
    with anyio.move_on_after(5, shield=True):
        try:
            await aclose()
        except Exception:  # the original error (or disconnect) matters more than cleanup noise
            pass


async def _iterate_sync(content: SyncContentStream) -> AsyncIterator[Content]:
    """``iterate_in_threadpool`` over ``content``, closing an unfinished source (in a thread) when
    the stream is abandoned, so a generator's ``with open(...)`` block ends promptly."""
    iterator = iter(content)
    inner = iterate_in_threadpool(iterator)
    finished = False
    try:
        async for chunk in inner:
            yield chunk
        finished = True
    finally:
        if not finished:
            await _aclose_quietly(inner)
            close = getattr(iterator, "close", None)
            if close is not None:
                with anyio.move_on_after(5, shield=True):
                    try:
                        await anyio.to_thread.run_sync(close)
                    except Exception:
                        pass


class StreamingResponse(Response):
    """A response whose body comes from a sync or async iterator (no content-length computed)."""

    body_iterator: AsyncContentStream

    def __init__(
        self,
        content: ContentStream,
        status_code: int = 200,
        headers: _HeaderMap | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        self.status_code = status_code
        self.background = background
        self.media_type = media_type if media_type is not None else self.media_type
        self.init_headers(headers)
        # A plain iterable is pulled in a worker thread, one item at a time.
        self.body_iterator = content if isinstance(content, AsyncIterable) else _iterate_sync(content)

    async def listen_for_disconnect(self, receive: Receive) -> None:
        """Return when the client disconnects (``http.disconnect``)."""
        while (message := await receive())["type"] != "http.disconnect":
            # A receive() that answers at once forever (a test harness, not a server) must not
            # starve the sending task. Only after the request body is complete: yielding between
            # body parts would let a cancellation leave the client's body iterator half-consumed.
            if not message.get("more_body", False):
                await anyio.lowlevel.checkpoint()

    async def stream_response(self, send: Send) -> None:
        """Send the start message, one body message per item, then the closing empty body."""
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        charset = self.charset
        async for chunk in self.body_iterator:
            if not isinstance(chunk, bytes | memoryview):
                chunk = chunk.encode(charset)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        finished = False
        try:
            if scope["type"] != "http":
                await self.stream_response(_PrefixedSend(send))
                finished = True
            elif scope.get("method") == "HEAD":
                # lyre: HEAD never carries a body, so the iterator is not consumed (only closed).
                start = {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
                await send(start)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            elif _asgi_at_least_2_4(scope):
                try:
                    await self.stream_response(send)
                except OSError:
                    raise ClientDisconnect()
                finished = True
            else:
                async with create_collapsing_task_group() as task_group:

                    async def stream_then_cancel() -> None:
                        nonlocal finished
                        await self.stream_response(send)
                        finished = True
                        task_group.cancel_scope.cancel()

                    task_group.start_soon(stream_then_cancel)
                    await self.listen_for_disconnect(receive)
                    task_group.cancel_scope.cancel()
        finally:
            if not finished:
                # lyre: an abandoned iterator is closed now (its ``finally`` runs promptly), not
                # whenever the garbage collector gets to it.
                await _aclose_quietly(self.body_iterator)
        task = self.background
        if task is not None:
            await task()


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


class RangeNotSatisfiable(Exception):
    """A range outside the file (answered with ``416``, ``content-range: bytes */max_size``)."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size


class MalformedRangeHeader(Exception):
    """An unusable ``Range`` header (answered with ``400`` and ``content``)."""

    def __init__(self, content: str = "Malformed range header.") -> None:
        self.content = content


@lru_cache(maxsize=1024)
def _guess_media_type_for_suffix(suffixes: str) -> str | None:
    return mimetypes.guess_type("f" + suffixes)[0]


def _guess_media_type(path: str) -> str:
    """``mimetypes.guess_type(path)[0]`` or ``application/octet-stream``, cached by suffix chain."""
    # PERF: the guess only depends on the file name's extensions, so cache on those.
    name = path.rpartition("/")[2]
    if os.sep != "/":
        name = name.rpartition(os.sep)[2]
    dot = name.find(".")
    if dot < 0:
        guessed = mimetypes.guess_type(path)[0]
    else:
        guessed = _guess_media_type_for_suffix(name[dot:])
    return guessed or "application/octet-stream"


_STAT_HEADER_CACHE: dict[tuple[float, int], tuple[bytes, bytes, bytes]] = {}


def _stat_header_values(stat_result: os.stat_result) -> tuple[bytes, bytes, bytes]:
    """``(content-length, last-modified, etag)`` values for a stat result (cached)."""
    # PERF: md5 + date formatting once per (mtime, size), not per request.
    key = (stat_result.st_mtime, stat_result.st_size)
    values = _STAT_HEADER_CACHE.get(key)
    if values is None:
        etag_base = f"{stat_result.st_mtime}-{stat_result.st_size}"
        import hashlib  # lazy: once per (mtime, size) thanks to the cache

        etag = hashlib.md5(etag_base.encode(), usedforsecurity=False).hexdigest()
        values = (
            b"%d" % stat_result.st_size,
            _http_date(stat_result.st_mtime).encode("ascii"),
            f'"{etag}"'.encode("ascii"),
        )
        if len(_STAT_HEADER_CACHE) >= 4096:
            _STAT_HEADER_CACHE.clear()
        _STAT_HEADER_CACHE[key] = values
    return values


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
# O_NONBLOCK: opening a FIFO must not block the worker thread (fstat then rejects it); it has no
# effect on regular files.
_OPEN_FLAGS |= getattr(os, "O_NONBLOCK", 0)
_HAS_PREAD = hasattr(os, "pread")


class _NotAFile(Exception):
    pass


class _ShorterThanExpected(Exception):
    pass


def _pread(fd: int, size: int, offset: int) -> bytes:
    """Read up to ``size`` bytes at ``offset`` (fewer only at end of file)."""
    if not _HAS_PREAD:  # pragma: no cover - Windows
        os.lseek(fd, offset, os.SEEK_SET)
        parts = []
        while size > 0:
            chunk = os.read(fd, size)
            if not chunk:
                break
            parts.append(chunk)
            size -= len(chunk)
        return b"".join(parts)
    data = os.pread(fd, size, offset)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = os.pread(fd, size - got, offset + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _open_file(
    path: str | os.PathLike[str], first_read: int
) -> tuple[int | None, os.stat_result, bytes | None]:
    """Open + fstat (+ read the first ``first_read`` bytes) in one worker-thread call.

    Returns ``(fd, stat, data)``; ``fd`` is ``None`` when the whole file fitted in ``first_read``
    (it was read and closed here, saving a thread hop for small files).
    """
    fd = os.open(path, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _NotAFile()
        if first_read <= 0:
            return fd, st, None
        if st.st_size <= first_read:
            data = _pread(fd, st.st_size, 0)
        else:
            return fd, st, _pread(fd, first_read, 0)
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return None, st, data


def _preload_small_file(
    path: str, max_size: int, no_follow: bool = False
) -> tuple[os.stat_result, bytes] | None:
    """(worker thread) ``(fstat, content)`` of a regular file of at most ``max_size`` bytes, else None.

    Used by callers already in a worker thread (``StaticFiles``) so that sending the file needs no
    further thread hop. ``no_follow`` refuses a final-component symlink (closing the window where a
    checked path is swapped for a symlink before it is opened). Any problem returns ``None``: the
    ``FileResponse`` then opens the file itself and reports errors as usual.
    """
    flags = _OPEN_FLAGS | (getattr(os, "O_NOFOLLOW", 0) if no_follow else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_size:
            return None
        data = _pread(fd, st.st_size, 0)
        if len(data) != st.st_size:
            return None
        return st, data
    except OSError:
        return None
    finally:
        os.close(fd)


def _pread_many(fd: int, segments: list[tuple[int, int]]) -> list[bytes]:
    """(worker thread) Read each ``(offset, length)`` segment fully; a short read means the file shrank."""
    out = []
    for offset, length in segments:
        data = _pread(fd, length, offset)
        if len(data) < length:
            raise _ShorterThanExpected()
        out.append(data)
    return out


def _read_then_close(fd: int, size: int, offset: int) -> bytes:
    """The last read of a file, closing it in the same thread hop."""
    try:
        return _pread(fd, size, offset)
    finally:
        os.close(fd)


def _request_header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


class FileResponse(Response):
    """Send a file from disk: HEAD, ETag/Last-Modified, Range (single and multipart), pathsend.

    lyre hardening: stat, open and reads run in worker threads (small files in a single hop); the
    file is opened and ``fstat``-ed together, and at most the announced ``content-length`` bytes are
    sent. A file that shrinks while being sent raises ``RuntimeError`` after the start message (the
    server then aborts the connection) instead of ending the body early as if it were complete.
    """

    chunk_size = 64 * 1024
    max_ranges = 100
    #: ``(fstat, whole content)`` read ahead by a caller that already was in a worker thread
    #: (``StaticFiles`` for small files), used once instead of opening the file again.
    _preloaded: tuple[os.stat_result, bytes] | None = None

    def __init__(
        self,
        path: str | os.PathLike[str],
        status_code: int = 200,
        headers: _HeaderMap | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        filename: str | None = None,
        stat_result: os.stat_result | None = None,
        content_disposition_type: str = "attachment",
        *,
        method: str | None = None,
    ) -> None:
        if method is not None:
            warnings.warn(
                "The 'method' parameter of FileResponse is deprecated and ignored: "
                "the request method decides whether a body is sent.",
                StarletteDeprecationWarning,
                stacklevel=2,
            )
        self.path = path
        self.status_code = status_code
        self.filename = filename
        if media_type is None:
            media_type = _guess_media_type(os.fspath(filename or path))
        self.media_type = media_type
        self.background = background
        self.init_headers(headers)
        raw = self.raw_headers
        _raw_setdefault(raw, b"accept-ranges", b"bytes")
        if filename is not None:
            _check_header_text(content_disposition_type, "content disposition type")
            quoted = quote(filename)
            if quoted != filename:
                disposition = f"{content_disposition_type}; filename*=utf-8''{quoted}"
            else:
                disposition = f'{content_disposition_type}; filename="{filename}"'
            _raw_setdefault(raw, b"content-disposition", disposition.encode("latin-1"))
        self.stat_result = stat_result
        if stat_result is not None:
            self.set_stat_headers(stat_result)

    def set_stat_headers(self, stat_result: os.stat_result) -> None:
        """Set ``content-length``, ``last-modified`` and ``etag`` from a stat result (if absent)."""
        length, last_modified, etag = _stat_header_values(stat_result)
        raw = self.raw_headers
        _raw_setdefault(raw, b"content-length", length)
        _raw_setdefault(raw, b"last-modified", last_modified)
        _raw_setdefault(raw, b"etag", etag)

    def _refresh_stat_headers(self, old: os.stat_result, new: os.stat_result) -> None:
        """Replace the stat headers generated from ``old`` by those of ``new`` (file changed)."""
        raw = self.raw_headers
        old_values = _stat_header_values(old)
        new_values = _stat_header_values(new)
        for name, before, after in zip(
            (b"content-length", b"last-modified", b"etag"), old_values, new_values, strict=True
        ):
            for index, (key, value) in enumerate(raw):
                if key == name and value == before:
                    raw[index] = (name, after)

    # -- ranges ------------------------------------------------------------------------------

    def _parse_range_header(self, http_range: str, file_size: int) -> list[tuple[int, int]] | None:
        """Half-open ``(start, stop)`` ranges, sorted and merged; ``None`` → ignore the header."""
        unit, eq, spec = http_range.partition("=")
        if not eq:
            raise MalformedRangeHeader()
        if unit.strip().lower() != "bytes":
            raise MalformedRangeHeader("Only support bytes range")
        # PERF: count before splitting so a huge header costs one scan.
        if spec.count(",") >= self.max_ranges:
            return None
        ranges: list[tuple[int, int]] = []
        for part in spec.split(","):
            part = part.strip()
            first, dash, last = part.partition("-")
            if not dash:
                continue
            first = first.strip()
            last = last.strip()
            if first:
                if not (first.isascii() and first.isdigit()):
                    continue
                start = int(first)
                if last:
                    if not (last.isascii() and last.isdigit()):
                        continue
                    stop = min(int(last), file_size - 1) + 1
                else:
                    stop = file_size
            elif last:
                if not (last.isascii() and last.isdigit()):
                    continue
                start = max(file_size - int(last), 0)
                stop = file_size
            else:
                continue
            ranges.append((start, stop))
        if not ranges:
            raise MalformedRangeHeader("Range header: range must be requested")
        for start, _ in ranges:
            if not 0 <= start < file_size:
                raise RangeNotSatisfiable(file_size)
        for start, stop in ranges:
            if start >= stop:
                raise MalformedRangeHeader("Range header: start must be less than end")
        if len(ranges) == 1:
            return ranges
        ranges.sort()
        merged = [ranges[0]]
        for start, stop in ranges[1:]:
            last_start, last_stop = merged[-1]
            if start <= last_stop:  # overlapping or touching
                if stop > last_stop:
                    merged[-1] = (last_start, stop)
            else:
                merged.append((start, stop))
        return merged

    def generate_multipart(
        self, ranges: Sequence[tuple[int, int]], boundary: str, max_size: int, content_type: str
    ) -> tuple[int, Callable[[int, int], bytes]]:
        """Content length of a ``multipart/byteranges`` body and a part-header builder.

        ``ranges`` are half-open ``(start, stop)``; ``header_for(start, stop)`` returns the part's
        leading boundary and headers. Each part is followed by ``\\r\\n``, the body by
        ``--<boundary>--``.
        """

        def header_for(start: int, stop: int) -> bytes:
            return (
                f"--{boundary}\r\nContent-Type: {content_type}\r\n"
                f"Content-Range: bytes {start}-{stop - 1}/{max_size}\r\n\r\n"
            ).encode("latin-1")

        length = sum(len(header_for(start, stop)) + (stop - start) + 2 for start, stop in ranges)
        length += len(boundary) + 4
        return length, header_for

    def _range_allowed(self, scope: Scope) -> str | None:
        """The Range header value if it should be honoured (``If-Range`` matches), else ``None``."""
        http_range = _request_header(scope, b"range")
        if http_range is None:
            return None
        if_range = _request_header(scope, b"if-range")
        if if_range is not None:
            if if_range.startswith(b"W/"):
                return None
            raw = self.raw_headers
            if if_range != _raw_get(raw, b"last-modified") and if_range != _raw_get(raw, b"etag"):
                return None
        return http_range.decode("latin-1")

    # -- sending -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        is_http = scope["type"] == "http"
        if not is_http:
            send = _PrefixedSend(send)
        method = scope.get("method") if is_http else None
        head = method == "HEAD"
        wants_range = (
            self.status_code == 200
            and method in ("GET", "HEAD")
            and _request_header(scope, b"range") is not None
        )
        pathsend = (
            is_http
            and not head
            and not wants_range
            and "http.response.pathsend" in (scope.get("extensions") or ())
        )
        fd: int | None = None
        try:
            stat_result = self.stat_result
            data: bytes | None = None
            if head or pathsend:
                if stat_result is None:
                    stat_result = await self._stat()
                    self.set_stat_headers(stat_result)
            else:
                # PERF: open + fstat (+ the first chunk unless a range is asked for) in one thread hop.
                preloaded = self._preloaded
                if preloaded is not None and not wants_range:
                    # PERF: no thread hop at all; the caller read the file in its own hop.
                    self._preloaded = None
                    fresh, data = preloaded
                else:
                    fd, fresh, data = await self._open(0 if wants_range else self.chunk_size)
                if stat_result is None:
                    self.set_stat_headers(fresh)
                elif (fresh.st_size, fresh.st_mtime) != (stat_result.st_size, stat_result.st_mtime):
                    # Changed since the caller's stat: the headers must describe what is sent.
                    self._refresh_stat_headers(stat_result, fresh)
                stat_result = fresh
            size = stat_result.st_size

            http_range = self._range_allowed(scope) if wants_range else None
            if http_range is not None:
                error: Response | None = None
                ranges: list[tuple[int, int]] | None = None
                try:
                    ranges = self._parse_range_header(http_range, size)
                except MalformedRangeHeader as exc:
                    error = PlainTextResponse(exc.content, status_code=400)
                except RangeNotSatisfiable as exc:
                    error = PlainTextResponse(
                        status_code=416, headers={"content-range": f"bytes */{exc.max_size}"}
                    )
                if error is not None:
                    fd, owned = None, fd
                    await self._close(owned)
                    await error(scope, receive, send)
                    await self._run_background()
                    return
                if ranges is not None:
                    fd, owned = None, fd
                    await self._send_ranges(scope, receive, send, owned, ranges, size)
                    await self._run_background()
                    return

            start = {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            if head:
                await send(start)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            elif pathsend:
                await send(start)
                await send({"type": "http.response.pathsend", "path": str(self.path)})
            elif fd is None:
                # PERF: small file, already read and closed in the opening hop: two sends, done.
                assert data is not None
                if len(data) < size:
                    raise self._shorter()
                await send(start)
                await send({"type": "http.response.body", "body": data})
            else:
                chunked_fd = fd
                fd = None  # _send_chunks owns (and closes) it now
                await self._send_chunks(scope, receive, send, chunked_fd, start, data, size)
        finally:
            if fd is not None:
                await self._close(fd)
        await self._run_background()

    async def _run_background(self) -> None:
        if self.background is not None:
            await self.background()

    async def _stat(self) -> os.stat_result:
        try:
            stat_result = await anyio.to_thread.run_sync(os.stat, self.path)
        except (FileNotFoundError, NotADirectoryError):
            raise RuntimeError(f"File at path {self.path} does not exist.")
        if not stat.S_ISREG(stat_result.st_mode):
            raise RuntimeError(f"File at path {self.path} is not a file.")
        return stat_result

    async def _open(self, first_read: int) -> tuple[int | None, os.stat_result, bytes | None]:
        try:
            return await anyio.to_thread.run_sync(_open_file, self.path, first_read)
        except (FileNotFoundError, NotADirectoryError):
            raise RuntimeError(f"File at path {self.path} does not exist.")
        except (_NotAFile, IsADirectoryError):
            raise RuntimeError(f"File at path {self.path} is not a file.")

    @staticmethod
    async def _close(fd: int | None) -> None:
        if fd is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(os.close, fd)

    def _shorter(self) -> RuntimeError:
        return RuntimeError(f"File at path {self.path} is shorter than expected.")

    async def _watch_disconnect(
        self, scope: Scope, receive: Receive, sender: Callable[[], Awaitable[None]]
    ) -> None:
        """Run ``sender``; below ASGI 2.4 stop it early when the client disconnects."""
        if scope["type"] != "http":
            await sender()
        elif _asgi_at_least_2_4(scope):
            try:
                await sender()
            except OSError:
                raise ClientDisconnect()
        else:
            async with create_collapsing_task_group() as task_group:

                async def send_then_cancel() -> None:
                    await sender()
                    task_group.cancel_scope.cancel()

                task_group.start_soon(send_then_cancel)
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        break
                    if not message.get("more_body", False):  # see listen_for_disconnect
                        await anyio.lowlevel.checkpoint()
                task_group.cancel_scope.cancel()

    async def _send_chunks(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        fd: int,
        start: Message,
        data: bytes | None,
        size: int,
    ) -> None:
        """Send the whole file in ``chunk_size`` pieces; ``data`` is the first piece if read."""
        chunk_size = self.chunk_size
        closed = False

        async def sender() -> None:
            nonlocal closed
            first = data
            if first is None:
                first = await anyio.to_thread.run_sync(_pread, fd, min(chunk_size, size), 0)
            if len(first) < min(chunk_size, size):
                raise self._shorter()
            await send(start)
            sent = len(first)
            await send({"type": "http.response.body", "body": first, "more_body": sent < size})
            while sent < size:
                want = min(chunk_size, size - sent)
                if want == size - sent:
                    closed = True  # set first: the thread closes the fd even if we are cancelled
                    chunk = await anyio.to_thread.run_sync(_read_then_close, fd, want, sent)
                else:
                    chunk = await anyio.to_thread.run_sync(_pread, fd, want, sent)
                if len(chunk) < want:
                    raise self._shorter()
                sent += want
                await send({"type": "http.response.body", "body": chunk, "more_body": sent < size})

        try:
            await self._watch_disconnect(scope, receive, sender)
        finally:
            if not closed:
                await self._close(fd)

    async def _send_ranges(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        fd: int | None,
        ranges: list[tuple[int, int]],
        size: int,
    ) -> None:
        """Send a ``206``: one range as is, several as ``multipart/byteranges``. ``fd`` None → HEAD."""
        raw = self.raw_headers
        if len(ranges) == 1:
            first, stop = ranges[0]
            raw = [(k, v) for k, v in raw if k != b"content-length"]
            raw.append((b"content-range", b"bytes %d-%d/%d" % (first, stop - 1, size)))
            raw.append((b"content-length", b"%d" % (stop - first)))
            boundary = ""
            header_for: Callable[[int, int], bytes] | None = None
        else:
            import secrets  # lazy: multipart ranges are rare

            boundary = secrets.token_hex(13)
            content_type = (_raw_get(raw, b"content-type") or b"").decode("latin-1")
            content_length, header_for = self.generate_multipart(ranges, boundary, size, content_type)
            raw = [(k, v) for k, v in raw if k != b"content-length" and k != b"content-type"]
            raw.append((b"content-type", f"multipart/byteranges; boundary={boundary}".encode("latin-1")))
            raw.append((b"content-length", b"%d" % content_length))
        # The response object itself is left as it was (it may be sent again, e.g. if cached).
        start_message = {"type": "http.response.start", "status": 206, "headers": raw}
        if fd is None:
            await send(start_message)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        chunk_size = self.chunk_size

        def pieces() -> Iterator[bytes | tuple[int, int]]:
            """The body in order: literal bytes, or ``(offset, length)`` file segments."""
            for first, stop in ranges:
                if header_for is not None:
                    yield header_for(first, stop)
                for position in range(first, stop, chunk_size):
                    yield (position, min(chunk_size, stop - position))
                if header_for is not None:
                    yield b"\r\n"
            if header_for is not None:
                yield f"--{boundary}--".encode("latin-1")

        async def sender() -> None:
            await send(start_message)
            # PERF: pieces are batched up to ``chunk_size`` per body message, and all file segments
            # of a batch are read in one thread hop (100 tiny ranges are not 300 sends / 100 hops).
            pending: list[bytes | tuple[int, int]] = []
            pending_size = 0

            async def flush(more_body: bool) -> None:
                segments = [piece for piece in pending if isinstance(piece, tuple)]
                data = iter(await anyio.to_thread.run_sync(_pread_many, fd, segments) if segments else ())
                body = b"".join(piece if isinstance(piece, bytes) else next(data) for piece in pending)
                await send({"type": "http.response.body", "body": body, "more_body": more_body})

            for piece in pieces():
                if pending_size >= chunk_size:
                    await flush(True)
                    pending.clear()
                    pending_size = 0
                pending.append(piece)
                pending_size += len(piece) if isinstance(piece, bytes) else piece[1]
            await flush(False)

        try:
            await self._watch_disconnect(scope, receive, sender)
        except _ShorterThanExpected:
            raise self._shorter() from None
        finally:
            await self._close(fd)
