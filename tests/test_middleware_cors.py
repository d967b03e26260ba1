"""CORSMiddleware: preflights, simple responses, Vary, and lyre's wildcard + credentials rule."""

from __future__ import annotations

from typing import Any

import pytest

from lyre.applications import Lyre
from lyre.middleware import Middleware
from lyre.middleware.cors import ALL_METHODS, SAFELISTED_HEADERS, CORSMiddleware
from lyre.requests import Request
from lyre.responses import PlainTextResponse, Response
from lyre.routing import Route
from lyre.testclient import TestClient

PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, Access-Control-Request-Private-Network"


async def home(request: Request) -> Response:
    return PlainTextResponse("home", headers={"vary": "Accept-Encoding"})


def client(**options: Any) -> TestClient:
    app = Lyre(
        routes=[Route("/", home, methods=["GET", "POST"])], middleware=[Middleware(CORSMiddleware, **options)]
    )
    return TestClient(app)


def preflight(
    c: TestClient, origin: str, method: str = "GET", headers: str | None = None, **extra: str
) -> Any:
    request_headers = {"origin": origin, "access-control-request-method": method, **extra}
    if headers is not None:
        request_headers["access-control-request-headers"] = headers
    return c.options("/", headers=request_headers)


def test_constants() -> None:
    assert ALL_METHODS == ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY")
    assert SAFELISTED_HEADERS == {"Accept", "Accept-Language", "Content-Language", "Content-Type"}


def test_specific_origin_simple_requests() -> None:
    c = client(allow_origins=["https://a.com"])
    allowed = c.get("/", headers={"origin": "https://a.com"})
    assert allowed.text == "home"
    assert allowed.headers["access-control-allow-origin"] == "https://a.com"
    assert allowed.headers["vary"] == "Accept-Encoding, Origin"

    other = c.get("/", headers={"origin": "https://b.com"})
    assert other.status_code == 200
    assert "access-control-allow-origin" not in other.headers
    assert other.headers["vary"] == "Accept-Encoding, Origin"

    no_origin = c.get("/")
    assert "access-control-allow-origin" not in no_origin.headers
    assert no_origin.headers["vary"] == "Accept-Encoding, Origin"


def test_preflight_success_headers_in_order() -> None:
    c = client(
        allow_origins=["https://a.com"], allow_methods=["GET", "DELETE"], allow_headers=["X-Foo"], max_age=30
    )
    response = preflight(c, "https://a.com", "DELETE", "x-foo, Content-Type")
    assert (response.status_code, response.text) == (200, "OK")
    assert [(k, v) for k, v in response.headers.items() if k not in ("content-length", "content-type")] == [
        ("vary", PREFLIGHT_VARY),
        ("access-control-allow-methods", "GET, DELETE"),
        ("access-control-max-age", "30"),
        ("access-control-allow-headers", "Accept, Accept-Language, Content-Language, Content-Type, X-Foo"),
        ("access-control-allow-origin", "https://a.com"),
    ]


def test_preflight_failures_are_listed() -> None:
    c = client(allow_origins=["https://a.com"])
    response = preflight(c, "https://b.com", "DELETE", "X-Foo")
    assert (response.status_code, response.text) == (400, "Disallowed CORS origin, method, headers")
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["vary"] == PREFLIGHT_VARY


def test_preflight_method_is_case_sensitive() -> None:
    response = preflight(client(allow_origins=["https://a.com"]), "https://a.com", "get")
    assert response.text == "Disallowed CORS method"


def test_wildcards() -> None:
    c = client(allow_origins=["*"], allow_methods=["*"], allow_headers=["*"])
    response = preflight(c, "https://any.org", "QUERY", "X-Anything, X-Else")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == ", ".join(ALL_METHODS)
    assert response.headers["access-control-allow-headers"] == "X-Anything, X-Else"
    simple = c.get("/", headers={"origin": "https://any.org"})
    assert simple.headers["access-control-allow-origin"] == "*"


def test_regex_must_match_fully() -> None:
    c = client(allow_origin_regex=r"https://.*\.ex\.com")
    assert (
        c.get("/", headers={"origin": "https://a.ex.com"}).headers["access-control-allow-origin"]
        == "https://a.ex.com"
    )
    assert (
        "access-control-allow-origin"
        not in c.get("/", headers={"origin": "https://a.ex.com.evil.org"}).headers
    )


