"""Streaming parsers behind ``request.form()``: urlencoded (``FormParser``) and multipart
(``MultiPartParser``).

Both consume the body as an async stream of chunks and keep memory bounded: a urlencoded field or a
multipart text field is buffered only up to ``max_part_size``; uploaded files go to a
``SpooledTemporaryFile`` (1 MiB in memory, then disk, written from a worker thread in batches of at
most ``_DISK_BATCH`` bytes).

**Parser choice (measured, see ``bench/forms/README.md``).** The multipart wire format is tokenised
by ``python-multipart`` (imported lazily, only when a form is parsed). Against ``multipart``,
``streaming-form-data`` and a find-based prototype of our own it was as fast as any on uploads (the
cost there is the ``bytes.find`` boundary scan they all share); the others were at most 1.3-2x faster
only on field-heavy or byte-by-byte bodies, and ``streaming-form-data`` was far slower on uploads and
needs field names up front. python-multipart is also the ``full`` extra and FastAPI's requirement,
scans linearly on hostile input and bounds part headers (count and line length). Around it, lyre does
its own bookkeeping without copying file data (zero-copy slices of the received chunks, one join per
upload). The urlencoded format is simple enough that lyre splits it itself (C-level ``split``, no
per-byte Python code).

**lyre decisions (safety)** -- each answers ``400`` inside an application, see ``docs/decisions.md``:

- a non-empty multipart body that ends before its closing boundary is rejected (``Invalid multipart
  data.``), never returned as a silently partial form (an empty body is an empty form, as in Starlette);
- a boundary longer than 200 characters, or empty, is rejected (``Invalid multipart data.``);
- names/filenames/values that are not valid in a charset Python knows are rejected (``Invalid utf-8
  data in multipart.``) instead of being decoded as latin-1; set ``MultiPartParser.strict_decoding =
  False`` for Starlette's fallback. A charset Python does not know means latin-1, as in Starlette;
- ``Content-Type``/``Content-Disposition`` parameters are parsed in linear time (our own tokenizer;
  ``parse_options_header`` stays importable for compatibility);
- filenames are reported exactly as sent (no path munging); lyre never uses them as paths.
"""

from __future__ import annotations

import codecs
import enum
import io
import re
import sys as sys
import warnings
import weakref
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from enum import Enum as Enum
from functools import partial
from tempfile import SpooledTemporaryFile
from typing import TYPE_CHECKING as TYPE_CHECKING
from typing import Any, BinaryIO, cast
from urllib.parse import unquote, unquote_plus

import anyio
import anyio.to_thread

from lyre.datastructures import FormData, Headers, UploadFile
from lyre.exceptions import StarletteDeprecationWarning

# The ``X as X`` imports re-export names Starlette's module also has (``sys``, ``Enum``,
# ``TYPE_CHECKING``, ``deprecated``); ``multipart`` and ``FormParserError`` (python-multipart's) are
# resolved lazily by the module ``__getattr__``.
if sys.version_info >= (3, 13):  # pragma: no cover
    from warnings import deprecated as deprecated
else:  # pragma: no cover
    from typing_extensions import deprecated as deprecated

__all__ = [
    "FormMessage",
    "FormParser",
    "MultiPartException",
    "MultiPartParser",
    "MultipartPart",
]

#: Longest multipart boundary accepted (RFC 2046 allows 70; clients stay far below 200).
MAX_BOUNDARY_LENGTH = 200
#: Upload data is written to a rolled-over (on-disk) temp file in batches of up to this many bytes,
#: so a 100 MiB upload costs ~100 thread hops, not one per received chunk.
_DISK_BATCH = 1024 * 1024
#: File data pieces shorter than this are copied into one buffer rather than kept as views.
_SMALL_PIECE = 4096
#: The stdlib class itself: its internals may be used directly. ``SpooledTemporaryFile`` (the module
#: global, which code may replace with its own class) is what uploads are created with.
_STDLIB_SPOOLED = SpooledTemporaryFile


