"""Shared machinery of the differential suite: both packages side by side, an in-process ASGI
driver with a recording ``send``, message normalisation and strategies for well-formed traffic.

Rules of comparison (each is a deliberate, documented lyre decision, not a tolerance for bugs):

* A ``HEAD`` response's body bytes are not compared: Starlette sends the ``GET`` body (the server
  drops it), lyre sends none. Status, headers and the final body message still are.
* ``Allow`` lists compare as sets: Starlette's order follows string hashing (it varies by run).
* A ``Set-Cookie`` with ``Max-Age=0`` (``delete_cookie``) compares with its expiry date masked:
  both date it "now" from the wall clock, which may tick between the two runs.
* ``more_body`` / ``body`` / ``headers`` compare with their ASGI defaults filled in (``False``,
  ``b""``, ``[]``): a key left out and a key set to its default are the same message.
* Only well-formed input is generated: valid %-encoding, no lone surrogates, few headers, small
  bodies (lyre answers 400 / 431 / 413 where Starlette would carry on), and no CORS wildcard with
  credentials (lyre does not reflect origins for a credentialed wildcard).
"""

from __future__ import annotations

import importlib
import itertools
import os
import re
import string
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from types import ModuleType
from typing import Any
from unittest import mock
from urllib.parse import quote

import anyio
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

Message = dict[str, Any]

#: A fixed clock for both packages (session signatures and cookie dates then match byte for byte).
FROZEN_TIME = 1_750_000_000.0

#: Modest example counts: the whole differential suite stays within a few seconds per run
#: (``LYRE_DIFF_EXAMPLES=500`` for a deeper local search, with fresh examples each run; the default
#: budget is derandomized so CI runs are repeatable).
_DEEP = int(os.environ.get("LYRE_DIFF_EXAMPLES", "0"))
FAST = settings(
    max_examples=_DEEP or 25,
    derandomize=not _DEEP,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)


@dataclass(frozen=True)
class Pkg:
    """One framework's modules, imported by their real names (``starlette.*`` or ``lyre.*``)."""

    name: str
    applications: ModuleType
    routing: ModuleType
    responses: ModuleType
    requests: ModuleType
    datastructures: ModuleType
    middleware: ModuleType
    gzip: ModuleType
    cors: ModuleType
    sessions: ModuleType
    trustedhost: ModuleType
    httpsredirect: ModuleType

    def app(self, routes: Sequence[Any] = (), middleware: Sequence[Any] = ()) -> Any:
        """``Starlette(routes=..., middleware=...)``; lyre's body limit lifted (bodies stay small)."""
        extra: dict[str, Any] = {"max_body_size": None} if self.name == "lyre" else {}
        return self.applications.Starlette(routes=list(routes), middleware=list(middleware), **extra)

    def mw(self, module: str, **options: Any) -> Any:
        """``Middleware(<module>.<Class>, **options)`` for one of the middleware modules above."""
        classes = {
            "gzip": "GZipMiddleware",
            "cors": "CORSMiddleware",
            "sessions": "SessionMiddleware",
            "trustedhost": "TrustedHostMiddleware",
            "httpsredirect": "HTTPSRedirectMiddleware",
        }
        cls = getattr(getattr(self, module), classes[module])
        return self.middleware.Middleware(cls, **options)


def _load(root: str) -> Pkg:
    def mod(name: str) -> ModuleType:
        return importlib.import_module(f"{root}.{name}")

    return Pkg(
        name=root,
        applications=mod("applications"),
        routing=mod("routing"),
        responses=mod("responses"),
        requests=mod("requests"),
        datastructures=mod("datastructures"),
        middleware=mod("middleware"),
        gzip=mod("middleware.gzip"),
        cors=mod("middleware.cors"),
        sessions=mod("middleware.sessions"),
        trustedhost=mod("middleware.trustedhost"),
        httpsredirect=mod("middleware.httpsredirect"),
    )


STARLETTE = _load("starlette")
LYRE = _load("lyre")
PKGS = (STARLETTE, LYRE)

assert STARLETTE.applications.__name__ == "starlette.applications"
assert not STARLETTE.applications.__file__ or "lyre" not in STARLETTE.applications.__file__, (
    "the real Starlette must be importable (not lyre's compatibility alias)"
)


# --------------------------------------------------------------------------------------------
# Driving an ASGI app
# --------------------------------------------------------------------------------------------


def make_scope(
    *,
    method: str = "GET",
    path: str = "/",
    query_string: bytes = b"",
    headers: Iterable[tuple[bytes, bytes]] = (),
    scheme: str = "http",
    root_path: str = "",
    server: tuple[str, int] | None = ("testserver", 80),
    client: tuple[str, int] | None = ("127.0.0.1", 50000),
    scope_type: str = "http",
) -> dict[str, Any]:
    """An ASGI scope as a server builds it (``raw_path`` is the %-encoded ``path``)."""
    return {
        "type": scope_type,
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": quote(path, safe="/:@!$&'()*+,;=~").encode("ascii"),
        "query_string": query_string,
        "root_path": root_path,
        "headers": list(headers),
        "server": server,
        "client": client,
        "state": {},
    }


