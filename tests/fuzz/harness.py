"""Fuzz cases, the in-process ASGI driver and the oracle.

A ``Case`` is one connection as a server would hand it to the app: an HTTP or WebSocket scope
(method, path, raw path, query string, headers, ASGI spec version), the request body cut into
``http.request`` messages (or the client's WebSocket messages), and the faults: the client
disconnecting at the n-th ``receive``, the server's ``send`` failing from the n-th call on.

``decode(data)`` turns any bytes into a ``Case`` (what the coverage-guided fuzzer feeds); cases are
saved as JSON (``Case.to_json`` / ``Case.from_json``) so a finding stays readable and replayable
whatever the decoder becomes.

``run_case(app, case, backend)`` drives the app and returns the problems the oracle saw, an empty list
when all is well. The oracle:

- the app returns, within ``TIME_LIMIT`` seconds (a hang is a finding);
- nothing escapes the ASGI call but the documented cases: the ``OSError`` the server's failing
  ``send`` raised, unchanged, or an exception chained from it (a ``StreamingResponse`` on ASGI 2.4
  turns it into ``ClientDisconnect``, as Starlette does); the ``RuntimeError`` a ``WebSocketEndpoint``
  raises after closing with 1003 on a message of the wrong kind or malformed JSON. Everything else is
  a finding;
- HTTP: the messages sent are one ``http.response.start`` then ``http.response.body`` messages, the
  last with ``more_body`` false, nothing after it; no 5xx; header names are lower-case tokens and
  values hold no CR, LF or NUL; a complete body matches ``content-length`` (HEAD aside, and unless
  the client left: servers drop what is sent after a disconnect). Once the client disconnected the app may stop early (a partial answer or none);
- WebSocket: the first message is ``websocket.accept``, ``websocket.close`` or a denial response
  (``websocket.http.response.start`` + body messages), nothing follows a close, no close code 1011
  and no 5xx denial.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import anyio

from lyre.types import ASGIApp, Message

TIME_LIMIT = 10.0
T = TypeVar("T")

_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9a-z]+$")


@dataclass
class Case:
    kind: str = "http"  # "http" or "websocket"
    method: str = "GET"
    path: str = "/"
    raw_path: bytes | None = None
    query: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)  # request body pieces, one per message
    ws_messages: list[tuple[str, bytes]] = field(default_factory=list)  # ("text"|"bytes", payload)
    spec: str = "2.3"
    root_path: str = ""
    disconnect_at: int | None = None  # the n-th receive (1-based) returns a disconnect
    fail_send_at: int | None = None  # the n-th send (1-based) and every later one raise OSError
    note: str = ""

    def to_json(self) -> str:
        data = asdict(self)
        data["raw_path"] = None if self.raw_path is None else _b(self.raw_path)
        data["query"] = _b(self.query)
        data["headers"] = [[_b(k), _b(v)] for k, v in self.headers]
        data["chunks"] = [_b(c) for c in self.chunks]
        data["ws_messages"] = [[kind, _b(p)] for kind, p in self.ws_messages]
        return json.dumps(data, indent=1, ensure_ascii=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Case:
        data = json.loads(text)
        data["raw_path"] = None if data["raw_path"] is None else _unb(data["raw_path"])
        data["query"] = _unb(data["query"])
        data["headers"] = [(_unb(k), _unb(v)) for k, v in data["headers"]]
        data["chunks"] = [_unb(c) for c in data["chunks"]]
        data["ws_messages"] = [(kind, _unb(p)) for kind, p in data["ws_messages"]]
        return cls(**data)


def _b(data: bytes) -> str:
    """Bytes as JSON text: latin-1 when printable ASCII, else ``b64:`` + base64."""
    if all(32 <= c < 127 for c in data):
        return data.decode("ascii")
    return "b64:" + base64.b64encode(data).decode("ascii")


def _unb(text: str) -> bytes:
    if text.startswith("b64:"):
        return base64.b64decode(text[4:])
    return text.encode("ascii")


# -- decoding fuzzer bytes into a case --------------------------------------------------------------


class Reader:
    """Draws choices from fuzzer bytes; past the end every draw is 0 (the simplest choice)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        value = self.data[self.pos]
        self.pos += 1
        return value

    def below(self, n: int) -> int:
        """An int in ``[0, n)``."""
        if n <= 1:
            return 0
        value = self.byte()
        if n > 256:
            value = value << 8 | self.byte()
        return value % n

    def flag(self, one_in: int = 2) -> bool:
        """True once in ``one_in`` draws (never past the end of the data)."""
        return self.below(one_in) == one_in - 1

    def pick(self, options: Sequence[T]) -> T:
        return options[self.below(len(options))]

    def blob(self, max_len: int) -> bytes:
        length = self.below(max_len + 1)
        out = self.data[self.pos : self.pos + length]
        self.pos += len(out)
        return out


