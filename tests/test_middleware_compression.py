"""CompressionMiddleware: negotiation (q-values, ``*``, identity), each coding round-trips, streams
flush per chunk, what is left alone, optional libraries."""

from __future__ import annotations

import gzip
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator
from typing import Any

import brotli
import pytest
import zstandard

from lyre.applications import Lyre
from lyre.middleware import Middleware
from lyre.middleware.compression import CompressionMiddleware, available_codings, negotiate
from lyre.requests import Request
from lyre.responses import PlainTextResponse, Response, StreamingResponse
from lyre.routing import Route, WebSocketRoute
from lyre.testclient import TestClient
from lyre.types import Message, Receive, Scope, Send
from lyre.websockets import WebSocket

PAGE = ("<tr><td>lyre</td><td>compression</td></tr>\n" * 200).encode()
ALL = ("br", "zstd", "gzip")


def decode(coding: str, data: bytes) -> bytes:
    if coding == "gzip":
        return gzip.decompress(data)
    if coding == "br":
        return bytes(brotli.decompress(data))
    if coding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    assert coding == "identity"
    return data


async def page(request: Request) -> Response:
    return Response(PAGE, media_type="text/html")


async def small(request: Request) -> Response:
    return PlainTextResponse("tiny")


async def encoded(request: Request) -> Response:
    return Response(gzip.compress(PAGE), media_type="text/html", headers={"Content-Encoding": "gzip"})


async def image(request: Request) -> Response:
    return Response(PAGE, media_type="image/png")


async def events(request: Request) -> Response:
    return Response(PAGE, media_type="text/event-stream")


async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for index in range(5):
            yield f"chunk {index} ".encode() * 50

    return StreamingResponse(chunks(), media_type="text/plain")


async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_bytes(PAGE)
    await websocket.close()


def make_client(anyio_backend: str, **options: Any) -> TestClient:
    app = Lyre(
        routes=[
            Route("/", page),
            Route("/small", small),
            Route("/encoded", encoded),
            Route("/image", image),
            Route("/events", events),
            Route("/stream", stream),
            WebSocketRoute("/ws", ws),
        ],
        middleware=[Middleware(CompressionMiddleware, **options)],
    )
    return TestClient(app, backend=anyio_backend)  # type: ignore[arg-type]


def fetch(client: TestClient, path: str, accept: str | None) -> tuple[str, bytes, Any]:
    """(coding, decoded body, headers); the test client must not decode by itself."""
    headers = {"Accept-Encoding": accept} if accept is not None else {}
    with client.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200
        raw = b"".join(response.iter_raw())
        coding = response.headers.get("content-encoding", "identity")
        if "content-length" in response.headers:
            assert int(response.headers["content-length"]) == len(raw)
        return coding, decode(coding, raw), response.headers


def test_all_codings_available() -> None:
    assert available_codings() == ALL


@pytest.mark.parametrize("coding", ALL)
def test_each_coding_round_trips(anyio_backend: str, coding: str) -> None:
    used, body, headers = fetch(make_client(anyio_backend), "/", coding)
    assert used == coding
    assert body == PAGE
    assert headers["vary"] == "Accept-Encoding"


def test_browser_header_gets_server_preference(anyio_backend: str) -> None:
    client = make_client(anyio_backend)
    assert fetch(client, "/", "gzip, deflate, br, zstd")[0] == "br"
    client = make_client(anyio_backend, preference=["zstd", "gzip"])
    assert fetch(client, "/", "gzip, deflate, br, zstd")[0] == "zstd"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("gzip;q=1, br;q=0.5", "gzip"),
        ("br;q=0, zstd;q=0, gzip", "gzip"),
        ("gzip;q=0", None),
        ("*", "br"),
        ("*;q=0.5, br;q=0, zstd;q=0", "gzip"),
        ("*;q=0", None),
        ("gzip;q=0.5, identity", None),
        ("gzip, identity;q=0.5", "gzip"),
        ("gzip;q=0.5, *;q=0.1", "gzip"),
        ("x-gzip", "gzip"),
        ("GZIP;Q=0.8", "gzip"),
        ("", None),
        ("deflate, compress", None),
        ("identity", None),
        ("gzip;q=nonsense, br", "br"),
        ("gzip;q=2", None),
        ("gzip;q=-1", None),
        ("gzip;q=0.5.5", None),
        (",,,;;;===", None),
        ("gzip;level=9", "gzip"),
        ("br;q=0.001", "br"),
        ("gzip, " * 300, None),  # over the 1 KiB bound: ignored
    ],
)
def test_negotiate(accept: str, expected: str | None) -> None:
    assert negotiate(accept, ALL) == expected


def test_negotiate_ties_follow_preference() -> None:
    assert negotiate("gzip, zstd", ALL) == "zstd"
    assert negotiate("gzip, zstd", ("gzip", "zstd")) == "gzip"
    assert negotiate("gzip;q=0.5, zstd;q=0.9", ("gzip", "zstd")) == "zstd"


def test_malformed_accept_encoding_is_not_an_error(anyio_backend: str) -> None:
    client = make_client(anyio_backend)
    for accept in ["\x7fgzip\t;q=0.5", "q=1", ";", "gzip;q=", "*/*", "br;q=1e400"]:
        coding, body, _ = fetch(client, "/", accept)
        assert body == PAGE


