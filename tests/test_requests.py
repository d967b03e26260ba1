"""lyre.requests: HTTPConnection / Request driven directly with scopes and hand-written receive."""

from __future__ import annotations

import json
from contextlib import aclosing
from typing import Any

import anyio
import pytest

import lyre.requests as requests_module
from lyre.datastructures import URL, Address, FormData, Headers, QueryParams, State
from lyre.exceptions import HTTPException
from lyre.requests import (
    SERVER_PUSH_HEADERS_TO_COPY,
    ClientDisconnect,
    HTTPConnection,
    MalformedJSONError,
    Request,
    cookie_parser,
    empty_receive,
    empty_send,
)
from lyre.types import Message, Receive


def make_scope(**kw: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "server": ("testserver", 80),
        "path": "/",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
    }
    scope.update(kw)
    return scope


def receiver(*chunks: bytes, disconnect: bool = False) -> Any:
    """A receive() yielding the chunks as http.request messages (more_body until the last)."""
    messages: list[Message] = []
    for i, chunk in enumerate(chunks):
        messages.append({"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1})
    if disconnect:
        if messages:
            messages[-1]["more_body"] = True
        messages.append({"type": "http.disconnect"})
    calls = {"n": 0}

    async def receive() -> Message:
        calls["n"] += 1
        if messages:
            return messages.pop(0)
        return {"type": "http.disconnect"}

    receive.calls = calls  # type: ignore[attr-defined]
    return receive


# HTTPConnection ---------------------------------------------------------------------------------


def test_public_names_importable() -> None:
    for name in [
        "HTTPConnection",
        "Request",
        "ClientDisconnect",
        "cookie_parser",
        "empty_receive",
        "empty_send",
        "SERVER_PUSH_HEADERS_TO_COPY",
        "StateT",
        "Address",
        "AwaitableOrContextManager",
        "AwaitableOrContextManagerWrapper",
        "FormData",
        "FormParser",
        "HTTPException",
        "Headers",
        "Message",
        "MultiPartException",
        "MultiPartParser",
        "QueryParams",
        "Receive",
        "Scope",
        "Send",
        "State",
        "URL",
        "parse_options_header",
    ]:
        assert getattr(requests_module, name) is not None, name
    from python_multipart.multipart import parse_options_header

    assert requests_module.parse_options_header is parse_options_header
    assert SERVER_PUSH_HEADERS_TO_COPY == {
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "user-agent",
    }


def test_connection_is_mapping_with_identity_equality() -> None:
    scope = make_scope(path="/abc")
    conn = HTTPConnection(scope)
    assert conn["path"] == "/abc"
    assert len(conn) == len(scope)
    assert set(conn) == set(scope)
    other = HTTPConnection(scope)
    assert conn != other
    assert conn == conn
    assert hash(conn) != hash(other)
    assert {conn: 1}[conn] == 1


def test_connection_asserts_scope_type() -> None:
    with pytest.raises(AssertionError):
        HTTPConnection({"type": "lifespan"})
    HTTPConnection({"type": "websocket"})
    with pytest.raises(AssertionError):
        Request({"type": "websocket"})


def test_url_and_headers_and_query_params() -> None:
    scope = make_scope(
        scheme="https",
        path="/search",
        query_string=b"kw=hello&t=1&t=2",
        headers=[(b"host", b"example.com:8080"), (b"user-agent", b"UA/1")],
        client=("10.1.2.3", 53102),
    )
    request = Request(scope)
    assert str(request.url) == "https://example.com:8080/search?kw=hello&t=1&t=2"
    assert request.url.port == 8080
    assert request.url.is_secure
    assert request.headers["user-agent"] == "UA/1"
    assert isinstance(request.headers, Headers)
    assert request.query_params.getlist("t") == ["1", "2"]
    assert request.query_params.get("kw") == "hello"
    assert request.query_params.get("nope") is None
    assert isinstance(request.query_params, QueryParams)
    assert request.client == Address("10.1.2.3", 53102)
    assert request.client is not None and request.client.host == "10.1.2.3"
    assert request.method == "GET"


def test_lazy_properties_are_cached() -> None:
    scope = make_scope(query_string=b"a=1", headers=[(b"host", b"h"), (b"cookie", b"x=1")])
    request = Request(scope)
    assert request.url is request.url
    assert request.headers is request.headers
    assert request.query_params is request.query_params
    assert request.cookies is request.cookies
    assert request.base_url is request.base_url
    assert request.state is request.state
    # Computed once: later scope changes do not affect the cached values.
    scope["query_string"] = b"a=2"
    assert request.query_params["a"] == "1"


def test_lazy_properties_not_computed_until_asked() -> None:
    request = Request(make_scope())
    assert request.__dict__.keys() == {"scope", "_receive", "_send"}
    request.url  # noqa: B018
    request.cookies  # noqa: B018
    assert request.__dict__.keys() == {"scope", "_receive", "_send", "_url", "_cookies"}


def test_path_params_and_client_read_scope_each_time() -> None:
    scope = make_scope()
    request = Request(scope)
    assert request.path_params == {}
    assert request.client is None
    scope["path_params"] = {"id": 3}
    scope["client"] = ("1.2.3.4", 5)
    assert request.path_params == {"id": 3}
    assert request.client == ("1.2.3.4", 5)
    scope["client"] = None
    assert request.client is None


def test_client_port_given_as_a_string_is_an_int() -> None:
    # granian passes the ports of ``scope["client"]`` as strings; the ASGI spec says integers.
    request = Request(make_scope(client=["10.0.0.7", "50312"]))
    assert request.client == ("10.0.0.7", 50312)
    assert request.client is not None and type(request.client.port) is int
    assert request.client.host == "10.0.0.7"
    # Anything else is passed on as the server gave it.
    other = Request(make_scope(client=("10.0.0.7", "unix"))).client
    assert other is not None and tuple(other) == ("10.0.0.7", "unix")


def test_base_url() -> None:
    assert str(Request(make_scope(path="/a/b", query_string=b"x=1")).base_url) == "http://testserver/"
    scope = make_scope(path="/api/a", root_path="/api")
    assert str(Request(scope).base_url) == "http://testserver/api/"
    scope = make_scope(path="/api/sub/a", root_path="/api/sub", app_root_path="/api")
    assert str(Request(scope).base_url) == "http://testserver/api/"


def test_url_with_invalid_utf8_query_does_not_crash() -> None:
    request = Request(make_scope(query_string=b"a=%ff&b=\xff\xfe"))
    assert str(request.url) == "http://testserver/?a=%ff&b=%FF%FE"
    assert request.query_params["b"] == "\xff\xfe"
    assert request.query_params["a"] == "\ufffd"


def test_app_and_state() -> None:
    scope = make_scope()
    request = Request(scope)
    with pytest.raises(KeyError):
        request.app  # noqa: B018
    scope["app"] = "the-app"
    assert request.app == "the-app"
    request.state.start_time = 1
    assert isinstance(request.state, State)
    assert scope["state"] == {"start_time": 1}
    # A later Request on the same scope sees it.
    assert Request(scope).state.start_time == 1


def test_session_auth_user_assertions() -> None:
    request = Request(make_scope())
    with pytest.raises(AssertionError, match="SessionMiddleware must be installed to access request.session"):
        request.session  # noqa: B018
    with pytest.raises(
        AssertionError, match="AuthenticationMiddleware must be installed to access request.auth"
    ):
        request.auth  # noqa: B018
    with pytest.raises(
        AssertionError, match="AuthenticationMiddleware must be installed to access request.user"
    ):
        request.user  # noqa: B018

    class Session(dict):  # type: ignore[type-arg]
        accessed = False

        def mark_accessed(self) -> None:
            self.accessed = True

    session = Session(a=1)
    request = Request(make_scope(session=session, auth="creds", user="bo"))
    assert request.session["a"] == 1
    assert session.accessed
    assert request.auth == "creds"
    assert request.user == "bo"


def test_url_for() -> None:
    request = Request(make_scope())
    with pytest.raises(
        RuntimeError, match="The `url_for` method can only be used inside a Starlette application"
    ):
        request.url_for("home")

    class Provider:
        def url_path_for(self, name: str, /, **params: Any) -> Any:
            from lyre.datastructures import URLPath

            return URLPath(f"/{name}/{params.get('name', '')}", "http")

    request = Request(make_scope(router=Provider(), root_path="/root", path="/root/x"))
    assert str(request.url_for("item", name="n")) == "http://testserver/root/item/n"


# Cookies --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("abc=def; unnamed; django_language=en", {"abc": "def", "": "unnamed", "django_language": "en"}),
        ("a b c=d e = f; gh=i", {"a b c": "d e = f", "gh": "i"}),
        ("  =  b  ;  ;  =  ;   c  =  ;  ", {"": "b", "c": ""}),
        (
            'keebler="E=mc2; L=\\"Loves\\"; fudge=\\012;"',
            {"keebler": '"E=mc2', "L": '\\"Loves\\"', "fudge": "\\012", "": '"'},
        ),
        ('q="a\\"b"', {"q": 'a"b'}),
        ('o="\\101\\102c"', {"o": "ABc"}),
        ("a=1; a=2", {"a": "2"}),
        ("", {}),
        ("=", {}),
        ("a=b=c", {"a": "b=c"}),
    ],
)
def test_cookie_parser(header: str, expected: dict[str, str]) -> None:
    assert cookie_parser(header) == expected