class _MultipartNotInstalled(ImportError, AssertionError):
    """python-multipart is missing: an ``ImportError`` and, as Starlette raises, an ``AssertionError``."""


_multipart: Any = None


def _require_multipart() -> Any:
    """Import python-multipart on first use (importing lyre does not need it)."""
    global _multipart
    if _multipart is None:
        try:
            import python_multipart
        except ImportError:  # pragma: no cover - exercised by monkeypatching in tests
            raise _MultipartNotInstalled(
                "The `python-multipart` library must be installed to use form parsing. "
                "Install it with `pip install python-multipart` (or `pip install 'lyre-asgi[full]'`)."
            ) from None
        _multipart = python_multipart
    return _multipart


def __getattr__(name: str) -> Any:
    # Incidental re-export kept for compatibility, resolved lazily so importing needs no extras.
    if name == "parse_options_header":
        return _require_multipart().multipart.parse_options_header
    if name == "multipart":
        return _require_multipart()
    if name == "FormParserError":
        return _require_multipart().exceptions.FormParserError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _FormMessageMeta(enum.EnumMeta):
    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        warnings.warn(
            "`FormMessage` is deprecated and will be removed in a future version.",
            StarletteDeprecationWarning,
            stacklevel=2,
        )
        return super().__call__(*args, **kwargs)


class FormMessage(enum.Enum, metaclass=_FormMessageMeta):
    """Deprecated; kept so that old imports work. Constructing a member warns."""

    FIELD_START = 1
    FIELD_NAME = 2
    FIELD_DATA = 3
    FIELD_END = 4
    END = 5


@dataclass
class MultipartPart:
    """One part of a multipart body while it is being parsed.

    The field names, order and defaults are public (positional construction is supported), so each
    field is documented where it is declared.
    """

    content_disposition: bytes | None = None  # raw Content-Disposition value, once its header ends
    field_name: str = ""  # the decoded ``name=`` parameter, set when the headers are complete
    data: bytearray = field(default_factory=bytearray)  # a text field's bytes (unused for files)
    file: UploadFile | None = None  # the upload receiving the body, when the part has a filename
    item_headers: list[tuple[bytes, bytes]] = field(default_factory=list)  # (lowercased name, value)


class MultiPartException(Exception):
    """A form body the parsers reject; ``message`` is what the client is told (as a 400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# Header parameters ------------------------------------------------------------------------------

# A quoted string (its closing quote optional, so an unterminated one ends the header without any
# rescanning), a run of ordinary characters, or a separator. Every alternative consumes input and
# cannot fail halfway, so tokenising is linear in the header length.
_PARAM_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[^";]+|;', re.DOTALL)


_SIMPLE_DISPOSITION = re.compile(r'form-data; name="([^"\\]*)"(?:; filename="([^"\\]*)")?')


def _parse_options(value: str) -> tuple[str, dict[str, str]]:
    """Split ``type; k=v; k2="q"`` into the lower-cased type and its parameters (keys lower-cased).

    Same results as python-multipart's ``parse_options_header`` on ordinary input (quotes removed,
    ``\\"`` and ``\\\\`` unescaped, RFC 2231 ``key*`` parameters ignored), but linear time on any
    input and filenames are kept exactly as sent.
    """
    if ";" not in value:
        return value.strip(" \t").lower(), {}
    if '"' not in value:
        # PERF (multipart): nothing quoted (the Content-Type): a plain split, not the token regex;
        # measured: 0.95 µs vs 2.72 µs per call (2.9x)
        segments = value.split(";")
    elif "\\" not in value:
        # PERF (no bench cell: unusual Content-Disposition): quotes, no escapes: C-level splits, not the
        # regex token loop (same result); measured: 3.75 µs vs 5.17 µs per call (1.4x)
        pieces = value.split('"')
        unterminated = len(pieces) % 2 == 0
        segments = []
        current: list[str] = []
        last = len(pieces) - 1
        for index, piece in enumerate(pieces):
            if index % 2:
                current.append('"' + piece if unterminated and index == last else '"' + piece + '"')
            else:
                first, *rest = piece.split(";")
                current.append(first)
                for part in rest:
                    segments.append("".join(current))
                    current = [part]
        segments.append("".join(current))
    else:
        segments = []
        current = []
        for match in _PARAM_TOKEN.finditer(value):
            token = match.group()
            if token == ";":
                segments.append("".join(current))
                current = []
            else:
                current.append(token)
        segments.append("".join(current))
    params: dict[str, str] = {}
    for segment in segments[1:]:
        key, _, val = segment.partition("=")
        key = key.strip(" \t").lower()
        if not key or "*" in key:
            continue
        val = val.strip(" \t")
        if len(val) >= 2 and val[0] == '"' and val[-1] == '"':
            val = val[1:-1].replace("\\\\", "\\").replace('\\"', '"')
        params[key] = val
    return segments[0].strip(" \t").lower(), params


async def _close_stream(stream: AsyncGenerator[bytes, None]) -> None:
    """Finalise an abandoned body stream now (an unclosed async generator warns when collected)."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        with anyio.CancelScope(shield=True):
            try:
                await aclose()
            except Exception:  # pragma: no cover - the stream's own error is already propagating
                pass


