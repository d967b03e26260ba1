"""ProxyHeadersMiddleware: trusted peers only, rightmost untrusted hop, both header families, bad input."""

from __future__ import annotations

from typing import Any

import pytest

from lyre.applications import Lyre
from lyre.middleware import Middleware
from lyre.middleware.proxyheaders import MAX_HOPS, ProxyHeadersMiddleware
from lyre.requests import Request
from lyre.responses import JSONResponse, Response
from lyre.routing import Route, WebSocketRoute
from lyre.testclient import TestClient
from lyre.types import Message, Receive, Scope, Send
from lyre.websockets import WebSocket


async def info(request: Request) -> Response:
    client = request.client
    return JSONResponse(
        {
            "client": [client.host, client.port] if client else None,
            "scheme": request.url.scheme,
            "url": str(request.url),
            "url_for": str(request.url_for("info")),
        }
    )


async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"scheme": websocket.url.scheme, "url": str(websocket.url)})
    await websocket.close()


def make_client(anyio_backend: str, peer: str = "10.0.0.1", **options: Any) -> TestClient:
    app = Lyre(
        routes=[Route("/info", info, name="info"), WebSocketRoute("/ws", ws)],
        middleware=[Middleware(ProxyHeadersMiddleware, **options)],
    )
    return TestClient(app, client=(peer, 1234), backend=anyio_backend)  # type: ignore[arg-type]


def get(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get("/info", headers=headers)
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


XFF = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "example.com"}


def test_nothing_trusted_by_default(anyio_backend: str) -> None:
    data = get(make_client(anyio_backend), XFF)
    assert data["client"] == ["10.0.0.1", 1234]
    assert data["url"] == "http://testserver/info"


def test_trusted_peer_applies_x_forwarded(anyio_backend: str) -> None:
    data = get(make_client(anyio_backend, trusted_hosts=["10.0.0.1"]), XFF)
    assert data["client"] == ["203.0.113.7", 0]
    assert data["scheme"] == "https"
    assert data["url"] == "https://example.com/info"
    assert data["url_for"] == "https://example.com/info"


def test_cidr_and_comma_string(anyio_backend: str) -> None:
    data = get(make_client(anyio_backend, peer="10.1.2.3", trusted_hosts="192.168.0.1, 10.0.0.0/8"), XFF)
    assert data["client"] == ["203.0.113.7", 0]


def test_untrusted_peer_cannot_spoof(anyio_backend: str) -> None:
    data = get(make_client(anyio_backend, peer="198.51.100.1", trusted_hosts=["10.0.0.0/8"]), XFF)
    assert data["client"] == ["198.51.100.1", 1234]
    assert data["scheme"] == "http"


def test_rightmost_untrusted_hop_wins(anyio_backend: str) -> None:
    client = make_client(anyio_backend, trusted_hosts=["10.0.0.0/8"])
    # The client claims 1.1.1.1; our proxy appended the address it saw (203.0.113.7); an inner proxy 10.0.0.2.
    data = get(client, {"X-Forwarded-For": "1.1.1.1, 203.0.113.7, 10.0.0.2"})
    assert data["client"] == ["203.0.113.7", 0]


def test_all_hops_trusted_takes_leftmost(anyio_backend: str) -> None:
    data = get(
        make_client(anyio_backend, trusted_hosts=["10.0.0.0/8"]), {"X-Forwarded-For": "10.0.0.9, 10.0.0.2"}
    )
    assert data["client"] == ["10.0.0.9", 0]


def test_aligned_proto_and_host(anyio_backend: str) -> None:
    client = make_client(anyio_backend, trusted_hosts=["10.0.0.0/8"])
    headers = {
        "X-Forwarded-For": "203.0.113.7, 10.0.0.2",
        "X-Forwarded-Proto": "https, http",
        "X-Forwarded-Host": "public.example, internal",
    }
    data = get(client, headers)
    assert data["url"] == "https://public.example/info"


def test_unaligned_proto_takes_last(anyio_backend: str) -> None:
    client = make_client(anyio_backend, trusted_hosts=["10.0.0.0/8"])
    data = get(client, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "http, https"})
    assert data["scheme"] == "https"


def test_proto_only(anyio_backend: str) -> None:
    data = get(make_client(anyio_backend, trusted_hosts=["10.0.0.1"]), {"X-Forwarded-Proto": "HTTPS"})
    assert data["url"] == "https://testserver/info"
    assert data["client"] == ["10.0.0.1", 1234]


