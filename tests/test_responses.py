"""lyre.responses: Response, HTML/PlainText/JSON/Redirect/Streaming responses (FileResponse in
test_responses_file.py). Responses are driven directly as ASGI apps with a collecting ``send``."""

from __future__ import annotations

import array
import http.cookies
import json
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import anyio
import pytest

from lyre.background import BackgroundTask, BackgroundTasks
from lyre.datastructures import URL, MutableHeaders
from lyre.requests import ClientDisconnect
from lyre.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from lyre.types import Message


def make_scope(
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] | None = None,
    scope_type: str = "http",
    spec_version: str | None = None,
) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": scope_type,
        "method": method,
        "path": "/",
        "headers": headers or [],
        "query_string": b"",
    }
    if scope_type == "websocket":
        del scope["method"]
    if spec_version is not None:
        scope["asgi"] = {"version": "3.0", "spec_version": spec_version}
    return scope


async def never_disconnect() -> Message:
    await anyio.sleep_forever()
    raise AssertionError("unreachable")


async def run(
    response: Any, scope: dict[str, Any] | None = None, receive: Any = never_disconnect
) -> list[Message]:
    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)

    await response(scope or make_scope(), receive, send)
    return messages


def body_of(messages: list[Message]) -> bytes:
    return b"".join(bytes(m.get("body", b"")) for m in messages if m["type"].endswith("http.response.body"))


# --- construction, render, headers -----------------------------------------------------------


def test_plain_bytes_and_str_bodies() -> None:
    assert Response("hi").raw_headers == [(b"content-length", b"2")]
    assert Response(b"\x00\x01").body == b"\x00\x01"
    assert Response().body == b""
    assert Response().raw_headers == [(b"content-length", b"0")]
    assert Response("é").body == "é".encode()


def test_render_memoryviews() -> None:
    typed = memoryview(array.array("i", [1, 2, 3]))
    response = Response(typed)
    assert len(response.body) == 3 * typed.itemsize
    assert response.raw_headers == [(b"content-length", str(3 * typed.itemsize).encode())]
    strided = memoryview(b"abcdef")[::2]
    assert Response(strided).body == b"ace"


def test_render_rejects_other_types() -> None:
    with pytest.raises(AttributeError, match="'dict' object has no attribute 'encode'"):
        Response({"a": 1})


def test_media_type_and_charset_rules() -> None:
    assert Response("x", media_type="text/html").raw_headers == [
        (b"content-length", b"1"),
        (b"content-type", b"text/html; charset=utf-8"),
    ]
    assert Response("x", media_type="text/html; Charset=latin-1").raw_headers[1] == (
        b"content-type",
        b"text/html; Charset=latin-1",
    )
    assert Response("{}", media_type="application/json").raw_headers[1] == (
        b"content-type",
        b"application/json",
    )
    assert PlainTextResponse("x").raw_headers == [
        (b"content-length", b"1"),
        (b"content-type", b"text/plain; charset=utf-8"),
    ]
    assert HTMLResponse("<p>").raw_headers[1] == (b"content-type", b"text/html; charset=utf-8")


def test_custom_charset_subclass() -> None:
    class Latin(PlainTextResponse):
        charset = "latin-1"

    response = Latin("é")
    assert response.body == b"\xe9"
    assert response.raw_headers[1] == (b"content-type", b"text/plain; charset=latin-1")


def test_given_headers_keep_order_and_override_defaults() -> None:
    response = Response("x", media_type="text/html", headers={"Content-Type": "foo/bar", "X-A": "1"})
    assert response.raw_headers == [
        (b"content-type", b"foo/bar"),
        (b"x-a", b"1"),
        (b"content-length", b"1"),
    ]
    assert Response("abc", headers={"Content-Length": "10"}).raw_headers == [(b"content-length", b"10")]


def test_no_content_length_for_204_304_and_1xx() -> None:
    assert Response(status_code=204).raw_headers == []
    assert Response(status_code=304, content="abc").raw_headers == []
    assert Response(status_code=101).raw_headers == []


def test_headers_property_is_a_live_view() -> None:
    response = Response("x")
    headers = response.headers
    assert isinstance(headers, MutableHeaders)
    assert headers is response.headers
    headers["x-new"] = "1"
    assert response.raw_headers[-1] == (b"x-new", b"1")
    assert headers["content-length"] == "1"


