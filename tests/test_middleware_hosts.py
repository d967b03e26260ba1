"""TrustedHostMiddleware and HTTPSRedirectMiddleware: never a redirect off our host."""

from __future__ import annotations

from typing import Any

import pytest

from lyre.middleware.httpsredirect import HTTPSRedirectMiddleware
from lyre.middleware.trustedhost import ENFORCE_DOMAIN_WILDCARD, TrustedHostMiddleware
from lyre.responses import PlainTextResponse
from lyre.testclient import TestClient, WebSocketDenialResponse
from lyre.types import Message, Receive, Scope, Send
from lyre.websockets import WebSocket


async def ok_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        await websocket.close()
        return
    await PlainTextResponse("ok")(scope, receive, send)


def make_scope(
    path: str = "/p",
    hosts: tuple[str, ...] = ("example.com",),
    scheme: str = "http",
    query: bytes = b"q=1",
    server: Any = ("10.0.0.1", 80),
    type_: str = "http",
) -> Scope:
    return {
        "type": type_,
        "method": "GET",
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", h.encode("latin-1")) for h in hosts],
        "server": server,
    }


async def call(app: Any, scope: Scope) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]


# -- TrustedHostMiddleware -------------------------------------------------------------------------


def test_wildcard_pattern_validation() -> None:
    for bad in ("*example.com", "ex*.com", "www.*.com", "**.example.com"):
        with pytest.raises(
            AssertionError, match=r"^Domain wildcard patterns must be like '\*\.example\.com'\.$"
        ):
            TrustedHostMiddleware(ok_app, allowed_hosts=[bad])
    assert ENFORCE_DOMAIN_WILDCARD == "Domain wildcard patterns must be like '*.example.com'."
    TrustedHostMiddleware(ok_app, allowed_hosts=["*", "*.example.com", "example.com"])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        (("example.com",), 200),
        (("EXAMPLE.com:8080",), 200),
        (("a.example.org",), 200),
        (("deep.a.example.org",), 200),
        (("example.org",), 400),  # *.example.org does not cover the bare domain
        (("evil.com",), 400),
        (("example.com.evil.com",), 400),
        (("",), 400),
        ((), 400),
        (("bad host",), 400),
        (("example.com/x",), 400),
        (("evil.com@example.com",), 400),
        (("example.com:99999",), 200),  # the port is ignored (as in Starlette); URLs still refuse it
        (("example.com:0080",), 200),
        (("example.com", "evil.com"), 400),  # lyre: duplicated Host headers are rejected
        (("example.com", "example.com"), 400),
    ],
)
async def test_trusted_hosts(hosts: tuple[str, ...], expected: int) -> None:
    app = TrustedHostMiddleware(ok_app, allowed_hosts=["Example.com", "*.example.org"])
    status, _, body = await call(app, make_scope(hosts=hosts))
    assert status == expected
    assert body == (b"ok" if expected == 200 else b"Invalid host header")


@pytest.mark.anyio
async def test_www_redirect_keeps_port_path_and_query() -> None:
    app = TrustedHostMiddleware(ok_app, allowed_hosts=["www.example.com"])
    status, headers, _ = await call(app, make_scope(hosts=("example.com",)))
    assert (status, headers[b"location"]) == (307, b"http://www.example.com/p?q=1")
    status, headers, _ = await call(app, make_scope(hosts=("example.com:8080",), path="//evil.com"))
    assert (status, headers[b"location"]) == (307, b"http://www.example.com:8080//evil.com?q=1")


@pytest.mark.anyio
async def test_www_redirect_can_be_disabled_and_never_follows_a_bad_host() -> None:
    no_redirect = TrustedHostMiddleware(ok_app, allowed_hosts=["www.example.com"], www_redirect=False)
    assert (await call(no_redirect, make_scope()))[0] == 400
    app = TrustedHostMiddleware(ok_app, allowed_hosts=["www.example.com"])
    assert (await call(app, make_scope(hosts=("example.com", "example.com"))))[0] == 400
    assert (await call(app, make_scope(hosts=("evil.com",))))[0] == 400


@pytest.mark.anyio
async def test_default_allows_everything_and_lifespan_passes() -> None:
    assert (await call(TrustedHostMiddleware(ok_app), make_scope(hosts=())))[0] == 200
    seen: list[str] = []

    async def lifespan_app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    await TrustedHostMiddleware(lifespan_app, allowed_hosts=["example.com"])({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]


def test_websocket_with_bad_host_is_denied() -> None:
    client = TestClient(
        TrustedHostMiddleware(ok_app, allowed_hosts=["example.com"]), base_url="http://evil.com"
    )
    with pytest.raises(WebSocketDenialResponse) as info, client.websocket_connect("/ws"):
        pass  # pragma: no cover
    assert (info.value.status_code, info.value.text) == (400, "Invalid host header")


# -- HTTPSRedirectMiddleware -----------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("scope_options", "location"),
    [
        ({}, b"https://example.com/p?q=1"),
        ({"hosts": ("example.com:8080",)}, b"https://example.com:8080/p?q=1"),
        ({"hosts": ("Example.COM:80",)}, b"https://example.com/p?q=1"),
        ({"hosts": ("example.com:443",)}, b"https://example.com/p?q=1"),
        ({"hosts": ("[::1]:80",)}, b"https://[::1]/p?q=1"),
        ({"path": "//evil.com"}, b"https://example.com//evil.com?q=1"),
        ({"path": "//evil.com", "hosts": ()}, b"https://10.0.0.1//evil.com?q=1"),
        ({"hosts": ("evil.com/x",)}, b"https://10.0.0.1/p?q=1"),  # invalid Host: the server address
        ({"hosts": ("a@evil.com",)}, b"https://10.0.0.1/p?q=1"),
        ({"type_": "websocket", "scheme": "ws"}, b"wss://example.com/p?q=1"),
    ],
)
async def test_https_redirect(scope_options: dict[str, Any], location: bytes) -> None:
    status, headers, _ = await call(HTTPSRedirectMiddleware(ok_app), make_scope(**scope_options))
    assert (status, headers[b"location"]) == (307, location)


@pytest.mark.anyio
async def test_https_redirect_without_any_host_or_with_duplicates_is_400() -> None:
    app = HTTPSRedirectMiddleware(ok_app)
    assert await call(app, make_scope(hosts=(), server=None, path="//evil.com")) == (
        400,
        {b"content-length": b"19", b"content-type": b"text/plain; charset=utf-8"},
        b"Invalid host header",
    )
    assert (await call(app, make_scope(hosts=("example.com", "evil.com"))))[0] == 400


@pytest.mark.anyio
async def test_secure_schemes_pass_through() -> None:
    assert (await call(HTTPSRedirectMiddleware(ok_app), make_scope(scheme="https")))[0] == 200


def test_https_redirect_through_test_client() -> None:
    client = TestClient(HTTPSRedirectMiddleware(ok_app))
    response = client.get("/a?b=1", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (307, "https://testserver/a?b=1")
    assert TestClient(HTTPSRedirectMiddleware(ok_app), base_url="https://testserver").get("/").text == "ok"


@pytest.mark.anyio
async def test_out_of_range_port_is_never_copied_into_a_www_redirect() -> None:
    app = TrustedHostMiddleware(ok_app, allowed_hosts=["www.example.com"])
    status, headers, body = await call(app, make_scope(hosts=("example.com:70000",)))
    assert (status, body) == (400, b"Invalid host header")
    assert b"location" not in headers
