"""Properties of the request/response parsers and builders, driven through real ASGI calls.

Cookies (parse and ``set_cookie``), urlencoded and multipart forms under any chunking, Range,
path convertors with ``url_path_for``, session cookies, and an app fed hostile requests: round-trips
hold, a body's parse does not depend on how it is split, and nothing is ever a 500 or raises.
"""

from __future__ import annotations

import http.cookies
import json
import math
import os
import string
import tempfile
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote, urlencode

import itsdangerous
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from lyre.applications import Lyre
from lyre.middleware import Middleware
from lyre.middleware.sessions import SessionMiddleware
from lyre.requests import Request, cookie_parser
from lyre.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from lyre.routing import Route, Router

from ._drive import budget, call, http_scope, split

TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=10)
TOKEN = st.text(
    st.sampled_from(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"), min_size=1, max_size=10
)
COOKIE_OCTETS = st.text(
    st.sampled_from([chr(c) for c in range(0x21, 0x7F) if chr(c) not in '",;\\']), max_size=12
)
CUTS = st.lists(st.integers(0, 10_000), max_size=6)
BACKEND = st.sampled_from(["asyncio", "trio"])


# -- cookies -----------------------------------------------------------------------------------


@budget(80)
@given(st.text(max_size=60))
def test_cookie_parser_takes_anything(header: str) -> None:
    cookies = cookie_parser(header)
    for name, value in cookies.items():
        assert name == name.strip(" \t") and ";" not in name and ";" not in value


@budget(60)
@given(st.lists(st.tuples(TOKEN.filter(lambda t: "=" not in t), COOKIE_OCTETS), max_size=6))
def test_cookie_header_round_trip(pairs: list[tuple[str, str]]) -> None:
    header = "; ".join(f"{name}={value}" for name, value in pairs)
    assert cookie_parser(header) == dict(pairs)


@budget(60)
@given(
    # (SimpleCookie, the jar reading it back, skips ``$``-names: RFC 2109 attributes.)
    TOKEN.filter(
        lambda t: (
            not t.startswith("$")
            and t.lower()
            not in {
                "expires",
                "path",
                "comment",
                "domain",
                "max-age",
                "secure",
                "httponly",
                "version",
                "samesite",
                "partitioned",
            }
        )
    ),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20),
    st.none() | st.integers(-10, 10**6),
    st.sampled_from([None, "lax", "strict", "none"]),
    st.booleans(),
)
def test_set_cookie_round_trips_through_a_cookie_jar(
    key: str, value: str, max_age: int | None, samesite: Any, secure: bool
) -> None:
    response = Response()
    response.set_cookie(key, value, max_age=max_age, samesite=samesite, secure=secure, httponly=True)
    (line,) = [v.decode("latin-1") for k, v in response.raw_headers if k == b"set-cookie"]
    assert "\r" not in line and "\n" not in line
    jar = http.cookies.SimpleCookie()
    jar.load(line)
    assert jar[key].value == value
    if max_age is not None:
        assert jar[key]["max-age"] == str(max_age)


@budget(40)
@given(st.text(max_size=12), st.text(max_size=12))
def test_set_cookie_refuses_cleanly(key: str, value: str) -> None:
    # Any key/value: either a header line without CR/LF, or a CookieError/ValueError — nothing else.
    response = Response()
    try:
        response.set_cookie(key, value)
    except (http.cookies.CookieError, ValueError):
        return
    for name, line in response.raw_headers:
        assert b"\r" not in line and b"\n" not in line


# -- forms: the parse does not depend on the chunking ------------------------------------------------


async def echo_form(request: Request) -> Response:
    items: list[list[Any]] = []
    async with request.form() as form:
        for name, value in form.multi_items():
            if isinstance(value, str):
                items.append([name, value])
            else:
                items.append(
                    [name, value.filename, (await value.read()).decode("latin-1"), value.content_type]
                )
    return JSONResponse(items)


FORM_APP = Lyre(routes=[Route("/form", echo_form, methods=["POST"])])