_METHODS = [
    "GET",
    "GET",
    "POST",
    "POST",
    "HEAD",
    "PUT",
    "DELETE",
    "OPTIONS",
    "PATCH",
    "QUERY",
    "TRACE",
    "FOO",
]

_PATHS = [
    "/",
    "/items/{int}",
    "/typed/{float}/{uuid}",
    "/path/{seg}/{seg}",
    "/file",
    "/file/inline",
    "/json",
    "/form",
    "/form/limited",
    "/echo",
    "/stream",
    "/numbers",
    "/session",
    "/info",
    "/page/{seg}",
    "/redirect",
    "/background",
    "/fail/{int}",
    "/thing",
    "/static/{static}",
    "/api/things/{int}",
    "/api/echo",
    "/sub/{seg}/{seg}",
    "/sub/{seg}/",
    "/{seg}",
    "/ws",
    "/ws/deny/{seg}",
    "/ws/json",
    "/stream/live",
]

_SEGMENTS = [
    "a",
    "..",
    ".",
    "",
    "%2e%2e",
    "%2F",
    "é",
    "\x00",
    " ",
    "a b",
    "\u2028",
    "index.html",
    "a.txt",
    "sub",
    "sub/",
    "../data.bin",
    "//etc/passwd",
    "\\..\\x",
    "~",
    "x" * 300,
]

_STATIC = [
    "",
    "a.txt",
    "index.html",
    "sub",
    "sub/",
    "sub/index.html",
    "missing",
    "../data.bin",
    "..%2fdata.bin",
    "a.txt/",
]

_HEADER_NAMES = [
    b"host",
    b"content-type",
    b"cookie",
    b"range",
    b"if-range",
    b"if-none-match",
    b"if-modified-since",
    b"accept-encoding",
    b"origin",
    b"access-control-request-method",
    b"access-control-request-headers",
    b"accept",
    b"authorization",
    b"sec-websocket-protocol",
    b"x-forwarded-for",
    b"transfer-encoding",
    b"content-length",
    b"x-token",
    b"user-agent",
]

_HEADER_VALUES: dict[bytes, list[bytes]] = {
    b"host": [b"testserver", b"a.example.com", b"evil.com", b"testserver:80", b"[::1]:8000", b"", b"127.0.0.1:99999", b"x" * 300],
    b"range": [b"bytes=0-9", b"bytes=-5", b"bytes=4000-", b"bytes=0-1,5-9,100-200", b"bytes=9-0", b"bytes=5000-6000",
               b"bytes=0-0,-1", b"bytes=,", b"bytes=0-" + b"9" * 40, b"pages=1-2", b"bytes=" + b"0-1," * 300, b"bytes= 1 - 2 "],
    b"if-range": [b'"x"', b"Mon, 01 Jan 2024 00:00:00 GMT", b"garbage"],
    b"if-none-match": [b"*", b'"abc"', b'W/"abc", "def"', b","],
    b"if-modified-since": [b"Mon, 01 Jan 2124 00:00:00 GMT", b"Thu, 01 Jan 1970 00:00:00 GMT", b"not a date", b"Mon, 99 Foo 2024"],
    b"accept-encoding": [b"gzip", b"gzip;q=0", b"br, gzip;q=0.5", b"*", b"x-gzip", b"gzip;q=abc", b"identity"],
    b"origin": [b"https://a.example.com", b"http://localhost:3000", b"https://evil.com", b"null", b""],
    b"access-control-request-method": [b"GET", b"PUT", b"DELETE", b""],
    b"access-control-request-headers": [b"x-token", b"x-token, content-type", b"x-other", b",,,", b"X-TOKEN"],
    b"sec-websocket-protocol": [b"chat", b"chat, other", b"", b",,"],
    b"transfer-encoding": [b"chunked"],
    b"authorization": [b"Basic Zm9vOmJhcg==", b"Bearer x", b"Basic !!!"],
}  # fmt: skip