def _adopt(upload: UploadFile, pieces: list[bytes], max_size: int) -> bool:
    """Put a whole small upload into its still-empty in-memory spooled file without copying it.

    PERF (multipart): ``io.BytesIO(data)`` shares the ``bytes`` object instead of copying it, and
    reading it back whole returns that same object; so an upload that fits in memory is copied once
    (the join of the received pieces) instead of three times (join, write, read); measured: 428-442 µs
    vs 471-496 µs per request (1.1x). Falls back (``False``) for anything but an untouched
    ``SpooledTemporaryFile``.
    """
    file: Any = upload.file
    if type(file) is not _STDLIB_SPOOLED:
        return False
    buffer = getattr(file, "_file", None)
    if getattr(file, "_rolled", True) or type(buffer) is not io.BytesIO:
        return False
    if buffer.tell() or buffer.getbuffer().nbytes:
        return False
    size = sum(map(len, pieces))
    if size > max_size:
        return False
    if len(pieces) == 1 and type(pieces[0]) is bytes:
        data = pieces[0]
    else:
        data = b"".join(pieces)
    file._file = io.BytesIO(data)  # type: ignore[attr-defined]
    upload.size = size
    return True


def _write_each(file: Any, pieces: list[bytes]) -> None:
    for piece in pieces:
        file.write(piece)


async def _write_pieces(upload: UploadFile, pieces: list[bytes]) -> None:
    """Append ``pieces`` to the upload: directly while it stays in memory, else in a worker thread.

    ``writelines`` is used only on the stdlib's own ``SpooledTemporaryFile``; any other file class (a
    subclass, a substitute) gets its ``write`` called for each piece, so its overrides take effect.
    """
    file: Any = upload.file
    size = sum(map(len, pieces))
    write = file.writelines if type(file) is _STDLIB_SPOOLED else partial(_write_each, file)
    if getattr(file, "_rolled", True) is False and file.tell() + size <= getattr(file, "_max_size", 0):
        write(pieces)
    else:
        await anyio.to_thread.run_sync(write, pieces)
    upload.size = (upload.size or 0) + size


def _kb(limit: int | float) -> int:
    return int(limit / 1024)


# urlencoded -----------------------------------------------------------------------------------


