"""Issue 15 fixes: hostile input that used to lose data, leak through or answer wrongly.

Each test drives a hand-built scope (the way a lenient server could pass it), on asyncio and trio.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import lyre._admission as admission
import lyre.datastructures as ds
from lyre.applications import Lyre
from lyre.datastructures import QueryParams
from lyre.endpoints import HTTPEndpoint
from lyre.middleware import Middleware
from lyre.requests import Request, cookie_parser
from lyre.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from lyre.routing import Mount, Route
from lyre.staticfiles import StaticFiles
from lyre.types import ASGIApp, Message, Receive, Scope, Send


def make_scope(
    path: str = "/",
    *,
    query: bytes = b"",
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"testserver"), *(headers or [])],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }


def replay(*messages: Message) -> Receive:
    """A ``receive`` handing out ``messages``, then ``http.disconnect`` forever."""
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    return receive


def patient(*messages: Message) -> Receive:
    """A ``receive`` handing out ``messages``, then waiting for ever (the client stays)."""
    queue = list(messages)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    return receive


async def run(
    app: ASGIApp, scope: Scope, receive: Receive | None = None
) -> tuple[int | None, dict[str, str], bytes]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive or patient({"type": "http.request", "body": b""}), send)
    status = next((m["status"] for m in sent if m["type"] == "http.response.start"), None)
    headers = {
        k.decode("latin-1"): v.decode("latin-1")
        for m in sent
        if m["type"] == "http.response.start"
        for k, v in m["headers"]
    }
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, headers, body


async def count_pairs(request: Request) -> Response:
    items = request.query_params.multi_items()
    return JSONResponse({"n": len(items), "last": items[-1] if items else None})


def query_app() -> Lyre:
    return Lyre(routes=[Route("/", count_pairs)])


# -- query strings over the pair limit: refused (414), never truncated ---------------------------


@pytest.mark.anyio
async def test_query_over_the_pair_limit_is_414_naming_the_limit() -> None:
    limit = ds.MAX_QUERY_PAIRS
    assert limit == 10_000
    over = b"&".join(b"k%d=v" % i for i in range(limit + 1))
    status, _, body = await run(query_app(), make_scope(query=over))
    assert status == 414
    assert b"10000" in body
    # Empty fields count: 10 001 of them is over the limit too.
    status, _, _ = await run(query_app(), make_scope(query=b"&" * limit))
    assert status == 414


@pytest.mark.anyio
async def test_query_at_the_pair_limit_reaches_the_app_whole() -> None:
    at = b"&".join(b"k%d=v" % i for i in range(ds.MAX_QUERY_PAIRS or 0))
    status, _, body = await run(query_app(), make_scope(query=at))
    assert status == 200
    assert body == b'{"n":10000,"last":["k9999","v"]}'


@pytest.mark.anyio
async def test_query_pair_limit_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ds, "MAX_QUERY_PAIRS", 3)
    status, _, body = await run(query_app(), make_scope(query=b"a=1&b=2&c=3&d=4"))
    assert (status, body) == (414, b"URI Too Long: the query string has more than 3 fields")
    status, _, body = await run(query_app(), make_scope(query=b"a=1&b=2&c=3"))
    assert (status, body) == (200, b'{"n":3,"last":["c","3"]}')
    monkeypatch.setattr(ds, "MAX_QUERY_PAIRS", None)
    status, _, body = await run(query_app(), make_scope(query=b"&".join([b"a=1"] * 20_000)))
    assert (status, body) == (200, b'{"n":20000,"last":["a","1"]}')


def test_query_params_constructor_parses_every_pair() -> None:
    # Outside a request there is no admission: the public constructor never drops anything.
    text = "&".join(f"k{i}={i}" for i in range(25_000))
    assert len(QueryParams(text)) == 25_000
    assert len(QueryParams(text.encode()).multi_items()) == 25_000


# -- the header block is bounded in bytes --------------------------------------------------------


@pytest.mark.anyio
async def test_one_huge_header_is_431_naming_the_limit() -> None:
    huge = [(b"x-huge", b"a" * (1024 * 1024))]
    status, _, body = await run(query_app(), make_scope(headers=huge))
    assert status == 431
    assert body == b"Request Header Fields Too Large: the headers exceed 65536 bytes"


@pytest.mark.anyio
async def test_header_bytes_limit_counts_names_and_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admission, "MAX_HEADER_BYTES", 100)
    host = len(b"host") + len(b"testserver")
    fits = [(b"x", b"v" * (100 - host - 1))]
    status, _, _ = await run(query_app(), make_scope(headers=fits))
    assert status == 200
    status, _, body = await run(query_app(), make_scope(headers=[(b"xy", fits[0][1])]))
    assert status == 431
    assert b"100 bytes" in body
    monkeypatch.setattr(admission, "MAX_HEADER_BYTES", None)
    status, _, _ = await run(query_app(), make_scope(headers=[(b"x", b"v" * 200_000)]))
    assert status == 200


def test_refusal_admits_a_scope_without_headers() -> None:
    scope = make_scope()
    del scope["headers"]
    assert admission.refusal(scope) is None


@pytest.mark.anyio
async def test_header_bytes_limit_holds_for_an_app_with_its_own_stack() -> None:
    class OwnStack(Lyre):
        def build_middleware_stack(self) -> ASGIApp:
            return self.router

    app = OwnStack(routes=[Route("/", count_pairs)])
    status, _, _ = await run(app, make_scope(headers=[(b"x-huge", b"a" * 70_000)]))
    assert status == 431


# -- cookies: only space and tab are trimmed ---------------------------------------------------


@pytest.mark.parametrize("prefix", ["\x0b", "\x0c", "\r", "\n", "\xa0", "\u2003"])
def test_cookie_name_behind_other_whitespace_is_not_a_host_cookie(prefix: str) -> None:
    cookies = cookie_parser(f"{prefix}__Host-id=planted; __Host-id=real")
    assert cookies[f"{prefix}__Host-id"] == "planted"
    assert cookies["__Host-id"] == "real"
    assert cookie_parser(f"__Host-id=real; {prefix}__Host-id=planted")["__Host-id"] == "real"


def test_cookie_spaces_and_tabs_are_trimmed() -> None:
    assert cookie_parser(" \t a \t= \t1 \t;\tb=2") == {"a": "1", "b": "2"}


@pytest.mark.anyio
async def test_request_cookies_keep_vertical_tab_prefixed_names() -> None:
    async def show(request: Request) -> Response:
        return JSONResponse(sorted(request.cookies))

    app = Lyre(routes=[Route("/", show)])
    status, _, body = await run(app, make_scope(headers=[(b"cookie", b"\x0b__Host-s=x")]))
    assert (status, body) == (200, b'["\\u000b__Host-s"]')


# -- static files: a last "." segment is not the file ---------------------------------------------


@pytest.fixture
def static_app(tmp_path: Path) -> Lyre:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "file.txt").write_text("hello")
    return Lyre(routes=[Mount("/static", StaticFiles(directory=tmp_path))])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/static/dir/file.txt", 200),
        ("/static/dir/./file.txt", 200),
        ("/static/dir/file.txt/", 404),
        ("/static/dir/file.txt/.", 404),
        ("/static/dir/file.txt/./", 404),
        ("/static/dir/file.txt/..", 404),
    ],
)
async def test_static_dot_segment_after_a_file(static_app: Lyre, path: str, status: int) -> None:
    got, _, body = await run(static_app, make_scope(path))
    assert got == status
    if status == 200:
        assert body == b"hello"


@pytest.mark.anyio
async def test_static_html_directory_with_last_dot_serves_its_index(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.html").write_text("<p>index</p>")
    app = Lyre(routes=[Mount("/s", StaticFiles(directory=tmp_path, html=True))])
    status, _, body = await run(app, make_scope("/s/docs/."))
    assert (status, body) == (200, b"<p>index</p>")


# -- Range: an unusable header is a 400 as in Starlette, or ignored (RFC 9110) when asked --------


@pytest.fixture
def twenty(tmp_path: Path) -> Path:
    path = tmp_path / "twenty.bin"
    path.write_bytes(bytes(range(65, 85)))
    return path


class LenientFileResponse(FileResponse):
    ignore_unusable_range = True


UNUSABLE_RANGES = [
    ("items=0-5", "Only support bytes range"),  # RFC 9110: a server MUST ignore an unknown unit
    ("Items=0-5", "Only support bytes range"),
    ("bytes 0-5", "Malformed range header."),  # no "="
    ("bytes: 0-1000", "Malformed range header."),
    ("bytes=", "Range header: range must be requested"),
    ("bytes=-", "Range header: range must be requested"),
    ("bytes= - ", "Range header: range must be requested"),
    ("bytes=5-2", "Range header: start must be less than end"),  # an invalid range-spec
    ("bytes=x-y", "Range header: range must be requested"),
    ("bytes=+1-2", "Range header: range must be requested"),
    ("=0-5", "Only support bytes range"),
    ("\x00\xff", "Malformed range header."),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("header", "message"), UNUSABLE_RANGES)
async def test_unusable_range_is_a_400_naming_the_problem(twenty: Path, header: str, message: str) -> None:
    status, headers, body = await run(
        FileResponse(twenty), make_scope(headers=[(b"range", header.encode("latin-1"))])
    )
    assert (status, body.decode()) == (400, message)
    assert "content-range" not in headers


@pytest.mark.anyio
@pytest.mark.parametrize(("header", "message"), UNUSABLE_RANGES)
async def test_unusable_range_is_ignored_when_asked(twenty: Path, header: str, message: str) -> None:
    status, headers, body = await run(
        LenientFileResponse(twenty), make_scope(headers=[(b"range", header.encode("latin-1"))])
    )
    assert status == 200
    assert body == twenty.read_bytes()
    assert "content-range" not in headers


@pytest.mark.anyio
@pytest.mark.parametrize("response_class", [FileResponse, LenientFileResponse])
async def test_inverted_range_past_the_end_is_416(twenty: Path, response_class: type[FileResponse]) -> None:
    status, headers, _ = await run(response_class(twenty), make_scope(headers=[(b"range", b"bytes=30-25")]))
    expected = 200 if response_class is LenientFileResponse else 416
    assert status == expected
    if expected == 416:
        assert headers["content-range"] == "bytes */20"


@pytest.mark.anyio
async def test_an_invalid_spec_beside_a_valid_one(twenty: Path) -> None:
    header = [(b"range", b"bytes=5-2, 2-5")]
    status, _, body = await run(FileResponse(twenty), make_scope(headers=header))
    assert (status, body) == (400, b"Range header: start must be less than end")
    status, headers, body = await run(LenientFileResponse(twenty), make_scope(headers=header))
    assert (status, headers["content-range"], body) == (206, "bytes 2-5/20", twenty.read_bytes()[2:6])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("header", "status", "content_range"),
    [
        ("bytes=2-5", 206, "bytes 2-5/20"),
        ("bytes=20-", 416, "bytes */20"),
        ("bytes=30-40", 416, "bytes */20"),
    ],
)
async def test_usable_range_is_served_or_416(
    twenty: Path, header: str, status: int, content_range: str
) -> None:
    got, headers, _ = await run(FileResponse(twenty), make_scope(headers=[(b"range", header.encode())]))
    assert got == status
    assert headers["content-range"] == content_range


# -- client disconnects -------------------------------------------------------------------------


async def read_body(request: Request) -> Response:
    body = await request.body()
    return PlainTextResponse(f"{len(body)}")


class ReadBody(HTTPEndpoint):
    async def post(self, request: Request) -> Response:
        await request.body()
        return PlainTextResponse("read")


class PassThrough:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


@pytest.fixture(params=["1", "0"], ids=["fused", "layered"])
def fusion(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LYRE_FUSION", request.param)
    return str(request.param)


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", [read_body, ReadBody], ids=["function", "endpoint-class"])
@pytest.mark.parametrize("middleware", [False, True], ids=["plain", "with-middleware"])
async def test_client_gone_while_the_body_is_read_ends_quietly(
    fusion: str, endpoint: Callable[..., Any], middleware: bool, caplog: pytest.LogCaptureFixture
) -> None:
    handled: list[Exception] = []

    def on_error(request: Request, exc: Exception) -> Response:
        handled.append(exc)
        return PlainTextResponse("boom", status_code=500)

    app = Lyre(
        routes=[Route("/", endpoint, methods=["POST"])],
        middleware=[Middleware(PassThrough)] if middleware else None,
        exception_handlers={Exception: on_error},
    )
    receive = replay({"type": "http.request", "body": b"part", "more_body": True})
    with caplog.at_level(logging.ERROR):
        status, _, _ = await run(app, make_scope(method="POST"), receive)  # nothing raised
    assert status is None  # nobody to answer: no 500 sent
    assert handled == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.anyio
async def test_a_handler_for_client_disconnect_still_runs(fusion: str) -> None:
    from lyre.requests import ClientDisconnect

    seen: list[str] = []

    def on_disconnect(request: Request, exc: Exception) -> Response:
        seen.append(type(exc).__name__)
        return PlainTextResponse("gone", status_code=499)

    app = Lyre(
        routes=[Route("/", read_body, methods=["POST"])], exception_handlers={ClientDisconnect: on_disconnect}
    )
    status, _, _ = await run(app, make_scope(method="POST"), replay())
    assert (status, seen) == (499, ["ClientDisconnect"])


@pytest.mark.anyio
async def test_is_disconnected_before_reading_keeps_the_whole_body(fusion: str) -> None:
    async def endpoint(request: Request) -> Response:
        gone = await request.is_disconnected()
        gone = gone or await request.is_disconnected()
        body = await request.body()
        return PlainTextResponse(f"{gone}:{body.decode()}")

    app = Lyre(routes=[Route("/", endpoint, methods=["POST"])])
    receive = replay(
        {"type": "http.request", "body": b"first,", "more_body": True},
        {"type": "http.request", "body": b"second,", "more_body": True},
        {"type": "http.request", "body": b"third", "more_body": False},
    )
    status, _, body = await run(app, make_scope(method="POST"), receive)
    assert (status, body) == (200, b"False:first,second,third")


@pytest.mark.anyio
async def test_is_disconnected_then_stream_keeps_every_chunk() -> None:
    receive = replay(
        {"type": "http.request", "body": b"a", "more_body": True},
        {"type": "http.request", "body": b"b", "more_body": False},
    )
    request = Request(make_scope(method="POST"), receive)
    assert await request.is_disconnected() is False
    # Another Request on the same receive (middleware, then endpoint) sees the polled chunk too.
    chunks = [chunk async for chunk in Request(request.scope, receive).stream()]
    assert b"".join(chunks) == b"ab"


@pytest.mark.anyio
async def test_is_disconnected_still_reports_a_disconnect() -> None:
    request = Request(make_scope(method="POST"), replay())
    assert await request.is_disconnected() is True