@pytest.mark.anyio
async def test_no_accept_encoding_means_identity_with_vary() -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    await CompressionMiddleware(Response(PAGE, media_type="text/html"))(scope, receive, send)
    headers = dict(sent[0]["headers"])
    assert b"content-encoding" not in headers
    assert headers[b"vary"] == b"Accept-Encoding"
    assert sent[1]["body"] == PAGE


def test_small_response_untouched(anyio_backend: str) -> None:
    coding, body, headers = fetch(make_client(anyio_backend), "/small", "br")
    assert coding == "identity" and body == b"tiny"
    assert "vary" not in headers


def test_minimum_size_option(anyio_backend: str) -> None:
    coding, body, _ = fetch(make_client(anyio_backend, minimum_size=1), "/small", "br")
    assert coding == "br" and body == b"tiny"


def test_already_encoded_untouched(anyio_backend: str) -> None:
    coding, body, _ = fetch(make_client(anyio_backend), "/encoded", "br")
    assert coding == "gzip" and body == PAGE


@pytest.mark.parametrize("path", ["/image", "/events"])
def test_excluded_types_untouched(anyio_backend: str, path: str) -> None:
    coding, body, _ = fetch(make_client(anyio_backend), path, "br, zstd, gzip")
    assert coding == "identity" and body == PAGE


@pytest.mark.parametrize("coding", ALL)
def test_stream_is_compressed_and_flushed_per_chunk(anyio_backend: str, coding: str) -> None:
    used, body, headers = fetch(make_client(anyio_backend), "/stream", coding)
    assert used == coding
    assert body == b"".join(f"chunk {i} ".encode() * 50 for i in range(5))
    assert "content-length" not in headers


@pytest.mark.parametrize("coding", ALL)
@pytest.mark.anyio
async def test_each_chunk_decodable_on_arrival(coding: str) -> None:
    """Every body message carries all the data of its chunk (a flush), not just buffered state."""
    chunks = [f"part {i} ".encode() * 100 for i in range(4)]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "headers": [(b"accept-encoding", coding.encode())]}
    await CompressionMiddleware(app)(scope, receive, send)
    start = sent[0]
    assert (b"content-encoding", coding.encode()) in start["headers"]
    if coding == "gzip":
        decoder: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
        feed = decoder.decompress
    elif coding == "br":
        decoder = brotli.Decompressor()
        feed = decoder.process
    else:
        decoder = zstandard.ZstdDecompressor().decompressobj()
        feed = decoder.decompress
    for chunk, message in zip(chunks, sent[1:5], strict=True):
        assert feed(message["body"]) == chunk
    assert feed(sent[5]["body"]) == b""


def test_head_gets_headers_of_get(anyio_backend: str) -> None:
    response = make_client(anyio_backend).head("/", headers={"Accept-Encoding": "zstd"})
    assert response.headers["content-encoding"] == "zstd"
    assert response.headers["vary"] == "Accept-Encoding"


def test_levels_are_used(anyio_backend: str) -> None:
    fast = fetch(make_client(anyio_backend, brotli_quality=0), "/", "br")
    assert fast[1] == PAGE


def test_thread_offload(anyio_backend: str) -> None:
    coding, body, _ = fetch(make_client(anyio_backend, thread_minimum_size=1000), "/", "zstd")
    assert coding == "zstd" and body == PAGE


def test_websocket_passes_through(anyio_backend: str) -> None:
    with make_client(anyio_backend).websocket_connect("/ws") as session:
        assert session.receive_bytes() == PAGE


def test_bad_configuration() -> None:
    app = Lyre()
    with pytest.raises(ValueError, match="unknown coding"):
        CompressionMiddleware(app, preference=["deflate"])
    with pytest.raises(ValueError, match="twice"):
        CompressionMiddleware(app, preference=["gzip", "gzip"])
    with pytest.raises(ValueError, match="out of range"):
        CompressionMiddleware(app, brotli_quality=12)


def test_without_optional_libraries() -> None:
    code = (
        "import sys\n"
        "for name in ('brotli', 'brotlicffi', 'zstandard', 'compression.zstd'): sys.modules[name] = None\n"
        "import lyre\n"
        "from lyre.middleware.compression import CompressionMiddleware, available_codings\n"
        "print(available_codings())\n"
        "print(CompressionMiddleware(lyre.Lyre()).offered)\n"
        "try:\n    CompressionMiddleware(lyre.Lyre(), preference=['br', 'gzip'])\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "('gzip',)"
    assert lines[1] == "('gzip',)"
    assert "needs brotli (`pip install brotli`)" in lines[2]
    assert "pip install 'lyre-asgi[compression]'" in lines[2]


def test_negotiate_never_raises_on_any_latin1_input() -> None:
    import random

    rng = random.Random(17)
    alphabet = [chr(i) for i in range(256)]
    for char in alphabet:
        for template in ("gzip;q={}", "br;q=0.{}", "{}", "gzip;{}=1", "*;q={}"):
            negotiate(template.format(char), ALL)
    pieces = [
        "gzip",
        "br",
        "zstd",
        "*",
        "identity",
        ";",
        ",",
        "q=",
        "0",
        "1",
        ".",
        " ",
        "=",
        "\t",
        "²",
        "\xff",
    ]
    for _ in range(2000):
        value = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert negotiate(value, ALL) in (None, *ALL)