class FormParser:
    """Parser for ``application/x-www-form-urlencoded`` bodies, fed chunk by chunk.

    Fields are split on ``&`` only; names and values are decoded latin-1 then ``unquote_plus``-ed.
    Both limits are enforced while a chunk is being split, so one huge chunk is never split or
    buffered past the first field that breaks a limit. ``_field_name``/``_field_value`` hold the raw
    bytes of the field still incomplete at the end of a chunk (never more than ``max_part_size``);
    ``_current_fields`` counts the fields read so far. The ``on_field_*`` methods are the same steps
    as callbacks, for code that drives the parser itself.
    """

    def __init__(
        self,
        headers: Headers,
        stream: AsyncGenerator[bytes, None],
        *,
        max_fields: int | float = 1000,
        max_part_size: int = 1024 * 1024,
    ) -> None:
        self.headers = headers
        self.stream = stream
        self.max_fields = max_fields
        self.max_part_size = max_part_size
        self._items: list[tuple[str, str | UploadFile]] = []
        self._field_name = bytearray()
        self._field_value = bytearray()
        # Whether the incomplete field has shown its ``=`` (later bytes then belong to the value).
        self._in_value = False
        self._current_fields = 0

    # Callback-style API ------------------------------------------------------------------------

    def on_field_start(self) -> None:
        self._field_name = bytearray()
        self._field_value = bytearray()
        self._in_value = False

    def on_field_name(self, data: bytes, start: int, end: int) -> None:
        self._check_size(len(self._field_name) + len(self._field_value) + end - start)
        self._field_name += data[start:end]

    def on_field_data(self, data: bytes, start: int, end: int) -> None:
        self._check_size(len(self._field_name) + len(self._field_value) + end - start)
        self._field_value += data[start:end]
        self._in_value = True

    def on_field_end(self) -> None:
        self._add_field(self._field_name, self._field_value)
        self.on_field_start()

    # Parsing -----------------------------------------------------------------------------------

    def _check_size(self, size: int) -> None:
        if size > self.max_part_size:
            raise MultiPartException(f"Field exceeded maximum size of {_kb(self.max_part_size)}KB.")

    def _count_field(self) -> None:
        self._current_fields += 1
        if self._current_fields > self.max_fields:
            raise MultiPartException(f"Too many fields. Maximum number of fields is {self.max_fields}.")

    def _add_field(self, name: bytes | bytearray | memoryview, value: bytes | bytearray | memoryview) -> None:
        self._count_field()
        self._items.append((unquote_plus(str(name, "latin-1")), unquote_plus(str(value, "latin-1"))))

    def _extend_pending(self, chunk: bytes, start: int, end: int) -> None:
        """Carry ``chunk[start:end]``, the start of a field that continues in the next chunk.

        The field's size is checked before anything is buffered.
        """
        if start >= end:
            return
        eq = -1 if self._in_value else chunk.find(b"=", start, end)
        size = len(self._field_name) + len(self._field_value) + end - start - (eq >= 0)
        if size > self.max_part_size:
            self._check_size(size)
        data = chunk if start == 0 and end == len(chunk) else memoryview(chunk)[start:end]
        if self._in_value:
            self._field_value += data
        elif eq < 0:
            self._field_name += data
        else:
            eq -= start
            self._field_name += data[:eq]
            self._field_value += data[eq + 1 :]
            self._in_value = True

    def _finish_pending(self, chunk: bytes, end: int) -> None:
        """Complete the carried-over field with ``chunk[:end]`` (the bytes before the first ``&``)."""
        self._extend_pending(chunk, 0, end)
        if self._field_name or self._field_value or self._in_value:
            self._add_field(self._field_name, self._field_value)
        self.on_field_start()

    def _add_complete(self, chunk: bytes, start: int, end: int) -> None:
        """Add the complete ``&``-separated fields in ``chunk[start:end]`` (empty ones skipped)."""
        max_size = self.max_part_size
        if self._current_fields + chunk.count(b"&", start, end) + 1 <= self.max_fields:
            # PERF (form): no limit can be hit: decode once, one split, unquote only where a ``%`` is;
            # measured: 11 µs vs 24 µs per parse (2.2x); 60-63 µs vs 75-91 µs per request
            text = str(memoryview(chunk)[start:end], "latin-1")
            if "+" in text:
                text = text.replace("+", " ")
            segments = text.split("&")
            if end - start <= max_size or max(map(len, segments)) <= max_size:
                pairs = [segment.partition("=") for segment in segments if segment]
                self._current_fields += len(pairs)
                self._items.extend(
                    (unquote(name) if "%" in name else name, unquote(value) if "%" in value else value)
                    for name, _, value in pairs
                )
                return
        # A limit may be hit: walk the fields one by one and stop at the first one over a limit.
        view = memoryview(chunk)
        pos = start
        while True:
            amp = chunk.find(b"&", pos, end)
            stop = end if amp < 0 else amp
            if stop > pos:
                eq = chunk.find(b"=", pos, stop)
                self._check_size(stop - pos - (eq >= 0))
                if eq < 0:
                    self._add_field(view[pos:stop], b"")
                else:
                    self._add_field(view[pos:eq], view[eq + 1 : stop])
            if amp < 0:
                return
            pos = amp + 1

    def _feed(self, chunk: bytes) -> None:
        last = chunk.rfind(b"&")
        if last < 0:
            self._extend_pending(chunk, 0, len(chunk))
            return
        start = 0
        if self._field_name or self._in_value:
            if len(chunk) <= _SMALL_PIECE:
                # PERF (no bench cell: slow clients): a small chunk is joined to the carried-over field,
                # parsed in one go; measured: 36-41 µs vs 43-47 µs per parse in 16-byte chunks (1.2x)
                head = self._field_name + b"=" + self._field_value if self._in_value else self._field_name
                self.on_field_start()
                last += len(head)
                chunk = bytes(head) + chunk
            else:
                first = chunk.find(b"&")
                self._finish_pending(chunk, first)
                start = first + 1
        self._add_complete(chunk, start, last)
        self._extend_pending(chunk, last + 1, len(chunk))

    async def parse(self) -> FormData:
        """Read the whole stream and return the fields in order."""
        try:
            async for chunk in self.stream:
                if chunk:
                    self._feed(chunk if type(chunk) is bytes else bytes(chunk))
            self._finish_pending(b"", 0)
        except BaseException:
            await _close_stream(self.stream)
            raise
        form = FormData(self._items)
        form._may_hold_files = False  # fields only: closing it has nothing to do
        return form