@budget(60)
@given(st.lists(st.tuples(TEXT, TEXT), max_size=6), CUTS, BACKEND)
def test_urlencoded_form_any_chunking(pairs: list[tuple[str, str]], cuts: list[int], backend: str) -> None:
    body = urlencode(pairs).encode()
    scope = http_scope(
        "/form", method="POST", headers=[(b"content-type", b"application/x-www-form-urlencoded")]
    )
    answer = call(FORM_APP, scope, split(body, cuts), backend)
    assert answer.status == 200, answer.body
    assert [tuple(item) for item in json.loads(answer.body)] == pairs


BOUNDARY = st.text(
    st.sampled_from(string.ascii_letters + string.digits + "'()+_,-./:=?"), min_size=1, max_size=70
).filter(lambda b: not b.endswith(" "))
FIELD_NAME = st.text(
    st.characters(exclude_categories=["Cs", "Cc"], exclude_characters='"\\'), min_size=1, max_size=8
)
PART = st.one_of(
    st.tuples(st.just("field"), FIELD_NAME, st.text(st.characters(exclude_categories=["Cs"]), max_size=20)),
    st.tuples(st.just("file"), FIELD_NAME, st.binary(max_size=40)),
)


@budget(60)
@given(BOUNDARY, st.lists(PART, min_size=1, max_size=5), CUTS, BACKEND)
def test_multipart_form_any_boundary_any_chunking(
    boundary: str, parts: list[tuple[str, str, Any]], cuts: list[int], backend: str
) -> None:
    marker = f"--{boundary}".encode()
    body = b""
    expected: list[list[Any]] = []
    for index, (kind, name, payload) in enumerate(parts):
        if kind == "field":
            data = payload.encode("utf-8")
            assume(marker not in b"\r\n" + data)
            body += (
                marker
                + b"\r\n"
                + f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                + data
                + b"\r\n"
            )
            expected.append([name, payload])
        else:
            assume(marker not in b"\r\n" + payload)
            filename = f"f{index}.bin"
            body += (
                marker
                + b"\r\n"
                + f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'.encode()
                + b"Content-Type: application/octet-stream\r\n\r\n"
                + payload
                + b"\r\n"
            )
            expected.append([name, filename, payload.decode("latin-1"), "application/octet-stream"])
    body += marker + b"--\r\n"
    content_type = f'multipart/form-data; boundary="{boundary}"'.encode()
    scope = http_scope("/form", method="POST", headers=[(b"content-type", content_type)])
    answer = call(FORM_APP, scope, split(body, cuts), backend)
    assert answer.status == 200, answer.body
    assert json.loads(answer.body) == expected


@budget(60)
@given(
    st.sampled_from(
        [b"multipart/form-data; boundary=xyz", b"application/x-www-form-urlencoded", b"multipart/form-data"]
    ),
    st.binary(max_size=120) | st.builds(lambda b: b"--xyz\r\n" + b, st.binary(max_size=80)),
    CUTS,
)
def test_garbage_forms_are_answered_without_500(content_type: bytes, body: bytes, cuts: list[int]) -> None:
    scope = http_scope("/form", method="POST", headers=[(b"content-type", content_type)])
    answer = call(FORM_APP, scope, split(body, cuts))
    assert answer.status in (200, 400), answer.body


# -- Range -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files() -> Iterator[dict[int, str]]:
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for size in (0, 1, 7, 100, 5000):
            path = os.path.join(folder, f"f{size}")
            with open(path, "wb") as handle:
                handle.write(bytes(i % 251 for i in range(size)))
            paths[size] = path
        yield paths


RANGE_SPEC = st.one_of(
    st.builds(lambda a, b: f"{a}-{b}", st.integers(0, 6000), st.integers(0, 6000)),
    st.builds(lambda a: f"{a}-", st.integers(0, 6000)),
    st.builds(lambda b: f"-{b}", st.integers(0, 6000)),
    st.text(st.sampled_from("0123456789-, x+"), max_size=8),
)
RANGE_HEADER = st.one_of(
    st.builds(lambda specs: "bytes=" + ",".join(specs), st.lists(RANGE_SPEC, min_size=1, max_size=4)),
    st.builds(
        lambda unit, specs: f"{unit}=" + ",".join(specs),
        st.sampled_from(["items", "Bytes", " bytes ", "none"]),
        st.lists(RANGE_SPEC, max_size=2),
    ),
    st.text(st.characters(max_codepoint=0xFF), max_size=20),
)