def test_host_with_port(anyio_backend: str) -> None:
    client = make_client(anyio_backend, trusted_hosts=["10.0.0.1"])
    data = get(client, {"X-Forwarded-Host": "example.com:8443", "X-Forwarded-Proto": "https"})
    assert data["url"] == "https://example.com:8443/info"


def test_ipv6_hops(anyio_backend: str) -> None:
    client = make_client(anyio_backend, trusted_hosts=["10.0.0.1", "fd00::/8"])
    data = get(client, {"X-Forwarded-For": "2001:db8::1, fd00::5"})
    assert data["client"] == ["2001:db8::1", 0]
    data = get(client, {"X-Forwarded-For": "[2001:db8::2]:4711"})
    assert data["client"] == ["2001:db8::2", 4711]


def test_ipv4_with_port(anyio_backend: str) -> None:
    data = get(
        make_client(anyio_backend, trusted_hosts=["10.0.0.1"]), {"X-Forwarded-For": "203.0.113.7:5555"}
    )
    assert data["client"] == ["203.0.113.7", 5555]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-For": "not-an-ip"},
        {"X-Forwarded-For": "1.2.3.4,,5.6.7.8"},
        {"X-Forwarded-For": "1.2.3.4:99999999"},
        {"X-Forwarded-For": ", ".join(["1.2.3.4"] * (MAX_HOPS + 1))},
        {"X-Forwarded-For": "1" * 10_000},
        {"X-Forwarded-Proto": "ftp"},
        {"X-Forwarded-Proto": "javascript:alert(1)"},
        {"X-Forwarded-Host": "evil.example/path"},
        {"X-Forwarded-Host": "a b"},
        {"X-Forwarded-Host": "x" * 300},
    ],
)
def test_malformed_headers_are_ignored(anyio_backend: str, headers: dict[str, str]) -> None:
    data = get(make_client(anyio_backend, trusted_hosts=["10.0.0.1"]), headers)
    assert data["client"] == ["10.0.0.1", 1234]
    assert data["url"] == "http://testserver/info"


def test_unknown_hop_is_client(anyio_backend: str) -> None:
    data = get(make_client(anyio_backend, trusted_hosts=["10.0.0.1"]), {"X-Forwarded-For": "unknown"})
    assert data["client"] == ["unknown", 0]


def test_x_forwarded_ignores_forwarded(anyio_backend: str) -> None:
    client = make_client(anyio_backend, trusted_hosts=["10.0.0.1"])
    data = get(client, {"Forwarded": "for=1.1.1.1;proto=https", "X-Forwarded-For": "203.0.113.7"})
    assert data["client"] == ["203.0.113.7", 0]
    assert data["scheme"] == "http"


def test_forwarded_header(anyio_backend: str) -> None:
    client = make_client(anyio_backend, trusted_hosts=["10.0.0.1"], header="forwarded")
    value = 'for=1.1.1.1, for="[2001:db8:cafe::17]:4711";proto=https;host="example.com:8443";by=_proxy'
    data = get(client, {"Forwarded": value, "X-Forwarded-For": "9.9.9.9"})
    assert data["client"] == ["2001:db8:cafe::17", 4711]
    assert data["url"] == "https://example.com:8443/info"


def test_forwarded_rightmost_untrusted_and_case(anyio_backend: str) -> None:
    client = make_client(anyio_backend, trusted_hosts=["10.0.0.0/8"], header="forwarded")
    value = "For=1.1.1.1;Proto=http, FOR=203.0.113.7;PROTO=https, for=10.0.0.5;proto=http"
    data = get(client, {"Forwarded": value})
    assert data["client"] == ["203.0.113.7", 0]
    assert data["scheme"] == "https"


def test_forwarded_obfuscated_and_unknown(anyio_backend: str) -> None:
    client = make_client(anyio_backend, trusted_hosts=["10.0.0.1"], header="forwarded")
    assert get(client, {"Forwarded": "for=_hidden;proto=https"})["client"] == ["_hidden", 0]
    assert get(client, {"Forwarded": 'for="_gazonk:_p"'})["client"] == ["_gazonk", 0]
    assert get(client, {"Forwarded": "for=unknown"})["client"] == ["unknown", 0]


def test_forwarded_quoted_separators(anyio_backend: str) -> None:
    client = make_client(anyio_backend, trusted_hosts=["10.0.0.1"], header="forwarded")
    data = get(client, {"Forwarded": 'for=203.0.113.7;ext="a,b;c=\\"d\\""'})
    assert data["client"] == ["203.0.113.7", 0]


