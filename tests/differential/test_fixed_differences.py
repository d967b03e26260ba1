"""Differences the comparison found on well-formed input and that are fixed in lyre: each pinned
with lyre's expected answer (no Starlette needed) and, where cheap, checked against Starlette too."""

from __future__ import annotations

import base64
import gzip
import json
from functools import partial
from typing import Any

import itsdangerous
import pytest

from lyre.applications import Lyre
from lyre.middleware.gzip import GZipMiddleware
from lyre.middleware.sessions import SessionMiddleware
from lyre.requests import Request
from lyre.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from lyre.routing import Host, Route, Router
from tests.differential._harness import FROZEN_TIME, PKGS, Pkg, compare, drive, make_scope, normalise, run


def _start(messages: list[Any]) -> tuple[int, list[tuple[bytes, bytes]]]:
    return messages[0]["status"], [(bytes(k), bytes(v)) for k, v in messages[0]["headers"]]


# -- Host ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["api.example.org:000080", "api.example.org:65536", "api.example.org:100000"]
)
def test_host_route_ignores_any_port(host: str) -> None:
    """A port of any length in the Host header is ignored by ``Host`` routes (as in Starlette)."""
    app = Router([Host("api.example.org", app=PlainTextResponse("api"))])
    messages = run(lambda: drive(app, make_scope(headers=[(b"host", host.encode())])))
    assert messages[0]["status"] == 200 and messages[1]["body"] == b"api"


@pytest.mark.parametrize("host", ["api.example.org:80:65536", "api.example.org:", "api.example.org:6x"])
def test_host_route_still_rejects_malformed_ports(host: str) -> None:
    app = Router([Host("api.example.org", app=PlainTextResponse("api"))])
    messages = run(lambda: drive(app, make_scope(headers=[(b"host", host.encode())])))
    assert messages[0]["status"] == 404


@pytest.mark.parametrize(
    ("template", "request_host", "status"),
    [
        ("example.com:http", "example.com", 200),  # a non-numeric ":suffix" is dropped too
        ("example.com:http", "example.com:8080", 200),
        ("example.com:http", "example.com:http", 404),  # ... and a non-numeric request port never matches
        ("{h}:http", "a.b", 200),
        ("x.com:80:90", "x.com:80", 404),  # only the last ":suffix" goes
        ("[::1]", "[::1]:8000", 200),
    ],
)
def test_host_template_suffix(template: str, request_host: str, status: int) -> None:
    app = Router([Host(template, app=PlainTextResponse("hit"), name="h")])
    messages = run(lambda: drive(app, make_scope(headers=[(b"host", request_host.encode())])))
    assert messages[0]["status"] == status
    # The reverse URL keeps the template as written.
    assert Host(template, app=Router([]), name="h").host_format == template


def test_host_template_suffix_matches_starlette() -> None:
    for template in ["example.com:http", "{h}:http", "a:b]c", "[::1]x", "x.com:80:90", "{x}:1]"]:
        for request_host in ["example.com", "a.b", "a", "[:", "x.com:80", "q:1]", "example.com:99999"]:

            def build(pkg: Pkg, template: str = template) -> Any:
                R = pkg.routing
                return R.Router([R.Host(template, app=pkg.responses.PlainTextResponse("hit"))])

            compare(build, make_scope(headers=[(b"host", request_host.encode())]))


# -- root_path ending with "/" ----------------------------------------------------------------


def test_slash_redirect_when_root_path_ends_with_slash_and_equals_path() -> None:
    """``root_path="/sub/"``, path ``/sub/``: the route path is empty, so the redirect adds a slash."""
    app = Router([Route("/", PlainTextResponse("home"))])
    scope = make_scope(path="/sub/", root_path="/sub/", headers=[(b"host", b"h")])
    messages = run(lambda: drive(app, scope))
    assert _start(messages) == (307, [(b"content-length", b"0"), (b"location", b"http://h/sub//")])


def test_url_for_with_root_path_ending_with_slash() -> None:
    async def homepage(request: Request) -> Response:
        return JSONResponse({"index": str(request.url_for("homepage"))})

    app = Lyre(routes=[Route("/", homepage, name="homepage")])
    headers = [(b"host", b"www.example.org")]
    first = run(lambda: drive(app, make_scope(path="/sub_path/", root_path="/sub_path/", headers=headers)))
    location = dict(first[0]["headers"])[b"location"]
    assert location == b"http://www.example.org/sub_path//"
    second = run(lambda: drive(app, make_scope(path="/sub_path//", root_path="/sub_path/", headers=headers)))
    assert json.loads(second[1]["body"]) == {"index": "http://www.example.org/sub_path/"}


# -- sessions ---------------------------------------------------------------------------------


def _cookie(payload: object, key: str = "secret") -> bytes:
    data = base64.b64encode(json.dumps(payload).encode())
    signer = itsdangerous.TimestampSigner(key)
    signer.get_timestamp = lambda: int(FROZEN_TIME)  # type: ignore[method-assign]
    return b"session=" + signer.sign(data)


def _session_app(action: str) -> Any:
    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        session = scope["session"]
        if action == "clear":
            session.clear()
        elif action == "set-del":
            session["k"] = 1
            del session["k"]
        await PlainTextResponse("ok")(scope, receive, send)

    return SessionMiddleware(endpoint, secret_key="secret")


@pytest.mark.parametrize("action", ["clear", "set-del"])
def test_session_cookie_of_an_empty_session_is_expired_when_cleared(action: str) -> None:
    """A valid cookie holding ``{}`` that ends up cleared gets the expiring Set-Cookie."""
    scope = make_scope(headers=[(b"cookie", _cookie({}))])
    messages = run(lambda: drive(_session_app(action), scope))
    cookies = [v for k, v in messages[0]["headers"] if k == b"set-cookie"]
    assert cookies == [b"session=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly; samesite=lax"]


