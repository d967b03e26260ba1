"""A minimal find-based multipart/form-data tokenizer, measured against the libraries (not used by lyre).

Same callback interface as python-multipart's ``MultipartParser`` (``on_part_begin``,
``on_part_data(data, start, end)``, ``on_part_end``, ``on_header_field``, ``on_header_value``,
``on_header_end``, ``on_headers_finished``, ``on_end``), so it could replace it in
``lyre.formparsers.MultiPartParser``. Body data is searched with one ``bytes.find`` per chunk; a
partial delimiter at the end of a chunk is carried over (it can only start at the chunk's last CR,
because a boundary contains no CR); headers are buffered up to a fixed size and split with
``bytes.split``. Linear in the input for any chunking.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PREAMBLE, DELIMITER_END, HEADERS, BODY, END = range(5)


class ParseError(ValueError):
    pass


class OwnMultipartParser:
    def __init__(
        self,
        boundary: bytes,
        callbacks: dict[str, Callable[..., Any]],
        max_header_count: int = 16,
        max_header_size: int = 8192,
    ) -> None:
        if not boundary or b"\r" in boundary or b"\n" in boundary:
            raise ParseError("invalid boundary")
        self.delimiter = b"\r\n--" + boundary
        self.callbacks = callbacks
        self.max_header_count = max_header_count
        self.max_header_block = max_header_count * (max_header_size + 2) + 2
        self.state = PREAMBLE
        # Preamble: pretend the body starts after a CRLF, so the first "--boundary" is a delimiter.
        self.carry = b"\r\n"

    def _cb(self, name: str, *args: Any) -> None:
        callback = self.callbacks.get(name)
        if callback is not None:
            callback(*args)

    def write(self, data: bytes) -> int:
        length = len(data)
        pos = 0
        delimiter = self.delimiter
        m = len(delimiter)
        while pos < length:
            state = self.state
            if state == BODY or state == PREAMBLE:
                emit = state == BODY
                carry = self.carry
                if carry:
                    # ``carry`` is a proper prefix of the delimiter left at the end of the last chunk.
                    window = carry + data[pos : pos + m - len(carry)]
                    if window == delimiter:
                        pos += m - len(carry)
                        self.carry = b""
                        if emit:
                            self._cb("on_part_end")
                        self.state = DELIMITER_END
                        continue
                    if len(window) < m and delimiter.startswith(window):
                        self.carry = window
                        return length
                    if emit:
                        self._cb("on_part_data", carry, 0, len(carry))
                    self.carry = b""
                i = data.find(delimiter, pos)
                if i != -1:
                    if emit:
                        if i > pos:
                            self._cb("on_part_data", data, pos, i)
                        self._cb("on_part_end")
                    pos = i + m
                    self.state = DELIMITER_END
                    continue
                end = length
                cr = data.rfind(b"\r", max(pos, length - m + 1), length)
                if cr != -1 and delimiter.startswith(data[cr:length]):
                    end = cr
                    self.carry = data[cr:length]
                if emit and end > pos:
                    self._cb("on_part_data", data, pos, end)
                return length
            if state == DELIMITER_END:
                need = 2 - len(self.carry)
                self.carry += data[pos : pos + need]
                pos += min(need, length - pos)
                if len(self.carry) < 2:
                    return length
                marker, self.carry = self.carry, b""
                if marker == b"\r\n":
                    self.state = HEADERS
                    self._cb("on_part_begin")
                elif marker == b"--":
                    self.state = END
                    self._cb("on_end")
                else:
                    raise ParseError("bad delimiter")
                continue
            if state == HEADERS:
                carry = self.carry
                searched_from = max(0, len(carry) - 3)
                block = carry + data[pos:]
                if block.startswith(b"\r\n"):
                    end_at = 0
                else:
                    end_at = block.find(b"\r\n\r\n", searched_from)
                    if end_at == -1:
                        if len(block) > self.max_header_block:
                            raise ParseError("headers too large")
                        self.carry = block
                        return length
                    end_at += 2
                headers = block[:end_at]
                consumed = end_at + 2 - len(carry)
                self.carry = b""
                lines = headers.split(b"\r\n")[:-1] if headers else []
                if len(lines) > self.max_header_count:
                    raise ParseError("too many headers")
                for line in lines:
                    name, sep, value = line.partition(b":")
                    if not sep or not name:
                        raise ParseError("bad header")
                    self._cb("on_header_field", name, 0, len(name))
                    value = value.strip(b" \t")
                    self._cb("on_header_value", value, 0, len(value))
                    self._cb("on_header_end")
                self._cb("on_headers_finished")
                pos += consumed
                self.state = BODY
                continue
            # END: the epilogue is ignored.
            return length
        return length

    def finalize(self) -> None:
        if self.state != END:
            raise ParseError("body ended before the closing boundary")