class LenientFileResponse(FileResponse):
    ignore_unusable_range = True


@budget(100)
@given(st.sampled_from([0, 1, 7, 100, 5000]), RANGE_HEADER, st.booleans())
def test_range_answers_are_consistent(files: dict[int, str], size: int, header: str, lenient: bool) -> None:
    data = bytes(i % 251 for i in range(size))
    response_class = LenientFileResponse if lenient else FileResponse
    answer = call(response_class(files[size]), http_scope(headers=[(b"range", header.encode("latin-1"))]))
    assert answer.status in ((200, 206, 416) if lenient else (200, 206, 400, 416)), header
    if answer.status == 400:
        assert answer.body.startswith((b"Malformed range", b"Only support", b"Range header: "))
        assert "content-range" not in answer.headers
    elif answer.status == 200:
        assert answer.body == data and "content-range" not in answer.headers
    elif answer.status == 416:
        assert answer.headers["content-range"] == f"bytes */{size}"
    elif answer.headers["content-type"].startswith("multipart/byteranges"):
        assert int(answer.headers["content-length"]) == len(answer.body)
    else:
        unit, _, span = answer.headers["content-range"].partition(" ")
        first, last = (int(x) for x in span.split("/")[0].split("-"))
        assert unit == "bytes" and 0 <= first <= last < size
        assert answer.body == data[first : last + 1]
        assert int(answer.headers["content-length"]) == len(answer.body)


# -- path convertors and url_path_for: round-trips ------------------------------------------------


async def show_params(request: Request) -> Response:
    return JSONResponse({k: str(v) for k, v in request.path_params.items()})


ROUTER = Router(
    routes=[
        Route("/s/{value:str}/tail", show_params, name="s"),
        Route("/i/{value:int}", show_params, name="i"),
        Route("/f/{value:float}", show_params, name="f"),
        Route("/u/{value:uuid}", show_params, name="u"),
        Route("/p/{value:path}", show_params, name="p"),
        Route("/m/{a}/{b:int}/{c:path}", show_params, name="m"),
    ]
)
# ``url_path_for`` percent-encodes only what could change the URL's meaning (``\``, a leading ``//``)
# and leaves ``%`` as given (as Starlette), so values hold no ``%`` and the server's decoding is modelled
# with ``unquote``. A ``{x:path}`` value holds no newline: the regex ``.*`` stops at one (as Starlette's).
SEGMENT_TEXT = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="/%"), min_size=1, max_size=10
)
PATH_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\n%"), max_size=12)


@budget(80)
@given(
    st.one_of(
        st.tuples(st.just("s"), SEGMENT_TEXT),
        st.tuples(st.just("i"), st.integers(0, 10**30)),
        st.tuples(st.just("f"), st.integers(0, 10**9).map(lambda n: n / 1000)),
        st.tuples(st.just("u"), st.uuids()),
        st.tuples(st.just("p"), PATH_TEXT),
    )
)
def test_url_path_for_round_trips(case: tuple[str, Any]) -> None:
    name, value = case
    path = ROUTER.url_path_for(name, value=value)
    answer = call(ROUTER, http_scope(unquote(path)))
    assert answer.status == 200, (path, answer.body)
    got = json.loads(answer.body)["value"]
    if name == "f":
        assert math.isclose(float(got), value)
    else:
        assert got == str(value)


@budget(40)
@given(SEGMENT_TEXT, st.integers(0, 10**6), PATH_TEXT)
def test_url_path_for_several_params(a: str, b: int, c: str) -> None:
    path = ROUTER.url_path_for("m", a=a, b=b, c=c)
    answer = call(ROUTER, http_scope(unquote(path)))
    assert json.loads(answer.body) == {"a": a, "b": str(b), "c": c}


# -- session cookies ------------------------------------------------------------------------------