@pytest.mark.parametrize("cookie", [None, b"session=garbage", _cookie({"a": 1}, key="other")])
def test_session_absent_or_invalid_cookie_is_not_expired(cookie: bytes | None) -> None:
    """No cookie or a cookie that does not verify: nothing to clear, no Set-Cookie (as Starlette)."""
    headers = [] if cookie is None else [(b"cookie", cookie)]
    messages = run(lambda: drive(_session_app("clear"), make_scope(headers=headers)))
    assert not [v for k, v in messages[0]["headers"] if k == b"set-cookie"]


@pytest.mark.parametrize("cookie", [None, _cookie({}), _cookie({"a": 1}), b"session=garbage"])
@pytest.mark.parametrize("action", ["clear", "set-del"])
def test_session_clearing_matches_starlette(cookie: bytes | None, action: str) -> None:
    def build(pkg: Pkg) -> Any:
        async def endpoint(scope: Any, receive: Any, send: Any) -> None:
            if action == "clear":
                scope["session"].clear()
            else:
                scope["session"]["k"] = 1
                del scope["session"]["k"]
            await pkg.responses.PlainTextResponse("ok")(scope, receive, send)

        return pkg.sessions.SessionMiddleware(endpoint, secret_key="secret")

    compare(build, make_scope(headers=[] if cookie is None else [(b"cookie", cookie)]))


# -- GZip and HEAD ----------------------------------------------------------------------------


def _gzip_app(response: Response, minimum_size: int = 500) -> Any:
    return GZipMiddleware(response, minimum_size=minimum_size)


def _head_and_get(app: Any, accept: bytes) -> tuple[list[Any], list[Any]]:
    headers = [(b"accept-encoding", accept)]
    head = run(lambda: drive(app, make_scope(method="HEAD", headers=headers)))
    get = run(lambda: drive(app, make_scope(method="GET", headers=headers)))
    return head, get


def test_gzip_head_of_a_large_response_has_the_get_headers() -> None:
    """``Vary``, ``Content-Encoding`` and the compressed ``Content-Length``, exactly as for the GET."""
    head, get = _head_and_get(_gzip_app(PlainTextResponse("x" * 1000)), b"gzip")
    get_headers = dict(_start(get)[1])
    assert get_headers[b"content-encoding"] == b"gzip" and gzip.decompress(get[1]["body"]) == b"x" * 1000
    assert _start(head) == _start(get)
    assert int(dict(_start(head)[1])[b"content-length"]) == len(get[1]["body"])


def test_gzip_head_without_gzip_still_varies() -> None:
    head, get = _head_and_get(_gzip_app(PlainTextResponse("x" * 1000)), b"identity")
    assert _start(head) == _start(get)
    assert (b"vary", b"Accept-Encoding") in _start(head)[1]


def test_gzip_head_of_a_small_response_is_untouched() -> None:
    head, get = _head_and_get(_gzip_app(PlainTextResponse("x" * 10)), b"gzip")
    assert _start(head) == _start(get)


def test_gzip_head_of_a_stream_has_the_get_headers() -> None:
    async def parts() -> Any:
        yield b"a" * 10
        yield b"b" * 10

    head, get = _head_and_get(_gzip_app(StreamingResponse(parts())), b"gzip")
    # One StreamingResponse instance serves only once: build the GET's own.
    get = run(
        lambda: drive(
            _gzip_app(StreamingResponse(parts())), make_scope(headers=[(b"accept-encoding", b"gzip")])
        )
    )
    assert _start(head) == _start(get)


def test_gzip_head_with_a_body_is_encoded_like_the_get() -> None:
    """An app that does send the body on HEAD (as Starlette's responses do): same as the GET."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b"y" * 2000
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2000")]})
        await send({"type": "http.response.body", "body": body})

    head, get = _head_and_get(GZipMiddleware(app), b"gzip")
    assert normalise(head) == normalise(get)
    assert dict(_start(head)[1])[b"content-encoding"] == b"gzip"


@pytest.mark.parametrize("accept", [b"gzip", b"identity"])
@pytest.mark.parametrize("kind", ["large", "small", "stream", "raw"])
def test_gzip_head_headers_match_starlette(kind: str, accept: bytes) -> None:
    """HEAD headers through GZip equal Starlette's, the compressed Content-Length included."""
    results = []
    for pkg in PKGS:
        app = pkg.gzip.GZipMiddleware(_gzip_case(pkg, kind))
        scope = make_scope(method="HEAD", headers=[(b"accept-encoding", accept)])
        results.append(normalise(run(partial(drive, app, scope)), head=True))
    starlette, lyre = results
    assert lyre == starlette


def _gzip_case(pkg: Pkg, kind: str) -> Any:
    responses = pkg.responses
    if kind == "large":
        return responses.PlainTextResponse("x" * 1000)
    if kind == "small":
        return responses.PlainTextResponse("x" * 10)
    if kind == "stream":

        async def parts() -> Any:
            yield "a" * 10

        return responses.StreamingResponse(parts())

    async def raw(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"900")]})
        await send({"type": "http.response.body", "body": b"z" * 900})

    return raw


def test_gzip_head_compressed_content_length_matches_starlette() -> None:
    def build(pkg: Pkg) -> Any:
        return pkg.gzip.GZipMiddleware(pkg.responses.PlainTextResponse("x" * 1000))

    compare(build, make_scope(method="HEAD", headers=[(b"accept-encoding", b"gzip")]))