def test_private_network() -> None:
    allowed = preflight(
        client(allow_origins=["https://a.com"], allow_private_network=True),
        "https://a.com",
        **{"access-control-request-private-network": "true"},
    )
    assert allowed.headers["access-control-allow-private-network"] == "true"
    denied = preflight(
        client(allow_origins=["https://a.com"]),
        "https://a.com",
        **{"access-control-request-private-network": "true"},
    )
    assert (denied.status_code, denied.text) == (400, "Disallowed CORS private-network")


def test_credentials_and_expose_headers() -> None:
    c = client(allow_origins=["https://a.com"], allow_credentials=True, expose_headers=["X-A", "X-B"])
    response = c.get("/", headers={"origin": "https://a.com"})
    assert response.headers["access-control-allow-origin"] == "https://a.com"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-expose-headers"] == "X-A, X-B"
    pre = preflight(c, "https://a.com")
    assert pre.headers["access-control-allow-credentials"] == "true"
    assert pre.headers["access-control-allow-origin"] == "https://a.com"


def test_options_without_request_method_reaches_the_app() -> None:
    response = client(allow_origins=["*"]).options("/", headers={"origin": "https://a.com"})
    assert response.status_code == 405


@pytest.mark.parametrize("path", ["simple", "preflight"])
def test_wildcard_with_credentials_never_reflects_an_arbitrary_origin(path: str) -> None:
    # lyre decision: Starlette would echo https://evil.example with credentials allowed.
    c = client(allow_origins=["*"], allow_credentials=True)
    if path == "simple":
        response = c.get("/", headers={"origin": "https://evil.example", "cookie": "sid=1"})
    else:
        response = preflight(c, "https://evil.example")
        assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


def test_wildcard_with_credentials_still_trusts_explicit_origins() -> None:
    c = client(
        allow_origins=["*", "https://app.example"],
        allow_credentials=True,
        allow_origin_regex=r"https://.*\.corp",
    )
    for origin in ("https://app.example", "https://x.corp"):
        response = c.get("/", headers={"origin": origin})
        assert response.headers["access-control-allow-origin"] == origin
        assert response.headers["access-control-allow-credentials"] == "true"
        pre = preflight(c, origin)
        assert pre.headers["access-control-allow-origin"] == origin
        assert pre.headers["access-control-allow-credentials"] == "true"


def test_wildcard_with_credentials_opt_out_restores_reflection() -> None:
    class Reflecting(CORSMiddleware):
        reflect_any_origin_with_credentials = True

    app = Lyre(
        routes=[Route("/", home)],
        middleware=[Middleware(Reflecting, allow_origins=["*"], allow_credentials=True)],
    )
    response = TestClient(app).get("/", headers={"origin": "https://evil.example"})
    assert response.headers["access-control-allow-origin"] == "https://evil.example"
    assert response.headers["access-control-allow-credentials"] == "true"


def test_allow_explicit_origin_helper() -> None:
    from lyre.datastructures import MutableHeaders

    headers = MutableHeaders({"vary": "Accept"})
    CORSMiddleware.allow_explicit_origin(headers, "https://a.com")
    assert headers["access-control-allow-origin"] == "https://a.com"
    assert headers["vary"] == "Accept, Origin"


@pytest.mark.anyio
async def test_origin_with_control_characters_is_never_echoed() -> None:
    from lyre.types import Message

    middleware = CORSMiddleware(home_app, allow_origin_regex=".*", allow_credentials=True)
    for method, extra in (("GET", []), ("OPTIONS", [(b"access-control-request-method", b"GET")])):
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b""}

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": method,
            "path": "/",
            "query_string": b"",
            "headers": [(b"origin", b"https://a.com\x00x"), *extra],
        }
        await middleware(scope, receive, send)
        headers = dict(sent[0]["headers"])
        assert b"access-control-allow-origin" not in headers
        assert sent[0]["status"] in (200, 400)


async def home_app(scope: Any, receive: Any, send: Any) -> None:
    await PlainTextResponse("home")(scope, receive, send)
