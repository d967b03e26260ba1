"""``CompressionMiddleware``: zstd, brotli or gzip response bodies, negotiated by ``Accept-Encoding``.

Codings and libraries:

* ``gzip`` (stdlib ``zlib``) is always offered.
* ``br`` needs ``brotli`` (preferred: measured faster) or ``brotlicffi``.
* ``zstd`` uses the stdlib ``compression.zstd`` on Python 3.14+, else the ``zstandard`` package.

``pip install 'lyre-asgi[compression]'`` installs both optional libraries. With the default
``preference`` the middleware offers only what is installed; naming a coding in ``preference``
whose library is missing raises ``ImportError`` saying what to install.

Negotiation (RFC 9110 section 12.5.3): each offered coding gets the quality the client gave it,
or the quality of ``*`` when the client does not name it; ``q=0`` refuses. The highest quality wins
and the server's ``preference`` order breaks ties. ``identity`` with a quality above the best coding
(``gzip;q=0.5, identity``) sends the body as is. No ``Accept-Encoding`` header means no compression
(as every browser sends one, this only spares clients that did not ask). A malformed entry is
skipped; an ``Accept-Encoding`` longer than 1 KiB is ignored (no compression).

Which responses (the rules ``GZipMiddleware`` applies, shared code): bodies smaller than
``minimum_size`` sent in one message are left alone (the first body message is all that is looked
at); streams are compressed chunk by chunk and flushed after every chunk, so memory stays bounded
and each chunk is decodable on arrival. Left untouched: responses that already have a
``Content-Encoding``, ``206`` partial answers, files sent with ``http.response.pathsend``, and the
already-compressed or streaming types of ``DEFAULT_EXCLUDED_CONTENT_TYPES`` (images, audio, video,
archives, fonts, ``text/event-stream``, gRPC). ``Vary: Accept-Encoding`` is added to every
response large enough to compress, whichever coding (or none) the client accepted.

Default levels, chosen by ``bench/compression.py`` (see docs/decisions.md): the lowest level of
each coding whose output is smaller than gzip level 6 at a lower CPU cost on HTML and JSON pages
(brotli 5, zstd 6), and gzip 6 (within 2% of level 9's size at 60% of its time).
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, Protocol

import anyio
import anyio.to_thread

from lyre.middleware.gzip import (
    _THREAD_MINIMUM_SIZE,
    DEFAULT_EXCLUDED_CONTENT_TYPES,
    IdentityResponder,
    _accept_encoding,
    _thread_limiter,
)
from lyre.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "DEFAULT_BROTLI_QUALITY",
    "DEFAULT_EXCLUDED_CONTENT_TYPES",
    "DEFAULT_GZIP_LEVEL",
    "DEFAULT_PREFERENCE",
    "DEFAULT_ZSTD_LEVEL",
    "CompressionMiddleware",
    "available_codings",
    "negotiate",
]

DEFAULT_GZIP_LEVEL = 6
DEFAULT_BROTLI_QUALITY = 5
DEFAULT_ZSTD_LEVEL = 6
#: Ties between codings the client accepts equally: the smallest output first (measured).
DEFAULT_PREFERENCE = ("br", "zstd", "gzip")

_MAX_ACCEPT_ENCODING = 1024
_GZIP_WBITS = 16 + zlib.MAX_WBITS


class _Stream(Protocol):
    """One response's compressor: ``compress(chunk, last)`` returns what to send for that chunk."""

    def compress(self, data: bytes, last: bool) -> bytes: ...  # pragma: no cover


class _GzipStream:
    __slots__ = ("_c",)

    def __init__(self, level: int) -> None:
        self._c = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)

    def compress(self, data: bytes, last: bool) -> bytes:
        c = self._c
        return c.compress(data) + c.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


class _BrotliStream:
    __slots__ = ("_c",)

    def __init__(self, module: Any, quality: int) -> None:
        self._c = module.Compressor(quality=quality)

    def compress(self, data: bytes, last: bool) -> bytes:
        c = self._c
        out: bytes = c.process(data)
        return out + (c.finish() if last else c.flush())  # type: ignore[no-any-return]