async def session_view(request: Request) -> Response:
    if request.method == "POST":
        request.session.clear()
        request.session.update(await request.json())
    return JSONResponse(request.session)


SESSION_APP = Lyre(
    routes=[Route("/", session_view, methods=["GET", "POST"])],
    middleware=[Middleware(SessionMiddleware, secret_key="property-secret")],
)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**9), 10**9) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


def session_cookie(answer: Any) -> str:
    (line,) = [v.decode("latin-1") for k, v in answer.raw_headers if k == b"set-cookie"]
    cookie: str = line.split(";", 1)[0].split("=", 1)[1]
    return cookie


@budget(40)
@given(st.dictionaries(TEXT, JSON_VALUE, min_size=1, max_size=4), st.data())
def test_session_round_trip_and_tampering(session: dict[str, Any], data: st.DataObject) -> None:
    body = json.dumps(session).encode()
    stored = call(SESSION_APP, http_scope(method="POST"), [body])
    assert stored.status == 200
    cookie = session_cookie(stored)
    loaded = call(SESSION_APP, http_scope(headers=[(b"cookie", f"session={cookie}".encode())]))
    assert json.loads(loaded.body) == session
    # Any change to the cookie value: an empty session, never a 500 and never other data. The one
    # change that keeps the session is one itsdangerous (whose wire format we share) also accepts:
    # base64 leaves the low bits of a signature's last character unused, and its decoder is
    # lenient, so a few spellings of the same signature verify.
    at = data.draw(st.integers(0, len(cookie) - 1))
    char = data.draw(st.sampled_from(string.ascii_letters + string.digits + "._-=+/"))
    assume(cookie[at] != char)
    tampered = cookie[:at] + char + cookie[at + 1 :]
    try:
        itsdangerous.TimestampSigner("property-secret").unsign(tampered)
    except itsdangerous.BadData:
        expected: dict[str, Any] = {}
    else:
        expected = session
    answer = call(SESSION_APP, http_scope(headers=[(b"cookie", f"session={tampered}".encode())]))
    assert (answer.status, json.loads(answer.body)) == (200, expected)


# -- a whole app fed hostile requests: never a 500, never an exception ------------------------------


async def everything(request: Request) -> Response:
    facts: dict[str, Any] = {
        "url": str(request.url),
        "query": request.query_params.multi_items()[:3],
        "cookies": request.cookies,
        "headers": len(request.headers),
        "host": request.url.hostname,
    }
    if request.method == "POST":
        facts["body"] = len(await request.body())
    return JSONResponse(facts)


async def as_json(request: Request) -> Response:
    return PlainTextResponse(type(await request.json()).__name__)


HOSTILE_APP = Lyre(
    routes=[
        Route("/", everything, methods=["GET", "POST"]),
        Route("/x/{name}", everything, methods=["GET", "POST"]),
        Route("/json", as_json, methods=["POST"]),
        Route("/form", echo_form, methods=["POST"]),
    ],
    middleware=[Middleware(SessionMiddleware, secret_key="s")],
)
RAW_BYTES = st.binary(max_size=30)
HEADER_NAMES = st.sampled_from(
    [
        b"host",
        b"cookie",
        b"content-type",
        b"content-length",
        b"range",
        b"accept",
        b"x-any",
        b"transfer-encoding",
    ]
)


@budget(150)
@given(
    st.sampled_from(["GET", "POST", "HEAD", "PUT", "get"]),
    st.sampled_from(["/", "/x/a", "/json", "/form", "/nope"]) | st.text(max_size=12).map(lambda s: "/" + s),
    RAW_BYTES,
    st.lists(st.tuples(HEADER_NAMES | RAW_BYTES, RAW_BYTES), max_size=5),
    st.binary(max_size=60),
    CUTS,
)
def test_hostile_requests_never_500(
    method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]], body: bytes, cuts: list[int]
) -> None:
    scope = http_scope(path, method=method, query=query, headers=headers)
    scope["raw_path"] = quote(path, safe="/", errors="surrogateescape").encode("ascii")
    answer = call(HOSTILE_APP, scope, split(body, cuts))
    assert answer.status is not None and answer.status < 500, (answer.status, answer.body)