_CONTENT_TYPES = [
    b"application/x-www-form-urlencoded",
    b"multipart/form-data; boundary=BOUND",
    b'multipart/form-data; boundary="BOUND"',
    b"multipart/form-data",
    b"multipart/form-data; boundary=",
    b"application/json",
    b"text/plain; charset=utf-8",
    b"application/json; charset=latin-1",
    b"multipart/form-data; boundary=BOUND; charset=utf-8",
    b"",
]


def _text(r: Reader, max_len: int) -> str:
    return r.blob(max_len).decode("utf-8", "replace")


def _token(r: Reader, max_len: int = 12) -> bytes:
    raw = r.blob(max_len).lower()
    return bytes(c for c in raw if _TOKEN.match(bytes([c]))) or b"x"


def _header_value(r: Reader) -> bytes:
    raw = r.blob(64)
    # What a server hands over: no CR, LF or NUL, no surrounding spaces or tabs.
    return bytes(c for c in raw if c not in b"\r\n\x00").strip(b" \t")


def _multipart(r: Reader, boundary: bytes) -> bytes:
    parts = []
    for _ in range(r.below(5)):
        name = r.pick([b"a", b"f", b"file", b"", b'"q"', b"x\xff", b"n" * 200])
        disposition = b'form-data; name="' + name + b'"'
        if r.flag():
            disposition += b'; filename="' + r.pick([b"a.txt", b"", b"../x", b"\xc3\xa9.bin", b"a\\b"]) + b'"'
        if r.flag(4):
            disposition += b"; filename*=utf-8''%C3%A9.txt"
        head = b"Content-Disposition: " + r.pick(
            [disposition, b"form-data", b"attachment", b"", disposition + b";;"]
        )
        if r.flag(3):
            head += b"\r\nContent-Type: " + r.pick([b"text/plain", b"image/png", b"", b"multipart/mixed"])
        if r.flag(6):
            head += b"\r\n" + r.blob(30)
        content = (
            r.blob(200)
            if r.flag()
            else r.pick([b"", b"x" * 600, b"--" + boundary, b"\r\n--" + boundary + b"x"])
        )
        parts.append(b"--" + boundary + b"\r\n" + head + b"\r\n\r\n" + content + b"\r\n")
    ending = r.pick(
        [
            b"--" + boundary + b"--\r\n",
            b"--" + boundary + b"--",
            b"",
            b"--" + boundary,
            b"--" + boundary + b"--junk",
        ]
    )
    body = b"".join(parts) + ending
    if r.flag(5):  # corrupt a byte
        at = r.below(len(body) + 1)
        body = body[:at] + r.blob(3) + body[at + 1 :]
    return body