def test_raw_headers_reassigned_before_first_access() -> None:
    response = Response("x")
    response.raw_headers = [(b"x-a", b"b")]
    assert response.headers["x-a"] == "b"


@pytest.mark.parametrize("bad", ["a\r\nb", "a\nb", "a\rb", "a\x00b"])
def test_header_injection_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        Response("x", headers={"x-a": bad})
    with pytest.raises(ValueError):
        Response("x", headers={bad: "v"})
    with pytest.raises(ValueError):
        Response("x", media_type=f"text/plain{bad}")


def test_tab_and_latin1_allowed_in_header_values() -> None:
    response = Response("x", headers={"x-a": "a\tb é"})
    assert response.raw_headers[0] == (b"x-a", "a\tb é".encode("latin-1"))


def test_statu_code_typo_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Response("gone", statu_code=404)  # type: ignore[call-arg]


# --- sending -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_call_sends_two_messages() -> None:
    response = Response("gone", status_code=404, headers={"x-extra-key": "value"})
    messages = await run(response)
    assert messages == [
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [(b"x-extra-key", b"value"), (b"content-length", b"4")],
        },
        {"type": "http.response.body", "body": b"gone"},
    ]


@pytest.mark.anyio
async def test_head_sends_the_get_messages_for_the_server_to_trim() -> None:
    head = await run(PlainTextResponse("hello"), make_scope("HEAD"))
    get = await run(PlainTextResponse("hello"), make_scope("GET"))
    assert head == get  # same headers (content-length 5) and body; the server drops a HEAD's body
    assert (b"content-length", b"5") in head[0]["headers"]


@pytest.mark.anyio
async def test_websocket_scope_sends_denial_response() -> None:
    messages = await run(PlainTextResponse("no", status_code=403), make_scope(scope_type="websocket"))
    assert [m["type"] for m in messages] == ["websocket.http.response.start", "websocket.http.response.body"]
    assert messages[0]["status"] == 403
    assert messages[1]["body"] == b"no"


@pytest.mark.anyio
async def test_background_task_runs_after_body(tmp_path: Any) -> None:
    """Cheat-sheet 15a: an async task with a keyword argument deletes the file after sending."""
    events: list[str] = []
    target = tmp_path / "x.txt"
    target.write_text("x")

    async def del_file(fpath: str) -> None:
        events.append("task")
        import os

        os.remove(fpath)

    messages: list[Message] = []

    async def send(message: Message) -> None:
        events.append(message["type"])
        messages.append(message)

    response = Response("", background=BackgroundTask(del_file, fpath=str(target)))
    await response(make_scope(), never_disconnect, send)
    assert events == ["http.response.start", "http.response.body", "task"]
    assert not target.exists()


@pytest.mark.anyio
async def test_background_tasks_run_in_order_sync_and_async() -> None:
    """Cheat-sheet 15b: BackgroundTasks with an async then a sync function."""
    import threading

    calls: list[tuple[str, Any]] = []
    main_thread = threading.get_ident()

    async def task1(name: str) -> None:
        calls.append(("task1", name))

    def task2(email: str) -> None:
        calls.append(("task2", (email, threading.get_ident() != main_thread)))

    tasks = BackgroundTasks()
    tasks.add_task(task1, name="John")
    tasks.add_task(task2, email="john@example.com")
    await run(JSONResponse({"ok": True}, background=tasks))
    assert calls == [("task1", "John"), ("task2", ("john@example.com", True))]


# --- cookies -----------------------------------------------------------------------------------


def cookie_lines(response: Response) -> list[str]:
    return [v.decode("latin-1") for k, v in response.raw_headers if k == b"set-cookie"]