def test_cookie_parser_keeps_non_ascii_whitespace() -> None:
    cookies = cookie_parser("\xa0__Host-x=evil; __Host-x=good")
    assert cookies == {"\xa0__Host-x": "evil", "__Host-x": "good"}
    assert cookie_parser("\t a=1 \t") == {"a": "1"}


def test_cookie_parser_linear_on_escape_heavy_values() -> None:
    value = '"' + "\\101" * 20000 + '\\"' + '"'
    assert cookie_parser(f"a={value}")["a"] == "A" * 20000 + '"'


def test_request_cookies_from_every_header() -> None:
    scope = make_scope(headers=[(b"cookie", b"a=1; b=2"), (b"cookie", b"b=3; mycookie=value")])
    request = Request(scope)
    assert request.cookies == {"a": "1", "b": "3", "mycookie": "value"}
    assert request.cookies.get("mycookie") == "value"
    assert Request(make_scope()).cookies == {}


# Body -----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_empty_receive_and_send() -> None:
    with pytest.raises(RuntimeError, match="Receive channel has not been made available"):
        await empty_receive()
    with pytest.raises(RuntimeError, match="Send channel has not been made available"):
        await empty_send({})
    with pytest.raises(RuntimeError, match="Receive channel has not been made available"):
        await Request(make_scope()).body()


