"""request.form()/json() end to end through lyre.applications.Lyre (httpx2 ASGI transport)."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from lyre.applications import Lyre
from lyre.datastructures import UploadFile
from lyre.middleware import Middleware
from lyre.requests import Request
from lyre.responses import JSONResponse, PlainTextResponse, Response
from lyre.routing import Route
from lyre.types import Message, Receive, Scope, Send

BOUNDARY = "lyre-e2e-boundary"


def client(app: Any) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://testserver")


def encoded(data: dict[str, str] | None = None, files: Any = None) -> tuple[bytes, str]:
    request = httpx2.Request("POST", "http://testserver/", data=data, files=files)
    return request.read(), request.headers["content-type"]


async def post(app: Any, path: str, body: bytes, content_type: str) -> tuple[int, str, str]:
    """Drive the app directly (the body in one message): (status, content-type, text).

    httpx2's ASGI transport leaves its body generator unfinished when an app answers before reading
    the whole body, which trio reports as a ResourceWarning; a hand-written driver has no generator.
    """
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [
        (b"host", b"testserver"),
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "server": ("testserver", 80),
        "client": ("1.1.1.1", 1),
    }
    await app(scope, receive, send)
    start = sent[0]
    ctype = dict(start["headers"]).get(b"content-type", b"").decode()
    text = b"".join(m.get("body", b"") for m in sent[1:]).decode()
    return start["status"], ctype, text


async def form_endpoint(request: Request) -> Response:
    inp = await request.form()
    return PlainTextResponse(str(inp.get("name")))


async def upload_endpoint(request: Request) -> Response:
    f = (await request.form())["filename"]
    assert isinstance(f, UploadFile)
    data = await f.read()
    return JSONResponse(
        {"filename": f.filename, "content_type": f.content_type, "size": len(data), "head": list(data[:8])}
    )


async def json_endpoint(request: Request) -> Response:
    return JSONResponse(await request.json())


async def limited_form(request: Request) -> Response:
    form = await request.form(max_files=1, max_fields=2, max_part_size=10)
    return PlainTextResponse(",".join(form.keys()))


def make_app(**kw: Any) -> Lyre:
    return Lyre(
        routes=[
            Route("/form", form_endpoint, methods=["POST"]),
            Route("/upload", upload_endpoint, methods=["POST"]),
            Route("/json", json_endpoint, methods=["POST"]),
            Route("/limited", limited_form, methods=["POST"]),
        ],
        **kw,
    )


@pytest.mark.anyio
async def test_cheatsheet_item_3_urlencoded_form() -> None:
    async with client(make_app()) as c:
        r = await c.post("/form", data={"name": "Bo"})
        assert r.status_code == 200
        assert r.text == "Bo"
        r = await c.get("/form")
        assert r.status_code == 405
        assert "POST" in r.headers["allow"]


@pytest.mark.anyio
async def test_cheatsheet_item_4_upload() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 781 + b"\x00" * 56
    assert len(png) == 200_000
    async with client(make_app()) as c:
        r = await c.post("/upload", files={"filename": ("abc.png", png, "image/png")})
    assert r.status_code == 200
    assert r.json() == {
        "filename": "abc.png",
        "content_type": "image/png",
        "size": 200_000,
        "head": list(png[:8]),
    }


@pytest.mark.anyio
async def test_upload_bytes_unchanged() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB of every byte value, boundary-like bytes included

    async def echo(request: Request) -> Response:
        form = await request.form()
        f = form["f"]
        assert isinstance(f, UploadFile)
        return Response(await f.read())

    app = Lyre(routes=[Route("/echo", echo, methods=["POST"])])
    async with client(app) as c:
        r = await c.post("/echo", files={"f": ("x.bin", payload, "application/octet-stream")})
    assert r.status_code == 200
    assert r.content == payload


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"files": [("a", ("1.txt", b"1")), ("b", ("2.txt", b"2"))]},
            "Too many files. Maximum number of files is 1.",
        ),
        (
            {"data": {"a": "1", "b": "2", "c": "3"}, "files": {"f": ("f", b"")}},
            "Too many fields. Maximum number of fields is 2.",
        ),
        ({"data": {"a": "x" * 11}, "files": {"f": ("f", b"")}}, "Part exceeded maximum size of 0KB."),
        ({"data": {"a": "x" * 11}}, "Field exceeded maximum size of 0KB."),
        ({"data": {"a": "1", "b": "2", "c": "3"}}, "Too many fields. Maximum number of fields is 2."),
    ],
)
async def test_limits_are_400_naming_the_limit(kwargs: dict[str, Any], message: str) -> None:
    status, ctype, text = await post(make_app(), "/limited", *encoded(**kwargs))
    assert status == 400
    assert text == message
    assert ctype == "text/plain; charset=utf-8"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("multipart/form-data", b"x", "Missing boundary in multipart."),
        (f"multipart/form-data; boundary={BOUNDARY}", b"junk\r\n\r\n", "Invalid multipart data."),
        (
            f"multipart/form-data; boundary={BOUNDARY}",
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n\r\nabc'.encode(),
            "Invalid multipart data.",
        ),
        (
            f"multipart/form-data; boundary={BOUNDARY}; charset=utf-8",
            b"--"
            + BOUNDARY.encode()
            + b'\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xe9\r\n--'
            + BOUNDARY.encode()
            + b"--\r\n",
            "Invalid utf-8 data in multipart.",
        ),
        ("multipart/form-data; boundary=" + "q" * 300, b"", "Invalid multipart data."),
    ],
)
async def test_malformed_multipart_is_400(content_type: str, body: bytes, message: str) -> None:
    status, _, text = await post(make_app(), "/form", body, content_type)
    assert status == 400
    assert text == message


@pytest.mark.anyio
async def test_body_over_max_body_size_is_413() -> None:
    app = make_app(max_body_size=1000)
    status, _, text = await post(
        app, "/upload", *encoded(files={"filename": ("a.bin", b"x" * 5000, "application/octet-stream")})
    )
    assert (status, text) == (413, "Content Too Large")
    status, _, text = await post(app, "/form", *encoded(data={"name": "y" * 2000}))
    assert (status, text) == (413, "Content Too Large")


@pytest.mark.anyio
@pytest.mark.parametrize("body", [b"{bad", b"\xff\xff", b"[" * 50_000 + b"]" * 50_000])
async def test_invalid_json_is_400(body: bytes) -> None:
    status, _, text = await post(make_app(), "/json", body, "application/json")
    assert status == 400
    assert text.startswith("Invalid JSON")


@pytest.mark.anyio
async def test_json_endpoint_ok_and_cheatsheet_item_11_body_and_json() -> None:
    async def both(request: Request) -> Response:
        body = await request.body()
        data = await request.json()
        return JSONResponse({"len": len(body), "data": data, "raw_path": request.scope["raw_path"].decode()})

    app = Lyre(routes=[Route("/search", both, methods=["POST"])])
    async with client(app) as c:
        r = await c.post("/search?kw=hello", json={"a": 1})
    assert r.json() == {"len": 7, "data": {"a": 1}, "raw_path": "/search"}


@pytest.mark.anyio
async def test_middleware_reading_body_does_not_starve_endpoint() -> None:
    class ReadBodyMiddleware:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                request = Request(scope, receive)
                scope.setdefault("state", {})["seen"] = len(await request.body())
                await request.form()
            await self.app(scope, receive, send)

    async def endpoint(request: Request) -> Response:
        form = await request.form()
        return JSONResponse(
            {"seen": request.state.seen, "name": form["name"], "body": (await request.body()).decode()}
        )

    app = Lyre(routes=[Route("/", endpoint, methods=["POST"])], middleware=[Middleware(ReadBodyMiddleware)])
    async with client(app) as c:
        r = await c.post("/", data={"name": "Bo"})
    assert r.json() == {"seen": 7, "name": "Bo", "body": "name=Bo"}


@pytest.mark.anyio
async def test_query_string_with_invalid_utf8_is_not_500() -> None:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(f"{request.url}|{request.query_params['q']}")

    app = Lyre(routes=[Route("/", endpoint)])
    scope_query = b"q=\xff"
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": scope_query,
        "headers": [(b"host", b"testserver")],
        "server": ("testserver", 80),
        "client": ("1.1.1.1", 1),
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == "http://testserver/?q=%FF|\xff".encode()


@pytest.mark.anyio
async def test_unclosed_upload_files_are_closed_after_the_request() -> None:
    import gc

    files: list[Any] = []
    original = UploadFile.__init__

    def spy(self: UploadFile, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        files.append(self.file)  # the temp file only: the UploadFile itself may be collected

    async def endpoint(request: Request) -> Response:
        form = await request.form()  # never closed by the endpoint
        return PlainTextResponse(str(len(form)))

    app = Lyre(routes=[Route("/", endpoint, methods=["POST"])])
    UploadFile.__init__ = spy  # type: ignore[method-assign]
    try:
        status, _, text = await post(
            app, "/", *encoded(files={"a": ("a.txt", b"x" * 2_000_000), "b": ("b.txt", b"y")})
        )
    finally:
        UploadFile.__init__ = original  # type: ignore[method-assign]
    assert (status, text) == (200, "2")
    gc.collect()
    assert len(files) == 2
    assert all(f.closed for f in files)