def _body(r: Reader, content_type: bytes) -> bytes:
    choice = r.below(4)
    if choice == 0:
        return r.blob(300)
    if content_type.startswith(b"multipart"):
        return _multipart(r, b"BOUND")
    if b"urlencoded" in content_type:
        pairs = [
            r.pick([b"a", b"b", b"", b"%zz", b"a%00", b"+", b"\xff"])
            + r.pick([b"=", b"", b"=="])
            + r.blob(20)
            for _ in range(r.below(6))
        ]
        return r.pick([b"&", b";", b"&&"]).join(pairs)
    if b"json" in content_type:
        return r.pick(
            [b'{"a": 1}', b"[1, 2, {}]", b'"x"', b"NaN", b"{", b"[" * 200 + b"]" * 200, b"1e999", b'{"a": "\\ud800"}',
             b"\xef\xbb\xbf{}", b'{"a": 1, "a": 2}', b"", b"null", b"\xff"]
        )  # fmt: skip
    return r.blob(100)


def _path(r: Reader) -> str:
    template: str = r.pick(_PATHS)
    out = []
    for piece in re.split(r"(\{[a-z]+\})", template):
        if piece == "{int}":
            out.append(r.pick(["1", "0", "-1", "007", "99999999999999999999", "1.5", "x"]))
        elif piece == "{float}":
            out.append(r.pick(["1.5", "1", "nan", "inf", "1e400", "-0.0", "x"]))
        elif piece == "{uuid}":
            out.append(r.pick(["12345678-1234-5678-1234-567812345678", "0" * 32, "x"]))
        elif piece == "{seg}":
            out.append(r.pick(_SEGMENTS) if r.flag() else _text(r, 12))
        elif piece == "{static}":
            out.append(r.pick(_STATIC))
        else:
            out.append(piece)
    return "".join(out)


def decode(data: bytes) -> Case:
    """Any bytes to a case; the same bytes always give the same case."""
    r = Reader(data)
    case = Case()
    case.path = _path(r)
    case.kind = "websocket" if case.path.startswith("/ws") and not r.flag(8) else "http"
    case.method = r.pick(_METHODS)
    case.spec = r.pick(["2.3", "2.4", "2.0", "2.1"])
    if r.flag(8):
        case.raw_path = r.blob(40)
    if r.flag(6):
        case.root_path = r.pick(["/root", "/", "/ro ot", "/items"])
    case.query = r.pick([b"", b"q=1", b"q=a&t=1&t=2", b"set=hello", b"clear", b"n=3", b"ok=1", b"name=x%00y"])
    if r.flag(3):
        case.query += r.pick([b"&", b""]) + r.blob(40)
    headers: list[tuple[bytes, bytes]] = []
    if not r.flag(10):
        headers.append((b"host", r.pick(_HEADER_VALUES[b"host"][:3])))
    for _ in range(r.below(7)):
        name = r.pick(_HEADER_NAMES) if not r.flag(5) else _token(r)
        if name in (b"content-length", b"content-type", b"transfer-encoding"):
            continue  # set from the body below, as a server would
        values = _HEADER_VALUES.get(name)
        if name == b"cookie":
            value = r.pick(_COOKIES) + (b"; " + _header_value(r) if r.flag(3) else b"")
        elif values and not r.flag(4):
            value = r.pick(values)
        else:
            value = _header_value(r)
        headers.append((name, value))
    body = b""
    if case.kind == "http":
        content_type = r.pick(_CONTENT_TYPES)
        if content_type or r.flag():
            body = _body(r, content_type)
        if content_type:
            headers.append((b"content-type", content_type))
        if r.flag(4):
            headers.append((b"transfer-encoding", b"chunked"))
        else:
            headers.append((b"content-length", str(len(body)).encode()))
        cuts = sorted({r.below(len(body) + 1) for _ in range(r.below(6))})
        points = [0, *cuts, len(body)]
        case.chunks = [body[a:b] for a, b in zip(points, points[1:], strict=False)] or [b""]
        if r.flag(6):
            case.chunks.insert(r.below(len(case.chunks) + 1), b"")
    else:
        if not any(k == b"sec-websocket-protocol" for k, _ in headers) and r.flag(3):
            headers.append((b"sec-websocket-protocol", b"chat"))
        for _ in range(r.below(5)):
            if r.flag():
                case.ws_messages.append(
                    (
                        "text",
                        r.pick([b"hi", b"close", b'{"a":1}', b"[", b""])
                        if r.flag()
                        else _text(r, 40).encode(),
                    )
                )
            else:
                case.ws_messages.append(("bytes", r.blob(40)))
    if r.flag(5):
        headers.insert(r.below(len(headers) + 1), headers[r.below(len(headers))] if headers else (b"x", b"y"))
    case.headers = headers
    if r.flag(4):
        # A server always hands a WebSocket app websocket.connect first.
        case.disconnect_at = 1 + r.below(8) + (case.kind == "websocket")
    if r.flag(6):
        case.fail_send_at = 1 + r.below(6)
    return case


