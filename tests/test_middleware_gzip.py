"""GZipMiddleware: q-values and exact tokens, minimum size, incremental streams, exclusions."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from lyre.applications import Lyre
from lyre.middleware import Middleware
from lyre.middleware.gzip import (
    DEFAULT_EXCLUDED_CONTENT_TYPES,
    GZipMiddleware,
    GZipResponder,
    IdentityResponder,
)
from lyre.requests import Request
from lyre.responses import PlainTextResponse, Response, StreamingResponse
from lyre.routing import Route
from lyre.testclient import TestClient
from lyre.types import Message, Receive, Scope, Send


async def big(request: Request) -> Response:
    return PlainTextResponse("x" * 1000)


async def small(request: Request) -> Response:
    return PlainTextResponse("x" * 10)


async def sse(request: Request) -> Response:
    return Response("data: x\n\n" * 100, media_type="text/event-stream")


async def brotli(request: Request) -> Response:
    return PlainTextResponse("x" * 1000, headers={"content-encoding": "br"})


async def image(request: Request) -> Response:
    return Response(b"x" * 1000, media_type="image/PNG; q=1")


async def grpc(request: Request) -> Response:
    return Response(b"x" * 1000, media_type="application/grpc+proto")


async def partial(request: Request) -> Response:
    return PlainTextResponse("x" * 1000, status_code=206)


async def stream(request: Request) -> Response:
    async def gen() -> AsyncIterator[str]:
        for _ in range(5):
            yield "y" * 300

    return StreamingResponse(gen(), media_type="text/plain")


def client(**options: Any) -> TestClient:
    routes = [
        Route("/big", big),
        Route("/small", small),
        Route("/sse", sse),
        Route("/br", brotli),
        Route("/png", image),
        Route("/grpc", grpc),
        Route("/206", partial),
        Route("/stream", stream),
    ]
    return TestClient(Lyre(routes=routes, middleware=[Middleware(GZipMiddleware, **options)]))


def test_compresses_a_large_body() -> None:
    response = client().get("/big", headers={"accept-encoding": "gzip"})
    assert response.text == "x" * 1000
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["content-length"] == "29"


def test_small_body_untouched() -> None:
    response = client().get("/small", headers={"accept-encoding": "gzip"})
    assert response.text == "x" * 10
    assert "content-encoding" not in response.headers
    assert "vary" not in response.headers
    assert response.headers["content-length"] == "10"


@pytest.mark.parametrize(
    ("accept", "compressed"),
    [
        ("gzip", True),
        ("GZIP", True),
        ("deflate, gzip;q=0.5", True),
        ("x-gzip", True),
        ("gzip;q=0", False),
        ("gzip; q=0.0, br", False),
        ("x-gzip-not", False),
        ("notgzip", False),
        ("identity", False),
        ("*", False),
        ("gzip;q=bogus", False),
    ],
)
def test_accept_encoding_tokens_and_quality(accept: str, compressed: bool) -> None:
    response = client().get("/big", headers={"accept-encoding": accept})
    assert response.text == "x" * 1000
    assert ("content-encoding" in response.headers) is compressed
    assert response.headers["vary"] == "Accept-Encoding"  # identity still varies for big bodies


@pytest.mark.parametrize("path", ["/sse", "/br", "/png", "/grpc", "/206"])
def test_excluded_responses_pass_through(path: str) -> None:
    # Streamed and not read: /br's body is not brotli, which the client would try to decode when the
    # brotli package is installed.
    with client().stream("GET", path, headers={"accept-encoding": "gzip"}) as response:
        assert response.headers.get("content-encoding") in (None, "br")
        assert "vary" not in response.headers
        assert b"".join(response.iter_raw())[:1] in (b"x", b"d")  # untouched (x..., or the SSE "data:")


def test_custom_exclusions_are_normalised() -> None:
    response = client(exclude_content_types=("Text/Plain; charset=utf-8",)).get(
        "/big", headers={"accept-encoding": "gzip"}
    )
    assert "content-encoding" not in response.headers
    assert "image/*" not in DEFAULT_EXCLUDED_CONTENT_TYPES  # only listed image types are excluded


def test_minimum_size_option() -> None:
    response = client(minimum_size=5).get("/small", headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.text == "x" * 10


def test_streaming_body_is_compressed_incrementally() -> None:
    response = client().get("/stream", headers={"accept-encoding": "gzip"})
    assert response.text == "y" * 1500
    assert response.headers["content-encoding"] == "gzip"
    assert "content-length" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"


@pytest.mark.anyio
async def test_each_streamed_chunk_is_decodable_on_arrival() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        for i in range(3):
            await send({"type": "http.response.body", "body": b"chunk%d " % i * 50, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"accept-encoding", b"gzip")]}
    await GZipMiddleware(app)(scope, receive, send)
    assert len(sent) == 5
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    for i, message in enumerate(sent[1:4]):
        assert message["more_body"] is True
        assert decoder.decompress(message["body"]) == b"chunk%d " % i * 50
    assert decoder.decompress(sent[4]["body"]) == b""
    assert decoder.eof


@pytest.mark.anyio
async def test_large_chunks_are_compressed_in_a_thread_and_trailers_pass() -> None:
    payload = b"z" * 300_000

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"300000")],
                "trailers": True,
            }
        )
        await send({"type": "http.response.body", "body": payload})
        await send({"type": "http.response.trailers", "headers": [(b"x-sum", b"1")]})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"accept-encoding", b"gzip")]}
    await GZipMiddleware(app, thread_minimum_size=1000)(scope, receive, send)
    start = dict(sent[0]["headers"])
    assert start[b"content-encoding"] == b"gzip"
    assert b"content-length" not in start  # trailers declared: no length
    assert gzip.decompress(sent[1]["body"]) == payload
    assert sent[2]["type"] == "http.response.trailers"


@pytest.mark.anyio
async def test_pathsend_is_never_compressed() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.pathsend", "path": "/tmp/file.txt"})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"accept-encoding", b"gzip")]}
    await GZipMiddleware(app)(scope, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.pathsend"]
    assert sent[0]["headers"] == [(b"content-type", b"text/plain")]


def test_responders_are_public() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("not called")  # pragma: no cover

    responder = GZipResponder(app, 500, compresslevel=1)
    assert responder.content_encoding == "gzip"
    assert isinstance(responder, IdentityResponder)
    assert gzip.decompress(responder.compressor.compress(b"a") + responder.compressor.flush()) == b"a"