class _ZstandardStream:
    """zstd through the ``zstandard`` package: one frame per response, a block flush per chunk."""

    __slots__ = ("_block", "_c")

    def __init__(self, module: Any, level: int) -> None:
        self._c = module.ZstdCompressor(level=level).compressobj()
        self._block = module.COMPRESSOBJ_FLUSH_BLOCK

    def compress(self, data: bytes, last: bool) -> bytes:
        c = self._c
        out: bytes = c.compress(data)
        return out + (c.flush() if last else c.flush(self._block))  # type: ignore[no-any-return]


class _StdlibZstdStream:
    """zstd through ``compression.zstd`` (Python 3.14+): the same frame and flushes."""

    __slots__ = ("_block", "_c", "_frame")

    def __init__(self, module: Any, level: int) -> None:
        self._c = module.ZstdCompressor(level=level)
        self._block = module.ZstdCompressor.FLUSH_BLOCK
        self._frame = module.ZstdCompressor.FLUSH_FRAME

    def compress(self, data: bytes, last: bool) -> bytes:
        return self._c.compress(data, mode=self._frame if last else self._block)  # type: ignore[no-any-return]


def _import(name: str) -> ModuleType | None:
    try:
        return __import__(name, fromlist=["_"])
    except ImportError:
        return None


@functools.cache
def _factories() -> dict[str, Callable[[int], _Stream]]:
    """The codings this interpreter can produce, each with its stream factory (by level)."""
    found: dict[str, Callable[[int], _Stream]] = {"gzip": _GzipStream}
    brotli = _import("brotli") or _import("brotlicffi")
    if brotli is not None:
        found["br"] = functools.partial(_BrotliStream, brotli)
    stdlib_zstd = _import("compression.zstd")
    if stdlib_zstd is not None:  # pragma: no cover - Python 3.14+
        found["zstd"] = functools.partial(_StdlibZstdStream, stdlib_zstd)
    else:
        zstandard = _import("zstandard")
        if zstandard is not None:
            found["zstd"] = functools.partial(_ZstandardStream, zstandard)
    return found


def available_codings() -> tuple[str, ...]:
    """The content codings the installed libraries allow, e.g. ``("br", "zstd", "gzip")``."""
    found = _factories()
    return tuple(coding for coding in DEFAULT_PREFERENCE if coding in found)


_INSTALL_HINT = {
    "br": "brotli (`pip install brotli`)",
    "zstd": "zstandard (`pip install zstandard`; the stdlib has compression.zstd from Python 3.14)",
}


def _quality(params: str) -> float | None:
    """The ``q`` of ``;q=0.5``-style parameters: 1 when absent, ``None`` when malformed."""
    quality = 1.0
    for param in params.split(";"):
        name, eq, value = param.partition("=")
        name = name.strip().lower()
        if not name and not eq:
            continue
        if name != "q":
            continue
        value = value.strip()
        # RFC 9110 qvalue: "0" to "1", at most three decimals (ASCII digits only: str.isdigit also
        # accepts "²", which float() refuses).
        if not 0 < len(value) <= 5 or not value.isascii() or not value.replace(".", "", 1).isdigit():
            return None
        quality = float(value)
        if quality > 1:
            return None
    return quality


@functools.lru_cache(maxsize=512)
def negotiate(accept_encoding: str, offered: tuple[str, ...]) -> str | None:
    """The coding of ``offered`` (in preference order) to use for ``accept_encoding``; ``None``: identity."""
    if len(accept_encoding) > _MAX_ACCEPT_ENCODING:
        return None
    explicit: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        quality = _quality(params)
        if quality is None:
            continue
        if coding == "x-gzip":
            coding = "gzip"
        explicit.setdefault(coding, quality)
    star = explicit.get("*")
    best: str | None = None
    best_quality = 0.0
    for coding in offered:
        quality = explicit.get(coding, star if star is not None else 0.0)
        if quality > best_quality:
            best, best_quality = coding, quality
    if best is None:
        return None
    identity = explicit.get("identity", star if star is not None else 0.0)
    if identity > best_quality:
        return None
    return best