# Filled by ``prepare`` with a cookie the app signed itself; fixed tampered variants follow.
_COOKIES: list[bytes] = [
    b"session=",
    b"session=garbage",
    b"session=eyJ2IjogIngifQ==.Zx.bad",
    b"k=v; k=w",
    b'k="quoted\\"v"',
    b"=novalue; ;;",
    b"session=" + b"A" * 5000,
]


# -- the driver ----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    messages: list[Message]
    error: BaseException | None
    send_errors: list[OSError]
    disconnected: bool  # the app was told the client left (or a send failed)
    hung: bool
    time_limit: float
    receives: int
    sends: int


def scope_for(case: Case) -> dict[str, Any]:
    raw_path = case.raw_path if case.raw_path is not None else case.path.encode("utf-8", "surrogateescape")
    scope: dict[str, Any] = {
        "type": case.kind,
        "asgi": {"version": "3.0", "spec_version": case.spec},
        "http_version": "1.1",
        "scheme": "http" if case.kind == "http" else "ws",
        "path": case.path,
        "raw_path": raw_path,
        "query_string": case.query,
        "root_path": case.root_path,
        "headers": list(case.headers),
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "state": {},
    }
    if case.kind == "http":
        scope["method"] = case.method
    else:
        protocols = b",".join(v for k, v in case.headers if k == b"sec-websocket-protocol")
        scope["subprotocols"] = [p.strip().decode("latin-1") for p in protocols.split(b",") if p.strip()]
        scope["extensions"] = {"websocket.http.response": {}}  # denial responses, as uvicorn offers
    return scope


async def drive(app: ASGIApp, case: Case, *, time_limit: float = TIME_LIMIT) -> Outcome:
    """Run ``case`` against ``app`` as a server would; never raises (what escaped is in ``error``)."""
    scope = scope_for(case)
    messages: list[Message] = []
    send_errors: list[OSError] = []
    state = {"receives": 0, "sends": 0, "disconnected": False}
    finished = anyio.Event()  # the response is complete, or the WebSocket closed
    if case.kind == "http":
        pending: list[Message] = [
            {"type": "http.request", "body": c, "more_body": i < len(case.chunks) - 1}
            for i, c in enumerate(case.chunks or [b""])
        ]
    else:
        pending = [{"type": "websocket.connect"}]
        for kind, payload in case.ws_messages:
            if kind == "text":
                pending.append({"type": "websocket.receive", "text": payload.decode("utf-8", "replace")})
            else:
                pending.append({"type": "websocket.receive", "bytes": payload})
        pending.append({"type": "websocket.disconnect", "code": 1000})

    def gone() -> Message:
        state["disconnected"] = True
        if case.kind == "http":
            return {"type": "http.disconnect"}
        return {"type": "websocket.disconnect", "code": 1006}

    async def receive() -> Message:
        state["receives"] += 1
        if state["disconnected"] or (
            case.disconnect_at is not None and state["receives"] >= case.disconnect_at
        ):
            return gone()
        if pending:
            message = pending.pop(0)
            if message["type"] == "websocket.disconnect":
                state["disconnected"] = True
            return message
        # Body delivered: as servers do, the next receive waits until the response is complete (or the
        # socket closed) and then reports the disconnect.
        await finished.wait()
        return gone()

    async def send(message: Message) -> None:
        state["sends"] += 1
        failing = case.fail_send_at is not None and state["sends"] >= case.fail_send_at
        if failing or (state["disconnected"] and case.spec == "2.4"):
            state["disconnected"] = True
            error = OSError("client went away")
            send_errors.append(error)
            finished.set()
            raise error
        messages.append(message)
        kind = message["type"]
        if (
            kind in ("http.response.body", "websocket.http.response.body")
            and not message.get("more_body", False)
        ) or (kind == "websocket.close"):
            finished.set()

    error: BaseException | None = None
    hung = False
    try:
        with anyio.fail_after(time_limit):
            await app(scope, receive, send)
    except TimeoutError:
        hung = True
    except Exception as exc:  # noqa: BLE001 - the oracle judges it
        error = exc
    return Outcome(
        messages,
        error,
        send_errors,
        bool(state["disconnected"]),
        hung,
        time_limit,
        state["receives"],
        state["sends"],
    )