@pytest.mark.anyio
async def test_body_is_cached_same_object() -> None:
    receive = receiver(b"ab", b"", b"cd")
    request = Request(make_scope(method="POST"), receive)
    assert request.receive is receive
    body = await request.body()
    assert body == b"abcd"
    assert await request.body() is body
    chunks = [c async for c in request.stream()]
    assert chunks == [b"abcd", b""]
    assert [c async for c in request.stream()] == [b"abcd", b""]


@pytest.mark.anyio
async def test_single_chunk_body_not_copied() -> None:
    payload = b"x" * 1000
    request = Request(make_scope(), receiver(payload))
    assert await request.body() is payload


@pytest.mark.anyio
async def test_stream_then_body_raises() -> None:
    request = Request(make_scope(), receiver(b"a", b"b"))
    assert [c async for c in request.stream()] == [b"a", b"b", b""]
    with pytest.raises(RuntimeError, match="Stream consumed"):
        await request.body()
    with pytest.raises(RuntimeError, match="Stream consumed"):
        async for _ in request.stream():
            pass


@pytest.mark.anyio
async def test_abandoned_stream_can_continue() -> None:
    request = Request(make_scope(), receiver(b"a", b"b", b"c"))
    async with aclosing(request.stream()) as stream:
        async for chunk in stream:
            assert chunk == b"a"
            break
    assert [c async for c in request.stream()] == [b"b", b"c", b""]


@pytest.mark.anyio
async def test_interleaved_streams_end_when_either_reads_the_last_chunk() -> None:
    calls = 0
    inner: Receive = receiver(b"x", b"y")

    async def counting_receive() -> Message:
        nonlocal calls
        calls += 1
        return await inner()

    request = Request(make_scope(), counting_receive)
    first, second = request.stream(), request.stream()
    assert await second.__anext__() == b"x"
    assert await first.__anext__() == b"y"  # the last chunk: the body is now consumed
    assert await second.__anext__() == b""  # ends without another receive()
    assert await first.__anext__() == b""
    assert calls == 2
    for stream in (first, second):
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()


