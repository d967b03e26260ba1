"""Forms and uploads through lyre's own TestClient (the way users test their apps)."""

from __future__ import annotations

import pytest

from lyre.applications import Lyre
from lyre.datastructures import UploadFile
from lyre.requests import ClientDisconnect, Request
from lyre.responses import JSONResponse, PlainTextResponse, Response
from lyre.routing import Route
from lyre.testclient import TestClient
from lyre.types import Message, Scope

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 781 + b"\x00" * 56


async def post(request: Request) -> Response:
    inp = await request.form()
    return PlainTextResponse(f"name={inp.get('name')}")


async def upload(request: Request) -> Response:
    f = (await request.form())["filename"]
    assert isinstance(f, UploadFile)
    content = await f.read()
    return JSONResponse(
        {"filename": f.filename, "content_type": f.content_type, "size": len(content), "same": content == PNG}
    )


async def multi(request: Request) -> Response:
    async with request.form(max_files=2) as form:
        names = [(k, v.filename if isinstance(v, UploadFile) else v) for k, v in form.multi_items()]
        return JSONResponse(names)


@pytest.fixture(params=["asyncio", "trio"])
def client(request: pytest.FixtureRequest) -> TestClient:
    app = Lyre(
        routes=[
            Route("/post", post, methods=["POST"]),
            Route("/upload", upload, methods=["POST"]),
            Route("/multi", multi, methods=["POST"]),
        ]
    )
    return TestClient(app, backend=request.param)


def test_cheatsheet_3_form_field(client: TestClient) -> None:
    r = client.post("/post", data={"name": "Bo"})
    assert r.status_code == 200
    assert r.text == "name=Bo"
    r = client.post("/post", data={"other": "x"})
    assert r.text == "name=None"
    r = client.get("/post")
    assert r.status_code == 405
    assert "POST" in r.headers["allow"]


def test_cheatsheet_4_upload(client: TestClient) -> None:
    assert len(PNG) == 200_000
    r = client.post("/upload", files={"filename": ("abc.png", PNG, "image/png")})
    assert r.status_code == 200
    assert r.json() == {"filename": "abc.png", "content_type": "image/png", "size": 200_000, "same": True}


def test_mixed_fields_and_files_keep_order(client: TestClient) -> None:
    r = client.post(
        "/multi",
        data={"a": "1", "b": "é"},
        files=[("f", ("one.txt", b"1", "text/plain")), ("f", ("two.txt", b"2", "text/plain"))],
    )
    assert r.status_code == 200
    assert r.json() == [["a", "1"], ["b", "é"], ["f", "one.txt"], ["f", "two.txt"]]


def test_too_many_files_is_400(client: TestClient) -> None:
    files = [("f", (f"{i}.txt", b"x", "text/plain")) for i in range(3)]
    r = client.post("/multi", files=files)
    assert r.status_code == 400
    assert r.text == "Too many files. Maximum number of files is 2."


def test_form_on_json_body_is_empty_and_body_still_readable() -> None:
    async def endpoint(request: Request) -> Response:
        form = await request.form()
        return JSONResponse({"form": len(form), "json": await request.json()})

    client = TestClient(Lyre(routes=[Route("/", endpoint, methods=["POST"])]))
    r = client.post("/", json={"a": 1})
    assert r.json() == {"form": 0, "json": {"a": 1}}


def test_client_disconnect_mid_upload_reaches_handler_and_closes_files() -> None:
    seen: list[str] = []
    created: list[UploadFile] = []
    original_init = UploadFile.__init__

    async def endpoint(request: Request) -> Response:
        try:
            await request.form()
        except ClientDisconnect:
            seen.append("disconnect")
            raise
        return PlainTextResponse("unreachable")  # pragma: no cover

    app = Lyre(routes=[Route("/", endpoint, methods=["POST"])])
    boundary = "xyz"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="f"; filename="big.bin"\r\n\r\n'.encode()
        + b"z" * 200_000
    )
    messages: list[Message] = [
        {"type": "http.request", "body": head, "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    def spy(self: UploadFile, *args: object, **kwargs: object) -> None:
        original_init(self, *args, **kwargs)  # type: ignore[arg-type]
        created.append(self)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", f"multipart/form-data; boundary={boundary}".encode()),
        ],
        "server": ("testserver", 80),
        "client": ("1.1.1.1", 1),
    }
    import anyio

    UploadFile.__init__ = spy  # type: ignore[method-assign]
    try:
        try:
            anyio.run(app, scope, receive, send)
        except ClientDisconnect:
            pass
    finally:
        UploadFile.__init__ = original_init  # type: ignore[method-assign]
    assert seen == ["disconnect"]
    assert len(created) == 1
    assert created[0].file.closed