# -- the oracle ----------------------------------------------------------------------------------------


def _chained(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__]
        if isinstance(current, BaseExceptionGroup):
            todo += list(current.exceptions)
    return seen


def _headers_problems(headers: Any) -> list[str]:
    problems = []
    for pair in headers:
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            problems.append(f"header is not a pair: {pair!r}")
            continue
        name, value = pair
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            problems.append(f"header is not bytes: {pair!r}")
            continue
        if not _TOKEN.match(name):
            problems.append(f"bad header name {name!r}")
        if any(c in value for c in b"\r\n\x00"):
            problems.append(f"CR/LF/NUL in header value {name!r}: {value[:80]!r}")
    return problems


def _documented(outcome: Outcome) -> bool:
    """Whether the exception that escaped the app is one of the documented cases."""
    assert outcome.error is not None
    # The server's own failing send, unchanged or chained (ClientDisconnect from a StreamingResponse).
    if any(e is s for e in _chained(outcome.error) for s in outcome.send_errors):
        return True
    # A WebSocketEndpoint given a message of the wrong kind (or malformed JSON) closes with 1003, then
    # raises RuntimeError, as Starlette does (docs/decisions.md).
    last = outcome.messages[-1] if outcome.messages else {}
    return (
        isinstance(outcome.error, RuntimeError)
        and last.get("type") == "websocket.close"
        and last.get("code") == 1003
    )


def check(case: Case, outcome: Outcome) -> list[str]:
    """The oracle's verdict on one run: the problems found (empty: all is well)."""
    problems: list[str] = []
    if outcome.hung:
        problems.append(
            f"hang: no return within {outcome.time_limit}s (receives={outcome.receives}, sends={outcome.sends})"
        )
    if outcome.error is not None and not _documented(outcome):
        problems.append(f"raised {type(outcome.error).__name__}: {outcome.error!r}"[:300])
    if case.kind == "http":
        problems += _check_http(case, outcome)
    else:
        problems += _check_websocket(outcome)
    return problems


def _check_http(case: Case, outcome: Outcome) -> list[str]:
    messages = outcome.messages
    problems: list[str] = []
    if not messages:
        if not outcome.disconnected and not outcome.hung:
            problems.append("no response although the client stayed")
        return problems
    start, *body = messages
    if start["type"] != "http.response.start":
        return [f"first message is {start['type']!r}"]
    status = start.get("status")
    if not isinstance(status, int) or not 100 <= status <= 599:
        problems.append(f"bad status {status!r}")
    elif status >= 500:
        problems.append(f"answered {status}")
    problems += _headers_problems(start.get("headers", []))
    complete = False
    for index, message in enumerate(body):
        if message["type"] != "http.response.body":
            problems.append(f"message {index + 2} is {message['type']!r}")
            break
        if not isinstance(message.get("body", b""), bytes | bytearray | memoryview):
            problems.append(f"body is not bytes: {type(message.get('body'))}")
        if not message.get("more_body", False):
            complete = True
            if index != len(body) - 1:
                problems.append("messages after the last body")
            break
    if not complete and not outcome.disconnected and not outcome.hung:
        problems.append("response never finished although the client stayed")
    if complete and isinstance(status, int) and status < 500:
        data = b"".join(bytes(m.get("body", b"")) for m in body)
        headers = [(k.lower(), v) for k, v in start.get("headers", [])]
        lengths = [v for k, v in headers if k == b"content-length"]
        if len(lengths) > 1:
            problems.append(f"{len(lengths)} content-length headers")
        # A HEAD answer may carry the body (the server drops it) and the GET's content-length; after a
        # disconnect the server drops whatever is sent, so a body cut short there is harmless.
        if (
            case.method != "HEAD"
            and not outcome.disconnected
            and lengths
            and status not in (204, 304)
            and lengths[0] != str(len(data)).encode()
        ):
            problems.append(f"content-length {lengths[0]!r} but {len(data)} body bytes")
    return problems


