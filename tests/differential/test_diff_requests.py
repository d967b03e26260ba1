"""Requests, lyre against Starlette: what an endpoint sees of generated, well-formed requests
(headers, query string, cookies, url and its parts, path params, body, json, form)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import given
from hypothesis import strategies as st

from tests.differential._harness import (
    FAST,
    Pkg,
    compare,
    cookie_values,
    extra_headers,
    hostnames,
    make_scope,
    path_segments,
    ports,
    query_pairs,
    tokens,
)


def _describe(request: Any) -> dict[str, Any]:
    url = request.url
    return {
        "method": request.method,
        "url": str(url),
        "parts": [url.scheme, url.netloc, url.path, url.query, url.hostname, url.port, url.is_secure],
        "base_url": str(request.base_url),
        "headers": request.headers.items(),
        "header_keys": list(request.headers.keys()),
        "query": request.query_params.multi_items(),
        "query_str": str(request.query_params),
        "cookies": sorted(request.cookies.items()),
        "path_params": request.path_params,
        "client": list(request.client) if request.client else None,
    }


def build(pkg: Pkg) -> Any:
    R, responses = pkg.routing, pkg.responses

    async def describe(request: Any) -> Any:
        return responses.JSONResponse(_describe(request))

    async def body(request: Any) -> Any:
        raw = await request.body()
        return responses.JSONResponse({"len": len(raw), "body": raw.decode("latin-1"), **_describe(request)})

    async def as_json(request: Any) -> Any:
        return responses.JSONResponse({"json": await request.json()})

    async def stream(request: Any) -> Any:
        chunks = [chunk.decode("latin-1") async for chunk in request.stream()]
        return responses.JSONResponse({"joined": "".join(chunks)})

    async def form(request: Any) -> Any:
        items: list[Any] = []
        async with request.form() as data:
            for key, value in data.multi_items():
                if isinstance(value, str):
                    items.append([key, value])
                else:
                    content = (await value.read()).decode("latin-1")
                    items.append([key, value.filename, value.content_type, value.size, content])
        return responses.JSONResponse({"form": items})

    return pkg.app(
        [
            R.Route("/body", body, methods=["POST", "PUT"]),
            R.Route("/json", as_json, methods=["POST"]),
            R.Route("/stream", stream, methods=["POST"]),
            R.Route("/form", form, methods=["POST"]),
            R.Route("/items/{item_id:int}/{name}", describe),
            R.Route("/{rest:path}", describe, methods=["GET", "POST", "DELETE", "PATCH"]),
        ]
    )


@st.composite
def cookie_headers(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    pairs = draw(st.lists(st.tuples(tokens.filter(lambda t: "=" not in t), cookie_values), max_size=4))
    if not pairs:
        return []
    sep = draw(st.sampled_from(["; ", ";"]))
    return [(b"cookie", sep.join(f"{k}={v}" for k, v in pairs).encode())]


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    host = draw(hostnames)
    port = draw(ports)
    scheme = draw(st.sampled_from(["http", "https"]))
    segments = draw(st.lists(path_segments, max_size=3))
    if draw(st.booleans()):
        segments = ["items", str(draw(st.integers(0, 999))), draw(path_segments)]
    path = "/" + "/".join(segments)
    pairs = draw(query_pairs)
    query = urlencode(pairs) if draw(st.booleans()) else "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs)
    headers = [(b"host", (host if port is None else f"{host}:{port}").encode())]
    headers += draw(cookie_headers())
    headers += [(k.encode(), v.encode()) for k, v in draw(extra_headers)]
    if draw(st.booleans()):
        headers.reverse()
    root_path = draw(st.sampled_from(["", "/app"]))
    return make_scope(
        method=draw(st.sampled_from(["GET", "POST", "DELETE", "PATCH"])),
        path=root_path + path,
        root_path=root_path,
        query_string=query.encode(),
        headers=headers,
        scheme=scheme,
        server=draw(st.sampled_from([("testserver", 80), ("10.0.0.1", 8443), None])),
        client=draw(st.sampled_from([("127.0.0.1", 50000), None])),
    )


@FAST
@given(requests())
def test_request_attributes(scope: dict[str, Any]) -> None:
    compare(build, scope)


@FAST
@given(
    requests(),
    st.lists(st.binary(max_size=40), min_size=1, max_size=4),
    st.sampled_from(["/body", "/stream"]),
)
def test_request_body(scope: dict[str, Any], chunks: list[bytes], target: str) -> None:
    scope = dict(scope, method="POST", path=target, root_path="")
    compare(build, scope, chunks)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**9), 10**9)
    | st.text(max_size=8).filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text("abc", max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@FAST
@given(json_values, st.integers(1, 3))
def test_request_json(value: Any, pieces: int) -> None:
    raw = json.dumps(value).encode()
    step = max(1, len(raw) // pieces)
    chunks = [raw[i : i + step] for i in range(0, len(raw), step)]
    scope = make_scope(method="POST", path="/json", headers=[(b"content-type", b"application/json")])
    compare(build, scope, chunks)


form_text = st.text("abcXYZ019 -._~&=+%é/?", max_size=8)


@FAST
@given(st.lists(st.tuples(form_text.filter(bool), form_text), max_size=4), st.booleans())
def test_request_urlencoded_form(pairs: list[tuple[str, str]], with_charset: bool) -> None:
    content_type = b"application/x-www-form-urlencoded" + (b"; charset=utf-8" if with_charset else b"")
    scope = make_scope(method="POST", path="/form", headers=[(b"content-type", content_type)])
    compare(build, scope, [urlencode(pairs).encode()])


@FAST
@given(
    st.lists(
        st.tuples(
            st.text("abcxyz_", min_size=1, max_size=5),
            st.text("abc XYZ 019 é\n", max_size=12),
            st.none() | st.text("abcxyz", min_size=1, max_size=5).map(lambda s: s + ".txt"),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_request_multipart_form(fields: list[tuple[str, str, str | None]]) -> None:
    boundary = "----lyreboundary7MA4YWxk"
    parts = []
    for name, value, filename in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        head = f"Content-Disposition: {disposition}\r\n"
        if filename:
            head += "Content-Type: text/plain\r\n"
        parts.append(f"--{boundary}\r\n{head}\r\n{value}\r\n")
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    content_type = f"multipart/form-data; boundary={boundary}".encode()
    scope = make_scope(method="POST", path="/form", headers=[(b"content-type", content_type)])
    compare(build, scope, [body])