@pytest.mark.anyio
async def test_disconnect_while_reading() -> None:
    request = Request(make_scope(), receiver(b"a", disconnect=True))
    with pytest.raises(ClientDisconnect):
        await request.body()
    assert await request.is_disconnected()


@pytest.mark.anyio
async def test_body_shared_between_requests_on_same_scope() -> None:
    scope = make_scope(method="POST")
    receive = receiver(b'{"a": ', b"1}")
    middleware_request = Request(scope, receive)
    assert await middleware_request.json() == {"a": 1}
    endpoint_request = Request(scope, receive)
    assert await endpoint_request.body() == b'{"a": 1}'
    assert await endpoint_request.json() == {"a": 1}
    assert [c async for c in endpoint_request.stream()] == [b'{"a": 1}', b""]
    assert receive.calls["n"] == 2


@pytest.mark.anyio
async def test_stream_consumed_shared_for_same_receive_only() -> None:
    scope = make_scope(method="POST")
    receive = receiver(b"data")
    first = Request(scope, receive)
    assert [c async for c in first.stream()] == [b"data", b""]
    with pytest.raises(RuntimeError, match="Stream consumed"):
        await Request(scope, receive).body()
    # A different receive (e.g. a replaying middleware) is read normally.
    assert await Request(scope, receiver(b"replayed")).body() == b"replayed"


@pytest.mark.anyio
async def test_json_cached_and_errors() -> None:
    request = Request(make_scope(), receiver(b'{"a": [1, 2]}'))
    value = await request.json()
    assert value == {"a": [1, 2]}
    assert await request.json() is value
    null_request = Request(make_scope(), receiver(b"null"))
    assert await null_request.json() is None
    assert await null_request.json() is None


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"{'a': 1}", b"\xff\xfe\xfd", b"[" * 100_000 + b"]" * 100_000],
)
async def test_invalid_json_is_400_and_json_decode_error(body: bytes) -> None:
    request = Request(make_scope(), receiver(body))
    with pytest.raises(MalformedJSONError) as info:
        await request.json()
    exc = info.value
    assert isinstance(exc, json.JSONDecodeError)
    assert isinstance(exc, ValueError)
    assert isinstance(exc, HTTPException)
    assert exc.status_code == 400
    assert exc.detail.startswith("Invalid JSON")


@pytest.mark.anyio
async def test_json_depth_limit_allows_512_and_brackets_in_strings() -> None:
    deep = b"[" * 512 + b"]" * 512
    assert await Request(make_scope(), receiver(deep)).json() is not None
    in_strings = json.dumps(["[[[[" * 300, {"k": "{{{" * 300}]).encode()
    assert (await Request(make_scope(), receiver(in_strings)).json())[0] == "[[[[" * 300


@pytest.mark.anyio
async def test_is_disconnected_polls_without_waiting() -> None:
    never = anyio.Event()

    async def waiting_receive() -> Message:
        await never.wait()
        return {"type": "http.request"}  # pragma: no cover

    request = Request(make_scope(), waiting_receive)
    assert await request.is_disconnected() is False

    async def disconnected() -> Message:
        return {"type": "http.disconnect"}

    request = Request(make_scope(), disconnected)
    assert await request.is_disconnected() is True
    assert await request.is_disconnected() is True


@pytest.mark.anyio
async def test_send_push_promise_and_early_hints() -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    headers = [(b"accept", b"text/html"), (b"user-agent", b"UA"), (b"x-other", b"no"), (b"accept", b"*/*")]
    request = Request(make_scope(headers=headers), send=send)
    await request.send_push_promise("/style.css")
    await request.send_early_hints("</a.css>; rel=preload")
    assert sent == []

    extensions: dict[str, dict[str, Any]] = {"http.response.push": {}, "http.response.early_hint": {}}
    request = Request(make_scope(headers=headers, extensions=extensions), send=send)
    await request.send_push_promise("/style.css")
    await request.send_early_hints("</a.css>; rel=preload", "</b.js>; rel=preload")
    push, hints = sent
    assert push["type"] == "http.response.push"
    assert push["path"] == "/style.css"
    assert sorted(push["headers"]) == [(b"accept", b"*/*"), (b"accept", b"text/html"), (b"user-agent", b"UA")]
    assert hints == {
        "type": "http.response.early_hint",
        "links": [b"</a.css>; rel=preload", b"</b.js>; rel=preload"],
    }