def _check_websocket(outcome: Outcome) -> list[str]:
    messages = outcome.messages
    problems: list[str] = []
    if not messages:
        if not outcome.disconnected and not outcome.hung:
            problems.append("no handshake answer although the client stayed")
        return problems
    first = messages[0]["type"]
    if first == "websocket.http.response.start":
        status = messages[0].get("status")
        if not isinstance(status, int) or status >= 500:
            problems.append(f"denial status {status!r}")
        problems += _headers_problems(messages[0].get("headers", []))
        for message in messages[1:]:
            if message["type"] != "websocket.http.response.body":
                problems.append(f"{message['type']!r} inside a denial response")
        return problems
    if first not in ("websocket.accept", "websocket.close"):
        return [f"first WebSocket message is {first!r}"]
    if first == "websocket.accept":
        problems += _headers_problems(messages[0].get("headers", []))
    for index, message in enumerate(messages):
        if message["type"] == "websocket.close":
            if message.get("code") == 1011:
                problems.append("closed with 1011 (internal error)")
            if index != len(messages) - 1:
                problems.append("messages after websocket.close")
            break
        if index and message["type"] != "websocket.send":
            problems.append(f"unexpected {message['type']!r} after the handshake")
    return problems


def run_case(
    app: ASGIApp, case: Case, backend: str = "asyncio", *, time_limit: float = TIME_LIMIT
) -> tuple[Outcome, list[str]]:
    """Drive ``case`` on ``backend`` in a fresh event loop; the outcome and the oracle's problems."""
    result: list[Outcome] = []

    async def main() -> None:
        result.append(await drive(app, case, time_limit=time_limit))

    anyio.run(main, backend=backend)
    return result[0], check(case, result[0])


def prepare(app: ASGIApp, backend: str = "asyncio") -> None:
    """Add a cookie the app signed itself (and tampered copies) to the cookies cases draw from."""
    outcome, _ = run_case(
        app, Case(path="/session", query=b"set=hello", headers=[(b"host", b"testserver")]), backend
    )
    start = outcome.messages[0] if outcome.messages else {}
    for name, value in start.get("headers", []):
        if name == b"set-cookie" and value.startswith(b"session="):
            cookie = value.split(b";", 1)[0]
            if cookie not in _COOKIES:
                _COOKIES[:0] = [
                    cookie,
                    cookie[:-1] + (b"A" if cookie[-1:] != b"A" else b"B"),
                    cookie + b"; session=x",
                ]
            return


def signature(problems: list[str], case: Case) -> str:
    """A short name for a set of problems, without the varying details (for de-duplicating findings).

    The first path segment is part of it, so one known problem does not hide the same symptom
    elsewhere.
    """
    first = problems[0] + " " + case.kind + case.path.split("/")[1][:12]
    first = re.sub(r"[0-9]+", "N", first)
    first = re.sub(r"'[^']*'|\"[^\"]*\"", "S", first)
    return re.sub(r"[^a-zA-Z0-9]+", "-", first).strip("-")[:80].lower()