@pytest.mark.parametrize(
    "value",
    [
        "for=",
        "garbage",
        "for=1.1.1.1;;proto=https",
        "for=1.1.1.1;for=2.2.2.2",
        'for="unterminated',
        "for=not_an_ip",
        "for=1.1.1.1;proto=gopher",
        "for=1.1.1.1;host=a/b",
        ", ".join(["for=1.1.1.1"] * (MAX_HOPS + 1)),
    ],
)
def test_forwarded_malformed_is_ignored(anyio_backend: str, value: str) -> None:
    client = make_client(anyio_backend, trusted_hosts=["10.0.0.1"], header="forwarded")
    data = get(client, {"Forwarded": value})
    assert data["client"] == ["10.0.0.1", 1234]
    assert data["url"] == "http://testserver/info"


def test_trust_all(anyio_backend: str) -> None:
    client = make_client(anyio_backend, peer="198.51.100.1", trusted_hosts="*")
    data = get(client, {"X-Forwarded-For": "1.1.1.1, 203.0.113.7", "X-Forwarded-Proto": "https"})
    assert data["client"] == ["1.1.1.1", 0]
    assert data["scheme"] == "https"


def test_ipv4_mapped_peer(anyio_backend: str) -> None:
    client = make_client(anyio_backend, peer="::ffff:10.0.0.1", trusted_hosts=["10.0.0.0/8"])
    assert get(client, XFF)["client"] == ["203.0.113.7", 0]


def test_websocket_scheme(anyio_backend: str) -> None:
    client = make_client(anyio_backend, trusted_hosts=["10.0.0.1"])
    with client.websocket_connect(
        "/ws", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ex.com"}
    ) as s:
        assert s.receive_json() == {"scheme": "wss", "url": "wss://ex.com/ws"}


def test_bad_configuration() -> None:
    with pytest.raises(ValueError, match="not an IP"):
        ProxyHeadersMiddleware(Lyre(), trusted_hosts=["proxy.local"])
    with pytest.raises(ValueError):
        ProxyHeadersMiddleware(Lyre(), header="x-real-ip")  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_lifespan_and_no_client_pass_through() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(dict(scope))

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        pass

    middleware = ProxyHeadersMiddleware(app, trusted_hosts=["10.0.0.1"])
    await middleware({"type": "lifespan"}, receive, send)
    scope = {"type": "http", "scheme": "http", "client": None, "headers": [(b"x-forwarded-proto", b"https")]}
    await middleware(scope, receive, send)
    assert seen[1]["scheme"] == "http"


@pytest.mark.parametrize("host", ["example.com:99999", "example.com:", ":80", "[::1", "ex ample.com"])
def test_bad_forwarded_host_ignored(anyio_backend: str, host: str) -> None:
    data = get(make_client(anyio_backend, trusted_hosts=["10.0.0.1"]), {"X-Forwarded-Host": host})
    assert data["url"] == "http://testserver/info"


def test_ipv6_host_with_port(anyio_backend: str) -> None:
    client = make_client(anyio_backend, trusted_hosts=["10.0.0.1"])
    data = get(client, {"X-Forwarded-Host": "[2001:db8::1]:8443", "X-Forwarded-Proto": "https"})
    assert data["url"] == "https://[2001:db8::1]:8443/info"


def test_random_headers_never_fail() -> None:
    """Arbitrary latin-1 forwarding headers either apply or are ignored: the parsers never raise."""
    import random

    from lyre.middleware.proxyheaders import _parse_forwarded, _split_node, _valid_host

    rng = random.Random(17)
    pieces = [
        "for=",
        "proto=",
        "host=",
        '"',
        "[",
        "]",
        ":",
        ";",
        ",",
        "1.2.3.4",
        "::1",
        "_x",
        "unknown",
        " ",
        "\\",
        "\xff",
        "é",
    ]
    middleware = ProxyHeadersMiddleware(Lyre(), trusted_hosts="*")
    forwarded = ProxyHeadersMiddleware(Lyre(), trusted_hosts="*", header="forwarded")
    for _ in range(3000):
        value = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 10)))
        _parse_forwarded(value)
        _split_node(value)
        _valid_host(value)
        raw = value.encode("latin-1", "replace")
        for name in (b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"):
            middleware._apply({"type": "http", "scheme": "http", "headers": [(name, raw)]})
        forwarded._apply({"type": "http", "scheme": "http", "headers": [(b"forwarded", raw)]})