@pytest.mark.anyio
async def test_form_non_form_content_type_does_not_read_body() -> None:
    scope = make_scope(method="POST", headers=[(b"content-type", b"application/json")])
    request = Request(scope, receiver(b'{"a": 1}'))
    form = await request.form()
    assert isinstance(form, FormData)
    assert len(form) == 0
    assert await request.json() == {"a": 1}


@pytest.mark.anyio
async def test_form_cached_and_body_after_form_raises() -> None:
    scope = make_scope(method="POST", headers=[(b"content-type", b"application/x-www-form-urlencoded")])
    receive = receiver(b"name=Bo")
    request = Request(scope, receive)
    form = await request.form()
    assert form["name"] == "Bo"
    assert await request.form(max_fields=0) is form
    with pytest.raises(RuntimeError, match="Stream consumed"):
        await request.body()
    # Another Request on the same scope and receive (the endpoint after a middleware) gets the same form.
    assert await Request(scope, receive).form() is form


@pytest.mark.anyio
async def test_form_after_body() -> None:
    scope = make_scope(
        method="POST", headers=[(b"content-type", b"application/x-www-form-urlencoded; charset=utf-8")]
    )
    request = Request(scope, receiver(b"a=1&", b"b=2"))
    assert await request.body() == b"a=1&b=2"
    form = await request.form()
    assert form.multi_items() == [("a", "1"), ("b", "2")]


def test_cached_properties_are_read_only() -> None:
    request = Request(make_scope())
    assert isinstance(request.url, URL)
    with pytest.raises(AttributeError):
        request.url = URL("/x")  # type: ignore[misc]


@pytest.mark.anyio
async def test_json_deep_escapes_and_utf16() -> None:
    # No depth cap beyond what json.loads itself reads (issue 20).
    body = b"[" * 600 + b'"' + b'\\"' * 200_000 + b'"' + b"]" * 600
    assert await Request(make_scope(), receiver(body)).json() is not None
    wide = ("[" * 520 + "]" * 520).encode("utf-16")
    assert await Request(make_scope(), receiver(wide)).json() is not None
    ok = json.dumps([["\\[" * 10, {"k": '"]]]'}]] * 400).encode()
    assert len(await Request(make_scope(), receiver(ok)).json()) == 400


@pytest.mark.anyio
async def test_body_rewriting_middleware_is_not_bypassed() -> None:
    scope = make_scope(method="POST", headers=[(b"content-type", b"application/x-www-form-urlencoded")])
    original = receiver(b"name=compressed")
    middleware_request = Request(scope, original)
    assert await middleware_request.body() == b"name=compressed"
    # The middleware hands the app a receive with a rewritten body: the endpoint must read that one.
    rewritten = receiver(b"name=plain")
    endpoint_request = Request(scope, rewritten)
    assert await endpoint_request.body() == b"name=plain"
    assert (await endpoint_request.form())["name"] == "plain"
    # And the cache now belongs to the new receive.
    assert scope["lyre.receive"] is rewritten
    assert await Request(scope, rewritten).body() == b"name=plain"
    assert await middleware_request.body() == b"name=compressed"


@pytest.mark.anyio
async def test_form_shared_between_requests_with_same_receive() -> None:
    scope = make_scope(method="POST", headers=[(b"content-type", b"multipart/form-data; boundary=xx")])
    receive = receiver(b'--xx\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--xx--\r\n')
    first = await Request(scope, receive).form()
    assert first["a"] == "1"
    assert await Request(scope, receive).form() is first


@pytest.mark.anyio
async def test_json_goes_through_json_loads_so_a_patch_of_it_is_honoured() -> None:
    """FastAPI's tests patch ``json.loads`` to fail and expect the request's JSON to fail with it."""
    from unittest import mock

    async def receive() -> Message:
        return {"type": "http.request", "body": b'{"a": 1}', "more_body": False}

    scope = {"type": "http", "method": "POST", "headers": [], "path": "/"}
    with mock.patch("json.loads", side_effect=ValueError("patched")):
        with pytest.raises(ValueError, match="patched"):
            await Request(scope, receive).json()
    assert await Request(scope, receive).json() == {"a": 1}