async def drive(app: Any, scope: dict[str, Any], body: Sequence[bytes] = (b"",)) -> list[Message]:
    """Call ``app`` once; return every message it sent (an escaping exception is recorded last).

    ``receive`` hands out ``body`` in chunks, then waits until the response is complete and
    answers ``http.disconnect`` (as a server does), so streaming responses end normally.
    """
    messages: list[Message] = []
    chunks = list(body) or [b""]
    done = anyio.Event()

    async def receive() -> Message:
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        messages.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            done.set()

    try:
        await app(dict(scope, headers=list(scope["headers"]), state={}), receive, send)
    except Exception as exc:
        messages.append({"type": "exception", "exception": type(exc).__name__})
    finally:
        done.set()
    return messages


def run(fn: Callable[[], Awaitable[Any]], backend: str = "asyncio") -> Any:
    """Run ``fn`` on a fresh event loop with the clock frozen at ``FROZEN_TIME``."""
    with mock.patch.object(time, "time", return_value=FROZEN_TIME):
        return anyio.run(fn, backend=backend)


_EXPIRES_NOW = re.compile(rb"expires=[^;]*(?=;.*Max-Age=0(;|$))", re.IGNORECASE)


def normalise(messages: Sequence[Message], *, head: bool = False) -> list[Any]:
    """Messages with ASGI defaults filled in; for ``HEAD`` the body messages become one empty one."""
    out: list[Any] = []
    for message in messages:
        kind = message["type"]
        if kind == "http.response.start":
            headers = [(bytes(k), bytes(v)) for k, v in message.get("headers") or ()]
            # Starlette joins a route's method *set*: its Allow order follows string hashing.
            headers = [(k, b", ".join(sorted(v.split(b", "))) if k == b"allow" else v) for k, v in headers]
            # ``delete_cookie`` dates its expiry "now" from the wall clock: mask the date.
            headers = [
                (k, _EXPIRES_NOW.sub(b"expires=<now>", v) if k == b"set-cookie" else v) for k, v in headers
            ]
            out.append((kind, message["status"], headers, bool(message.get("trailers", False))))
        elif kind == "http.response.body":
            if head:
                if not message.get("more_body", False):
                    out.append((kind, b"", False))
                continue
            out.append((kind, bytes(message.get("body", b"")), bool(message.get("more_body", False))))
        else:
            out.append(dict(message))
    return out


_BACKENDS = itertools.cycle(["asyncio", "asyncio", "asyncio", "trio"])


def compare(build: Callable[[Pkg], Any], scope: dict[str, Any], body: Sequence[bytes] = (b"",)) -> list[Any]:
    """Build the app from each package, drive it with ``scope``; assert equal messages; return them."""
    head = scope.get("method") == "HEAD"
    backend = next(_BACKENDS)  # the same loop for both packages; trio now and then (cheap)
    results = []
    for pkg in PKGS:
        try:
            app = build(pkg)
        except Exception as exc:  # building fails the same way in both, or not at all
            results.append([("build raised", type(exc).__name__)])
            continue
        results.append(normalise(run(partial(drive, app, scope, body), backend), head=head))
    assert results[1] == results[0], (
        f"lyre differs from Starlette for {scope['method']} {scope['path']!r} ({backend}):\n"
        f"  starlette: {results[0]!r}\n  lyre:      {results[1]!r}"
    )
    return results[0]


def header(messages: Sequence[Any], name: bytes) -> list[bytes]:
    """All values of header ``name`` in the (normalised) start message."""
    for message in messages:
        if isinstance(message, tuple) and message[0] == "http.response.start":
            return [v for k, v in message[2] if k == name]
    return []


# --------------------------------------------------------------------------------------------
# Strategies for well-formed traffic
# --------------------------------------------------------------------------------------------

TOKEN_CHARS = string.ascii_letters + string.digits + "!#$&'*+-.^_`|~"
#: Path characters: unreserved, some sub-delims, a space and a few non-ASCII letters.
PATH_CHARS = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@ %" + "éß☃"
#: RFC 6265 cookie-octets (no space, quote, comma, semicolon or backslash).
COOKIE_CHARS = "".join(c for c in map(chr, range(0x21, 0x7F)) if c not in '",;\\')
#: Visible ASCII plus space for header values (no leading/trailing space is generated).
HEADER_VALUE_CHARS = "".join(map(chr, range(0x21, 0x7F)))

tokens = st.text(TOKEN_CHARS, min_size=1, max_size=8)
lower_tokens = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=8).filter(
    lambda s: not s.startswith("-")
)
path_segments = st.text(PATH_CHARS, min_size=1, max_size=6)
header_values = st.builds(
    lambda a, b: (a + " " + b).strip() if b else a,
    st.text(HEADER_VALUE_CHARS, min_size=0, max_size=10),
    st.text(HEADER_VALUE_CHARS, max_size=6),
)
cookie_values = st.text(COOKIE_CHARS, max_size=10)
#: Header names that would make a generated request mean something else (framing, routing).
RESERVED_HEADERS = {"host", "content-length", "transfer-encoding", "cookie", "content-type", "connection"}
extra_headers = st.lists(
    st.tuples(lower_tokens.filter(lambda n: n not in RESERVED_HEADERS), header_values), max_size=5
)
query_pairs = st.lists(
    st.tuples(st.text(PATH_CHARS + "/?", max_size=5), st.text(PATH_CHARS + "/?=", max_size=6)), max_size=4
)
hostnames = st.sampled_from(
    ["testserver", "example.com", "www.example.com", "api.example.org", "127.0.0.1", "[::1]", "Example.COM"]
)
ports = st.sampled_from([None, 80, 443, 8000, 65535])
