"""Responses, lyre against Starlette: generated Response / PlainText / JSON / HTML / Redirect /
Streaming responses (content, status, headers, media type, cookies), every ASGI message compared."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.differential._harness import FAST, Pkg, compare, cookie_values, header_values, make_scope, tokens

text = st.text(max_size=30).filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s))
statuses = st.sampled_from([200, 201, 202, 204, 301, 304, 400, 404, 418, 500, 503])
response_headers = st.none() | st.dictionaries(
    st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=8).filter(
        lambda n: n not in {"content-length", "content-type"} and not n.startswith("-")
    ),
    header_values,
    max_size=3,
)
media_types = st.sampled_from(
    [None, "text/plain", "text/html", "application/json", "image/png", "text/csv; charset=latin-1"]
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text("ab", max_size=2), inner, max_size=3),
    max_leaves=6,
)

cookie_kwargs = st.fixed_dictionaries(
    {"key": tokens.filter(lambda t: "=" not in t), "value": cookie_values},
    optional={
        "max_age": st.integers(0, 10**6),
        "expires": st.sampled_from(
            [dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.UTC), "Wed, 21 Oct 2037 07:28:00 GMT"]
        ),
        "path": st.sampled_from(["/", "/a", "/a/b c"]),
        "domain": st.sampled_from(["example.com", ".example.org"]),
        "secure": st.booleans(),
        "httponly": st.booleans(),
        "samesite": st.sampled_from(["lax", "strict", "none", "Lax", None]),
        "partitioned": st.booleans(),
    },
)
delete_kwargs = st.fixed_dictionaries(
    {"key": tokens.filter(lambda t: "=" not in t)},
    optional={
        "path": st.sampled_from(["/", "/a"]),
        "domain": st.sampled_from(["example.com"]),
        "secure": st.booleans(),
        "httponly": st.booleans(),
        "samesite": st.sampled_from(["lax", "strict", None]),
    },
)


@st.composite
def response_specs(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(["Response", "PlainTextResponse", "HTMLResponse", "JSONResponse", "Redirect"])
    )
    spec: dict[str, Any] = {"kind": kind, "headers": draw(response_headers)}
    if kind == "JSONResponse":
        spec["content"] = draw(json_values)
    elif kind == "Redirect":
        spec["url"] = draw(
            st.sampled_from(
                ["/", "/a b", "https://example.com/x?y=1", "/é/ü?q=ä", "//other/path", "relative"]
            )
        )
        spec["status_code"] = draw(st.sampled_from([301, 302, 303, 307, 308]))
    else:
        spec["content"] = draw(st.none() | text | st.binary(max_size=20))
        if kind == "Response":
            spec["media_type"] = draw(media_types)
    if kind != "Redirect":
        spec["status_code"] = draw(statuses)
    spec["cookies"] = draw(st.lists(cookie_kwargs, max_size=2))
    spec["deletes"] = draw(st.lists(delete_kwargs, max_size=1))
    spec["method"] = draw(st.sampled_from(["GET", "GET", "HEAD", "POST"]))
    return spec


def build_response(pkg: Pkg, spec: dict[str, Any]) -> Any:
    responses = pkg.responses
    kind = spec["kind"]
    if kind == "Redirect":
        response = responses.RedirectResponse(
            spec["url"], status_code=spec["status_code"], headers=spec["headers"]
        )
    else:
        kwargs: dict[str, Any] = {"status_code": spec["status_code"], "headers": spec["headers"]}
        if "media_type" in spec:
            kwargs["media_type"] = spec["media_type"]
        response = getattr(responses, kind)(spec["content"], **kwargs)
    for cookie in spec["cookies"]:
        response.set_cookie(**cookie)
    for cookie in spec["deletes"]:
        response.delete_cookie(**cookie)
    return response


@FAST
@given(response_specs())
def test_responses(spec: dict[str, Any]) -> None:
    compare(lambda pkg: build_response(pkg, spec), make_scope(method=spec["method"]))


@FAST
@given(
    st.lists(st.binary(max_size=10) | st.text(max_size=5).filter(lambda s: s.isascii()), max_size=4),
    statuses,
    response_headers,
    st.sampled_from([None, "text/plain", "text/event-stream"]),
    st.booleans(),
)
def test_streaming_response(
    chunks: list[Any], status: int, headers: Any, media_type: Any, sync: bool
) -> None:
    def build(pkg: Pkg) -> Any:
        if sync:
            content: Any = iter(list(chunks))
        else:

            async def content_gen() -> Any:
                for chunk in chunks:
                    yield chunk

            content = content_gen()
        return pkg.responses.StreamingResponse(
            content, status_code=status, headers=headers, media_type=media_type
        )

    compare(build, make_scope())


@FAST
@given(
    st.lists(st.tuples(tokens.map(str.lower), header_values), max_size=4), st.sampled_from(["GET", "HEAD"])
)
def test_response_header_mutations(pairs: list[tuple[str, str]], method: str) -> None:
    """``response.headers`` edits (set, append, delete, vary) reach the start message the same way."""

    def build(pkg: Pkg) -> Any:
        response = pkg.responses.PlainTextResponse("hello")
        for i, (name, value) in enumerate(pairs):
            if i % 3 == 0:
                response.headers[name] = value
            elif i % 3 == 1:
                response.headers.append(name, value)
            else:
                response.headers.add_vary_header(value)
        if pairs and pairs[0][0] in response.headers:
            del response.headers[pairs[0][0]]
        return response

    compare(build, make_scope(method=method))