# multipart ------------------------------------------------------------------------------------


class MultiPartParser:
    """Parser for ``multipart/form-data`` bodies: text fields in memory, files in temp files."""

    spool_max_size = 1024 * 1024
    max_part_size = 1024 * 1024
    #: lyre decision: reject text that is not valid in the declared charset (400) instead of
    #: decoding it as latin-1; set to ``False`` for Starlette's fallback behaviour.
    strict_decoding = True

    def __init__(
        self,
        headers: Headers,
        stream: AsyncGenerator[bytes, None],
        *,
        max_files: int | float = 1000,
        max_fields: int | float = 1000,
        max_part_size: int = 1024 * 1024,
    ) -> None:
        self.headers = headers
        self.stream = stream
        self.max_files = max_files
        self.max_fields = max_fields
        self.max_part_size = max_part_size
        self.items: list[tuple[str, str | UploadFile]] = []
        self._current_files = 0
        self._current_fields = 0
        self._current_partial_header_name = b""
        self._current_partial_header_value = b""
        self._current_part = MultipartPart()
        self._charset = "utf-8"
        self._files_to_close_on_error: list[UploadFile] = []
        # File data waiting to be written: (upload, pieces, part finished?) in arrival order.
        self._file_ops: list[tuple[UploadFile, list[bytes], bool]] = []
        self._pieces: list[bytes] = []
        self._pieces_size = 0
        # Small pieces (tiny body chunks) are copied together here instead of being kept one object
        # each, so 1-byte chunks cannot inflate memory ~40x.
        self._small = bytearray()
        self._ended = False

    # Decoding --------------------------------------------------------------------------------

    def _decode(self, data: bytes | bytearray) -> str:
        try:
            return data.decode(self._charset)
        except UnicodeDecodeError:
            if self.strict_decoding:
                raise MultiPartException(f"Invalid {self._charset} data in multipart.") from None
            return data.decode("latin-1")

    # python-multipart callbacks --------------------------------------------------------------

    def on_part_begin(self) -> None:
        self._current_part = MultipartPart()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._current_part
        if part.file is None:
            size = len(part.data) + end - start
            if size > self.max_part_size:
                raise MultiPartException(f"Part exceeded maximum size of {_kb(self.max_part_size)}KB.")
            part.data += memoryview(data)[start:end]
        else:
            size = end - start
            if size < _SMALL_PIECE:
                self._small += memoryview(data)[start:end]
            else:
                if self._small:
                    self._pieces.append(cast(bytes, self._small))
                    self._small = bytearray()
                # PERF (multipart): keep a zero-copy view of the chunk (written after it), not a copy;
                # measured: 0.05 µs vs 1.5 µs per 64 KiB chunk (29x)
                piece = data if start == 0 and end == len(data) else memoryview(data)[start:end]
                self._pieces.append(cast(bytes, piece))
            self._pieces_size += size

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None:
            self.items.append((part.field_name, self._decode(part.data)))
        else:
            self._file_ops.append((part.file, self._take_pieces(), True))

    def _take_pieces(self) -> list[bytes]:
        pieces = self._pieces
        if self._small:
            pieces.append(cast(bytes, self._small))
            self._small = bytearray()
        self._pieces = []
        self._pieces_size = 0
        return pieces

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._current_partial_header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._current_partial_header_value += data[start:end]

    def on_header_end(self) -> None:
        name = self._current_partial_header_name.lower()
        if name == b"content-disposition":
            self._current_part.content_disposition = self._current_partial_header_value
        self._current_part.item_headers.append((name, self._current_partial_header_value))
        self._current_partial_header_name = b""
        self._current_partial_header_value = b""

    def on_headers_finished(self) -> None:
        part = self._current_part
        disposition = part.content_disposition
        options: dict[str, str]
        if disposition is None:
            options = {}
        else:
            text = disposition.decode("latin-1")
            # PERF (multipart): what browsers send (``form-data; name="x"[; filename="y"]``) in one
            # fullmatch; measured: 0.51-0.70 µs vs 2.6-3.8 µs per part (5x)
            simple = _SIMPLE_DISPOSITION.fullmatch(text)
            if simple is not None:
                options = (
                    {"name": simple[1]} if simple[2] is None else {"name": simple[1], "filename": simple[2]}
                )
            else:
                options = _parse_options(text)[1]
        name = options.get("name")
        if name is None:
            raise MultiPartException('The Content-Disposition header field "name" must be provided.')
        part.field_name = self._decode(name.encode("latin-1"))
        filename = options.get("filename")
        if filename is not None:
            self._current_files += 1
            if self._current_files > self.max_files:
                raise MultiPartException(f"Too many files. Maximum number of files is {self.max_files}.")
            spooled = SpooledTemporaryFile(max_size=self.spool_max_size)
            upload = UploadFile(
                file=cast(BinaryIO, spooled),
                size=0,
                filename=self._decode(filename.encode("latin-1")),
                headers=Headers(raw=part.item_headers),
            )
            # Safety net: the temp file is closed when its UploadFile is garbage collected, so a
            # form nobody closed leaks neither a file descriptor nor a ResourceWarning.
            weakref.finalize(upload, spooled.close)
            self._files_to_close_on_error.append(upload)
            part.file = upload
            self.items.append((part.field_name, upload))
        else:
            self._current_fields += 1
            if self._current_fields > self.max_fields:
                raise MultiPartException(f"Too many fields. Maximum number of fields is {self.max_fields}.")

    def on_end(self) -> None:
        self._ended = True

    # Parsing ---------------------------------------------------------------------------------

    def _settings(self) -> bytes:
        """Read charset and boundary from the request ``Content-Type``."""
        _, params = _parse_options(self.headers.get("content-type", ""))
        charset = params.get("charset", "utf-8")
        try:
            info = codecs.lookup(charset)  # looked up once per form, not once per part
        except LookupError:
            info = None
        # As Starlette: a charset Python does not know, or a codec that is not a text encoding
        # ("base64", "zip", "rot13"), means latin-1 (every byte is a character; nothing fails).
        if info is None or not getattr(info, "_is_text_encoding", True):
            self._charset = "latin-1"
        else:
            self._charset = info.name
        boundary = params.get("boundary")
        if boundary is None:
            raise MultiPartException("Missing boundary in multipart.")
        if not boundary or len(boundary) > MAX_BOUNDARY_LENGTH:
            # lyre decision: refused up front (Starlette's parser fails on such a body later).
            raise MultiPartException("Invalid multipart data.")
        return boundary.encode("latin-1")

    def _make_parser(self, boundary: bytes) -> Any:
        multipart = _require_multipart()
        callbacks: dict[str, Callable[..., None]] = {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_end": self.on_end,
        }
        return multipart.MultipartParser(boundary, callbacks)

    async def _write_file_data(self) -> None:
        """Write the file data collected while parsing the last chunk.

        A file that fits in memory is written once, when its part ends; a larger one is written in
        batches of ``_DISK_BATCH`` bytes from a worker thread (one thread hop per batch, not per chunk).
        """
        ops = self._file_ops
        upload = self._current_part.file
        if upload is not None:
            threshold = _DISK_BATCH if upload.size else self.spool_max_size
            if self._pieces_size > threshold:
                ops.append((upload, self._take_pieces(), False))
        self._file_ops = []
        for upload, pieces, finished in ops:
            if finished and not upload.size and _adopt(upload, pieces, self.spool_max_size):
                continue
            if pieces:
                await _write_pieces(upload, pieces)
            if finished:
                await upload.seek(0)

    async def parse(self) -> FormData:
        """Read the whole stream and return fields and files in part order."""
        boundary = self._settings()
        multipart = _require_multipart()
        parse_error = multipart.exceptions.ParseError
        try:
            parser = self._make_parser(boundary)
            received = False
            async for chunk in self.stream:
                if not chunk:
                    continue
                received = True
                if type(chunk) is not bytes:
                    # File data is kept as views of the chunks: they must be immutable.
                    chunk = bytes(chunk)
                try:
                    parser.write(chunk)
                except parse_error:
                    raise MultiPartException("Invalid multipart data.") from None
                # PERF (multipart): uploads that fit in memory are written once, at the end of their part;
                # measured: no gain above noise (428-442 µs vs 435-440 µs per request)
                if self._file_ops or self._pieces_size > _DISK_BATCH:
                    await self._write_file_data()
            parser.finalize()
            if received and not self._ended:
                # lyre decision: a body cut before its closing boundary is an error, not a partial form.
                # (An empty body is an empty form, as in Starlette: FastAPI relies on it to report
                # missing fields as 422.)
                raise MultiPartException("Invalid multipart data.")
        except BaseException:
            await _close_stream(self.stream)
            await self._close_files()
            raise
        return FormData(self.items)

    async def _close_files(self) -> None:
        self._pieces = []
        self._small = bytearray()
        self._file_ops = []
        files, self._files_to_close_on_error = self._files_to_close_on_error, []
        with anyio.CancelScope(shield=True):
            for upload in files:
                try:
                    await upload.close()
                except Exception:  # pragma: no cover - closing a temp file should not fail
                    upload.file.close()