def test_set_cookie_exact_formats() -> None:
    response = Response()
    response.set_cookie("mycookie", "value")
    response.set_cookie("mycookie", "value", max_age=60, path="/", secure=True, httponly=True)
    response.set_cookie("a", "b", expires=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
    response.set_cookie("a", "b", samesite="strict", domain="example.com", path=None)
    response.set_cookie("a", "b", samesite=None)
    response.set_cookie("a", "b", samesite="None")  # type: ignore[arg-type]
    assert cookie_lines(response) == [
        "mycookie=value; Path=/; SameSite=lax",
        "mycookie=value; HttpOnly; Max-Age=60; Path=/; SameSite=lax; Secure",
        "a=b; expires=Wed, 02 Jan 2030 03:04:05 GMT; Path=/; SameSite=lax",
        "a=b; Domain=example.com; SameSite=strict",
        "a=b; Path=/",
        "a=b; Path=/; SameSite=None",
    ]


@pytest.mark.parametrize(
    "value",
    ["hello world;x", 'q"uote', "", "back\\slash", "é", "a,b", "plain", "tab\there", "x=y"],
)
def test_cookie_values_match_simplecookie(value: str) -> None:
    response = Response()
    response.set_cookie("k", value, max_age=5, domain="d.example", httponly=True, secure=True)
    cookie: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
    cookie["k"] = value
    cookie["k"]["max-age"] = 5
    cookie["k"]["domain"] = "d.example"
    cookie["k"]["httponly"] = True
    cookie["k"]["secure"] = True
    cookie["k"]["path"] = "/"
    cookie["k"]["samesite"] = "lax"
    assert cookie_lines(response) == [cookie.output(header="").strip()]


def test_cookie_value_quoting_examples() -> None:
    response = Response()
    response.set_cookie("a", "hello world;x", samesite=None, path=None)
    response.set_cookie("a", 'q"uote', samesite=None, path=None)
    response.set_cookie("a", "", samesite=None, path=None)
    assert cookie_lines(response) == ['a="hello world\\073x"', 'a="q\\"uote"', 'a=""']


def test_cookie_int_expires_is_relative_and_max_age_zero() -> None:
    response = Response()
    response.set_cookie("a", "b", expires=3600, max_age=0)
    (line,) = cookie_lines(response)
    expires_text = line.split("expires=")[1].split(";")[0]
    parsed = datetime.strptime(expires_text, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=UTC)
    assert abs((parsed - datetime.now(UTC)) - timedelta(hours=1)) < timedelta(minutes=1)
    assert "; Max-Age=0; Path=/; SameSite=lax" in line


def test_cookie_string_expires_verbatim() -> None:
    response = Response()
    response.set_cookie("a", "b", expires="Thu, 01 Jan 2099 00:00:00 GMT")
    assert cookie_lines(response) == ["a=b; expires=Thu, 01 Jan 2099 00:00:00 GMT; Path=/; SameSite=lax"]


def test_delete_cookie() -> None:
    """Cheat-sheet 9c."""
    response = Response()
    response.delete_cookie("mycookie", path="/", domain=None)
    (line,) = cookie_lines(response)
    assert line.startswith('mycookie=""; expires=')
    assert line.endswith("GMT; Max-Age=0; Path=/; SameSite=lax")


def test_set_cookie_appends_and_cheat_sheet_form() -> None:
    """Cheat-sheet 9a."""
    response = Response("x")
    response.set_cookie("mycookie", "value", max_age=60, path="/", secure=True, httponly=True)
    response.set_cookie("other", "2")
    lines = cookie_lines(response)
    assert len(lines) == 2
    assert lines[0].startswith("mycookie=value")
    for part in ("Max-Age=60", "HttpOnly", "Secure"):
        assert part in lines[0]


def test_cookie_errors() -> None:
    response = Response()
    with pytest.raises(http.cookies.CookieError, match="Illegal key 'a b'"):
        response.set_cookie("a b", "v")
    with pytest.raises(http.cookies.CookieError):
        response.set_cookie("", "v")
    with pytest.raises(http.cookies.CookieError, match="reserved key"):
        response.set_cookie("Path", "v")
    with pytest.raises(ValueError, match="usegmt option requires a UTC datetime"):
        response.set_cookie("a", "b", expires=datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="usegmt option requires a UTC datetime"):
        response.set_cookie("a", "b", expires=datetime(2030, 1, 1, tzinfo=timezone(timedelta(hours=1))))
    with pytest.raises(AssertionError, match="samesite must be either 'strict', 'lax' or 'none'"):
        response.set_cookie("a", "b", samesite="bogus")  # type: ignore[arg-type]
    assert cookie_lines(response) == []


@pytest.mark.parametrize("field", ["path", "domain", "expires"])
@pytest.mark.parametrize("bad", ["/a\r\nSet-Cookie: x=y", "/a;Secure", "a\x00"])
def test_cookie_attribute_injection_rejected(field: str, bad: str) -> None:
    response = Response()
    with pytest.raises(ValueError):
        attribute: dict[str, Any] = {field: bad}
        response.set_cookie("a", "b", **attribute)
    assert cookie_lines(response) == []


def test_cookie_value_control_chars_are_escaped() -> None:
    response = Response()
    response.set_cookie("a", "x\r\ny", samesite=None, path=None)
    assert cookie_lines(response) == ['a="x\\015\\012y"']


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="behaviour differs per Python version")
def test_partitioned_cookie_needs_python_314() -> None:
    with pytest.raises(ValueError, match="Partitioned cookies are only supported in Python 3.14 and above."):
        Response().set_cookie("a", "b", partitioned=True)