class CompressionMiddleware:
    """Compress responses with the best coding both sides support (zstd, brotli, gzip).

    ``minimum_size``: bodies sent in one message below this size stay uncompressed.
    ``preference``: the codings offered, best first (ties in the client's qualities go to the first).
    ``gzip_level`` (1-9), ``brotli_quality`` (0-11), ``zstd_level`` (1-22): compression levels.
    ``exclude_content_types``: media types never compressed (``type/*`` matches a whole family).
    ``thread_minimum_size``: bodies at least this large are compressed in a worker thread.
    """

    def __init__(
        self,
        app: ASGIApp,
        minimum_size: int = 500,
        *,
        preference: Sequence[str] | None = None,
        gzip_level: int = DEFAULT_GZIP_LEVEL,
        brotli_quality: int = DEFAULT_BROTLI_QUALITY,
        zstd_level: int = DEFAULT_ZSTD_LEVEL,
        exclude_content_types: tuple[str, ...] = DEFAULT_EXCLUDED_CONTENT_TYPES,
        thread_minimum_size: int = _THREAD_MINIMUM_SIZE,
    ) -> None:
        self.app = app
        self.minimum_size = minimum_size
        self.exclude_content_types = exclude_content_types
        self.thread_minimum_size = thread_minimum_size
        factories = _factories()
        if preference is None:
            offered = available_codings()
        else:
            offered = tuple(coding.strip().lower() for coding in preference)
            for coding in offered:
                if coding not in ("gzip", "br", "zstd"):
                    raise ValueError(f"unknown coding {coding!r}: choose from 'br', 'zstd', 'gzip'")
                if coding not in factories:
                    raise ImportError(
                        f"CompressionMiddleware: the {coding!r} coding needs {_INSTALL_HINT[coding]}, "
                        "or `pip install 'lyre-asgi[compression]'`."
                    )
            if len(set(offered)) != len(offered):
                raise ValueError("preference lists a coding twice")
        if not 1 <= gzip_level <= 9 or not 0 <= brotli_quality <= 11 or not 1 <= zstd_level <= 22:
            raise ValueError("levels out of range: gzip 1-9, brotli 0-11, zstd 1-22")
        self.offered = offered
        levels = {"gzip": gzip_level, "br": brotli_quality, "zstd": zstd_level}
        self._makers: dict[str, Callable[[], _Stream]] = {
            coding: functools.partial(factories[coding], levels[coding]) for coding in offered
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        accept = _accept_encoding(scope)
        coding = None if accept is None else negotiate(accept, self.offered)
        responder: IdentityResponder
        if coding is None:
            responder = IdentityResponder(
                self.app, self.minimum_size, exclude_content_types=self.exclude_content_types
            )
        else:
            responder = _CodingResponder(
                self.app,
                self.minimum_size,
                coding,
                self._makers[coding],
                self.thread_minimum_size,
                self.exclude_content_types,
            )
        await responder(scope, receive, send)


class _CodingResponder(IdentityResponder):
    """Encodes one response's body with one stream of the negotiated coding."""

    def __init__(
        self,
        app: ASGIApp,
        minimum_size: int,
        coding: str,
        make: Callable[[], _Stream],
        thread_minimum_size: int,
        exclude_content_types: tuple[str, ...],
    ) -> None:
        super().__init__(app, minimum_size, exclude_content_types=exclude_content_types)
        self.content_encoding = coding
        self._make = make
        self._stream: _Stream | None = None
        self.thread_minimum_size = thread_minimum_size

    def _compress(self, body: bytes, more_body: bool) -> bytes:
        stream = self._stream
        if stream is None:
            stream = self._stream = self._make()
        return stream.compress(body, not more_body)

    async def apply_compression(self, body: bytes, *, more_body: bool) -> bytes:
        if len(body) >= self.thread_minimum_size:
            return await anyio.to_thread.run_sync(self._compress, body, more_body, limiter=_thread_limiter())
        return self._compress(body, more_body)
