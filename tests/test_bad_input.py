"""Hostile or malformed requests get a clean 4xx (or a normal answer), never a 500 or a hang.

The scopes are built by hand, the way a lenient server could pass them, because a well-behaved
client such as the TestClient would refuse to send most of these.
"""

from __future__ import annotations

from typing import Any

import pytest

from lyre.applications import Lyre
from lyre.requests import Request
from lyre.responses import JSONResponse, PlainTextResponse, Response
from lyre.routing import Route
from lyre.types import Message


async def describe(request: Request) -> Response:
    return JSONResponse(
        {
            "url": str(request.url),
            "query": list(request.query_params.multi_items())[:3],
            "n": len(request.query_params.multi_items()),
            "cookies": request.cookies,
        }
    )


async def parse_json(request: Request) -> Response:
    data = await request.json()
    return PlainTextResponse(type(data).__name__)


async def plain(request: Request) -> Response:
    return PlainTextResponse("ok")


def make_app() -> Lyre:
    return Lyre(
        routes=[
            Route("/d", describe),
            Route("/d/{name}", describe),
            Route("/json", parse_json, methods=["POST"]),
            Route("/slash/", plain),
        ]
    )


async def call(
    app: Any,
    path: str = "/d",
    *,
    raw_path: bytes | None = None,
    query: bytes = b"",
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes = b"",
) -> tuple[int, dict[bytes, bytes], bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path if raw_path is not None else path.encode("utf-8", "surrogateescape"),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"testserver"), *(headers or [])],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[Message] = []

    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    assert start["type"] == "http.response.start"
    payload = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), payload


@pytest.mark.anyio
@pytest.mark.parametrize(
    "query",
    [
        b"a=%ZZ&b=%",  # malformed percent-encoding
        b"a=%FF%FE",  # percent-encoded invalid UTF-8
        b"a=\xff\xfe",  # raw non-ASCII bytes
        b"a=%ED%A0%80",  # an encoded lone surrogate
        b"&&&=&=a&a=",  # empty pieces
    ],
)
async def test_malformed_query_strings_are_answered(query: bytes) -> None:
    status, _, body = await call(make_app(), query=query)
    assert status == 200, body


@pytest.mark.anyio
async def test_huge_number_of_query_pairs_is_refused_not_truncated() -> None:
    from lyre.datastructures import MAX_QUERY_PAIRS

    assert MAX_QUERY_PAIRS is not None
    query = b"&".join(b"k%d=v" % i for i in range(MAX_QUERY_PAIRS * 3))
    status, _, body = await call(make_app(), query=query)
    assert status == 414
    assert str(MAX_QUERY_PAIRS).encode() in body
    # At the limit, every pair reaches the application.
    query = b"&".join(b"k%d=v" % i for i in range(MAX_QUERY_PAIRS))
    status, _, body = await call(make_app(), query=query)
    assert status == 200
    assert b'"n":%d' % MAX_QUERY_PAIRS in body


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "raw_path"),
    [
        ("/d/\ufffd", b"/d/%FF%FE"),
        ("/d/\ufffd", b"/d/%FF"),  # ... or with replacement
        ("/d/a b?#", b"/d/a%20b%3F%23"),
        ("/d/%zz", b"/d/%25zz"),
    ],
)
async def test_odd_paths_are_answered(path: str, raw_path: bytes) -> None:
    status, _, _ = await call(make_app(), path, raw_path=raw_path)
    assert status == 200


@pytest.mark.anyio
async def test_slash_redirect_with_undecodable_path_is_not_a_500() -> None:
    status, headers, _ = await call(make_app(), "/slash\udcff")
    assert status == 400
    status, headers, _ = await call(make_app(), "/sl\u00e4sh")
    assert status == 404
    status, headers, _ = await call(make_app(), "/slash")
    assert status == 307
    assert headers[b"location"] == b"http://testserver/slash/"


@pytest.mark.anyio
async def test_invalid_json_is_400() -> None:
    status, _, body = await call(make_app(), "/json", method="POST", body=b"{nope")
    assert status == 400
    status, _, body = await call(make_app(), "/json", method="POST", body=b"[" * 100_000 + b"]" * 100_000)
    assert status == 400
    status, _, body = await call(make_app(), "/json", method="POST", body=b"\xff\xfe")
    assert status == 400
    status, _, body = await call(make_app(), "/json", method="POST", body=b'{"a": [1, 2]}')
    assert (status, body) == (200, b"dict")


@pytest.mark.anyio
async def test_too_many_request_headers_is_431() -> None:
    from lyre.applications import MAX_REQUEST_HEADERS

    headers = [(b"x-h%d" % i, b"v") for i in range(MAX_REQUEST_HEADERS + 1)]
    status, _, body = await call(make_app(), headers=headers)
    assert (status, body) == (431, b"Request Header Fields Too Large")
    status, _, _ = await call(make_app(), headers=headers[: MAX_REQUEST_HEADERS - 1])
    assert status == 200


@pytest.mark.anyio
async def test_odd_cookie_headers() -> None:
    cookie = b'a=1; \xa0__Host-x=2; =; ;;; b; c="q"; ' + b"d=" + b"x" * 5000
    status, _, body = await call(make_app(), headers=[(b"cookie", cookie)])
    assert status == 200
    assert b"__Host-x" in body


@pytest.mark.anyio
async def test_content_length_garbage_and_over_limit() -> None:
    app = Lyre(routes=[Route("/json", parse_json, methods=["POST"])], max_body_size=10)
    status, _, _ = await call(app, "/json", method="POST", headers=[(b"content-length", b"abc")], body=b"[1]")
    assert status == 200
    status, _, body = await call(
        app, "/json", method="POST", headers=[(b"content-length", b"99999999999999999999")], body=b"[1]"
    )
    assert (status, body) == (413, b"Content Too Large")


@pytest.mark.anyio
async def test_lone_surrogate_in_path_is_400() -> None:
    status, _, body = await call(make_app(), "/d/\udcff", raw_path=b"/d/%FF")
    assert (status, body) == (400, b"Bad Request")


@pytest.mark.anyio
async def test_json_lone_surrogate_echo_is_escaped_not_500() -> None:
    async def echo(request: Request) -> Response:
        return JSONResponse({"got": await request.json()})

    app = Lyre(routes=[Route("/echo", echo, methods=["POST"])])
    status, _, body = await call(app, "/echo", method="POST", body=b'"\\ud800x\\u00e9"')
    assert status == 200
    assert body == b'{"got":"\\ud800x\\u00e9"}'