# --- JSON ----------------------------------------------------------------------------------------


def test_json_response_compact_utf8() -> None:
    """Cheat-sheet 6 and 7."""
    response = JSONResponse({"name": "Bo"})
    assert response.body == b'{"name":"Bo"}'
    assert response.raw_headers == [(b"content-length", b"13"), (b"content-type", b"application/json")]
    assert JSONResponse({"a": "é", "b": [1, 2.5, None]}).body == b'{"a":"\xc3\xa9","b":[1,2.5,null]}'
    assert JSONResponse(None).body == b"null"
    created = JSONResponse({"a": 1}, status_code=201, headers={"x-extra-key": "v2"})
    assert created.status_code == 201
    assert (b"x-extra-key", b"v2") in created.raw_headers


def test_response_with_json_dumps_media_type() -> None:
    response = Response(json.dumps({"a": 1}), media_type="application/json")
    assert response.raw_headers[-1] == (b"content-type", b"application/json")


def test_json_errors() -> None:
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        JSONResponse({"x": float("nan")})
    with pytest.raises(TypeError):
        JSONResponse({"x": object()})
    with pytest.raises(TypeError):
        JSONResponse()  # type: ignore[call-arg]


def test_json_encoding_after_errors_and_in_threads() -> None:
    # The encoder is reused: an error half-way through a nested value must not leave anything
    # behind (a value seen in the failed call is not a "circular reference" in the next one).
    shared: dict[str, Any] = {"k": [1, 2]}
    with pytest.raises(TypeError):
        JSONResponse({"a": shared, "b": [shared, object()]})
    assert JSONResponse({"a": shared, "b": [shared]}).body == b'{"a":{"k":[1,2]},"b":[{"k":[1,2]}]}'
    # A real cycle is still refused, and encoding works again afterwards.
    looped: list[Any] = [1]
    looped.append(looped)
    with pytest.raises(ValueError, match="Circular reference detected"):
        JSONResponse(looped)
    assert JSONResponse([looped[0]]).body == b"[1]"
    # Sync endpoints build responses in worker threads, side by side.
    payload = {"items": [{"id": i, "tags": ["a", "b"]} for i in range(200)]}
    expected = json.dumps(payload, separators=(",", ":")).encode()
    results: list[bytes] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(50):
                results.append(bytes(JSONResponse(payload).body))
        except BaseException as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert results == [expected] * 200


def test_json_render_override_and_media_type() -> None:
    class Pretty(JSONResponse):
        def render(self, content: Any) -> bytes:
            return json.dumps(content, indent=2).encode()

    assert Pretty({"a": 1}).body == b'{\n  "a": 1\n}'
    assert JSONResponse([], media_type="application/vnd.x+json").raw_headers[-1] == (
        b"content-type",
        b"application/vnd.x+json",
    )


# --- redirects -----------------------------------------------------------------------------------


def test_redirect_defaults_and_quoting() -> None:
    """Cheat-sheet 8."""
    response = RedirectResponse("/a b/é?x=1 2#f")
    assert response.status_code == 307
    assert response.body == b""
    assert response.raw_headers == [(b"content-length", b"0"), (b"location", b"/a%20b/%C3%A9?x=1%202#f")]
    see_other = RedirectResponse(url="/target", status_code=303)
    assert see_other.status_code == 303
    assert see_other.headers["location"] == "/target"
    assert RedirectResponse("/x%41%zz").headers["location"] == "/x%41%zz"
    assert RedirectResponse(URL("http://e.com/a b")).headers["location"] == "http://e.com/a%20b"


def test_redirect_overwrites_given_location_in_place() -> None:
    response = RedirectResponse("/new", headers={"Location": "/old", "x-a": "1"})
    assert response.raw_headers == [
        (b"location", b"/new"),
        (b"x-a", b"1"),
        (b"content-length", b"0"),
    ]


def test_redirect_cannot_inject_headers() -> None:
    response = RedirectResponse("/x\r\nSet-Cookie: a=b")
    assert response.headers["location"] == "/x%0D%0ASet-Cookie:%20a=b"


# --- streaming -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_streaming_async_iterator() -> None:
    async def numbers() -> AsyncIterator[str | bytes | memoryview]:
        yield "1"
        yield b""
        yield memoryview(b"23")

    response = StreamingResponse(numbers(), media_type="text/plain")
    assert response.raw_headers == [(b"content-type", b"text/plain; charset=utf-8")]
    messages = await run(response)
    assert messages[0]["type"] == "http.response.start"
    assert [(bytes(m["body"]), m["more_body"]) for m in messages[1:]] == [
        (b"1", True),
        (b"", True),
        (b"23", True),
        (b"", False),
    ]


@pytest.mark.anyio
async def test_streaming_sync_iterator_runs_in_thread() -> None:
    import threading

    main = threading.get_ident()
    threads: list[bool] = []

    def gen() -> Iterator[bytes]:
        for part in (b"a", b"b"):
            threads.append(threading.get_ident() != main)
            yield part

    response = StreamingResponse(gen())
    assert response.raw_headers == []
    messages = await run(response, make_scope(spec_version="2.4"))
    assert body_of(messages) == b"ab"
    assert threads == [True, True]


def test_streaming_keeps_user_content_length() -> None:
    response = StreamingResponse(iter([b"a"]), headers={"content-length": "1"})
    assert response.raw_headers == [(b"content-length", b"1")]


@pytest.mark.anyio
async def test_streaming_stops_on_disconnect_below_asgi_2_4() -> None:
    sent_chunks: list[int] = []
    closed: list[bool] = []
    ran: list[bool] = []
    disconnect = anyio.Event()

    async def forever() -> AsyncIterator[bytes]:
        try:
            n = 0
            while True:
                n += 1
                sent_chunks.append(n)
                if n == 3:
                    disconnect.set()
                yield b"x"
                await anyio.sleep(0)
        finally:
            closed.append(True)

    async def receive() -> Message:
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def task() -> None:
        ran.append(True)

    response = StreamingResponse(forever(), background=BackgroundTask(task))
    with anyio.fail_after(5):
        messages = await run(response, make_scope(), receive)
    assert messages[0]["type"] == "http.response.start"
    assert closed == [True]
    assert ran == [True]


@pytest.mark.anyio
async def test_streaming_asgi_2_4_oserror_becomes_client_disconnect() -> None:
    ran: list[bool] = []

    async def task() -> None:
        ran.append(True)

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            raise OSError("gone")

    response = StreamingResponse(iter([b"a", b"b"]), background=BackgroundTask(task))
    with pytest.raises(ClientDisconnect):
        await response(make_scope(spec_version="2.4"), never_disconnect, send)
    assert ran == []


@pytest.mark.anyio
async def test_streaming_head_does_not_consume_iterator() -> None:
    consumed: list[bool] = []

    async def gen() -> AsyncIterator[bytes]:
        consumed.append(True)
        yield b"x"

    messages = await run(StreamingResponse(gen()), make_scope("HEAD"))
    assert [m["type"] for m in messages] == ["http.response.start", "http.response.body"]
    assert body_of(messages) == b""
    assert consumed == []


@pytest.mark.anyio
async def test_streaming_websocket_denial() -> None:
    ran: list[bool] = []

    async def task() -> None:
        ran.append(True)

    response = StreamingResponse(iter([b"no"]), status_code=403, background=BackgroundTask(task))
    messages = await run(response, make_scope(scope_type="websocket"))
    assert [m["type"] for m in messages] == [
        "websocket.http.response.start",
        "websocket.http.response.body",
        "websocket.http.response.body",
    ]
    assert body_of(messages) == b"no"
    assert ran == [True]


def test_public_names_importable() -> None:
    import lyre.responses as module

    for name in (
        "Response HTMLResponse PlainTextResponse JSONResponse RedirectResponse StreamingResponse "
        "FileResponse MalformedRangeHeader RangeNotSatisfiable Content SyncContentStream "
        "AsyncContentStream ContentStream BackgroundTask ClientDisconnect Headers Message "
        "MutableHeaders Receive Scope Send URL create_collapsing_task_group iterate_in_threadpool"
    ).split():
        assert hasattr(module, name), name
    assert module.ClientDisconnect is ClientDisconnect  # type: ignore[attr-defined]
    assert Response.media_type is None and Response.charset == "utf-8"


def test_subclass_overriding_init_headers_and_render_is_honoured() -> None:
    class Custom(Response):
        media_type = "text/plain"

        def init_headers(self, headers: Any = None) -> None:
            self.raw_headers = [(b"x-custom", b"1")]

    assert Custom("abc").raw_headers == [(b"x-custom", b"1")]

    class Upper(PlainTextResponse):
        def render(self, content: Any) -> bytes:
            return str(content).upper().encode()

    response = Upper("abc")
    assert response.body == b"ABC"
    assert response.raw_headers[0] == (b"content-length", b"3")


def test_memoryview_and_bytes_subclass_bodies() -> None:
    class B(bytes):
        pass

    assert Response(B(b"ab")).body == b"ab"
    assert Response(memoryview(b"abc")).raw_headers == [(b"content-length", b"3")]


def test_cookie_formatting_matches_simplecookie_on_many_values() -> None:
    import random

    rng = random.Random(1234)
    alphabet = [chr(c) for c in range(0x20, 0x100) if c != 0x7F] + ["\t", "\x01"]
    for _ in range(500):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        response = Response()
        response.set_cookie("k", value, path="/p", samesite="strict", httponly=rng.random() < 0.5)
        cookie: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
        cookie["k"] = value
        cookie["k"]["path"] = "/p"
        cookie["k"]["samesite"] = "strict"
        if b"HttpOnly" in response.raw_headers[-1][1]:
            cookie["k"]["httponly"] = True
        assert cookie_lines(response)[-1] == cookie.output(header="").strip(), repr(value)


@pytest.mark.anyio
async def test_streaming_eager_receive_does_not_starve_the_stream() -> None:
    async def eager_receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def gen() -> AsyncIterator[bytes]:
        for _ in range(3):
            await anyio.sleep(0)
            yield b"x"

    with anyio.fail_after(5):
        messages = await run(StreamingResponse(gen()), make_scope(), eager_receive)
    assert body_of(messages) == b"xxx"


@pytest.mark.anyio
async def test_abandoned_sync_generator_is_closed_in_a_thread() -> None:
    import threading

    main = threading.get_ident()
    closed_in_thread: list[bool] = []

    def gen() -> Iterator[bytes]:
        try:
            while True:
                yield b"x"
        finally:
            closed_in_thread.append(threading.get_ident() != main)

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body" and message.get("more_body"):
            raise OSError("client went away")

    with pytest.raises(ClientDisconnect):
        await StreamingResponse(gen())(make_scope(spec_version="2.4"), never_disconnect, send)
    assert closed_in_thread == [True]


@pytest.mark.anyio
async def test_sync_generator_finishing_normally_is_not_closed_again() -> None:
    events: list[str] = []

    def gen() -> Iterator[str]:
        try:
            yield "a"
        finally:
            events.append("finally")

    messages = await run(StreamingResponse(gen()), make_scope(spec_version="2.4"))
    assert body_of(messages) == b"a"
    assert events == ["finally"]


def test_json_render_goes_through_a_patched_json_dumps() -> None:
    from unittest import mock

    import lyre.responses

    with mock.patch("lyre.responses.json.dumps", wraps=json.dumps) as dumps:
        response = JSONResponse({"a": 1})
    assert dumps.call_count == 1
    assert dumps.call_args.kwargs == {
        "ensure_ascii": False,
        "allow_nan": False,
        "indent": None,
        "separators": (",", ":"),
    }
    assert response.body == b'{"a":1}'
    assert lyre.responses.json.dumps is json.dumps  # type: ignore[attr-defined]
