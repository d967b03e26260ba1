"""Responses end to end through ``Lyre`` + ``TestClient``: cheat-sheet items 6-9 and 15, HEAD,
streaming and files."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from lyre.applications import Lyre
from lyre.background import BackgroundTask, BackgroundTasks
from lyre.requests import Request
from lyre.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from lyre.routing import Route
from lyre.testclient import TestClient


def client_for(*routes: Route, **kwargs: Any) -> TestClient:
    return TestClient(Lyre(routes=list(routes)), **kwargs)


def test_item6_json_response() -> None:
    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse({"name": "Bo"})

    response = client_for(Route("/", endpoint)).get("/")
    assert response.content == b'{"name":"Bo"}'
    assert response.headers["content-type"] == "application/json"


def test_item7_response_forms() -> None:
    data = {"a": [1, 2]}

    async def dumped(request: Request) -> Response:
        return Response(json.dumps(data), media_type="application/json")

    async def gone(request: Request) -> Response:
        return Response("gone", status_code=404, headers={"x-extra-key": "value"})

    async def created(request: Request) -> JSONResponse:
        return JSONResponse(data, status_code=201, headers={"x-extra-key": "v2"})

    client = client_for(Route("/dumped", dumped), Route("/gone", gone), Route("/created", created))
    response = client.get("/dumped")
    assert response.headers["content-type"] == "application/json"
    assert response.json() == data
    response = client.get("/gone")
    assert (response.status_code, response.text, response.headers["x-extra-key"]) == (404, "gone", "value")
    response = client.get("/created")
    assert (response.status_code, response.headers["x-extra-key"]) == (201, "v2")
    assert response.json() == data


def test_item8_redirects() -> None:
    async def see_other(request: Request) -> RedirectResponse:
        return RedirectResponse(url="/target", status_code=303)

    async def temporary(request: Request) -> RedirectResponse:
        return RedirectResponse("/target")

    async def target(request: Request) -> PlainTextResponse:
        return PlainTextResponse("arrived")

    client = client_for(
        Route("/a", see_other, methods=["GET", "POST"]), Route("/b", temporary), Route("/target", target)
    )
    response = client.get("/a", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/target")
    response = client.get("/b", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (307, "/target")
    assert client.post("/a").text == "arrived"


def test_item9_cookies_round_trip() -> None:
    async def set_(request: Request) -> Response:
        response = PlainTextResponse("set")
        response.set_cookie("mycookie", "value", max_age=60, path="/", secure=True, httponly=True)
        return response

    async def read(request: Request) -> Response:
        return PlainTextResponse(str(request.cookies.get("mycookie")))

    async def delete(request: Request) -> Response:
        response = PlainTextResponse("deleted")
        response.delete_cookie("mycookie", path="/", domain=None)
        return response

    client = client_for(Route("/set", set_), Route("/read", read), Route("/delete", delete))
    response = client.get("/set")
    header = response.headers["set-cookie"]
    assert header.startswith("mycookie=value")
    for part in ("Max-Age=60", "HttpOnly", "Secure", "Path=/", "SameSite=lax"):
        assert part in header
    assert client.get("/read", headers={"cookie": "mycookie=value"}).text == "value"
    deleted = client.get("/delete").headers["set-cookie"]
    assert deleted.startswith('mycookie=""; expires=')
    assert deleted.endswith("; Max-Age=0; Path=/; SameSite=lax")


def test_item15_background_tasks(tmp_path: Path) -> None:
    path = tmp_path / "to-delete.txt"
    path.write_text("x")
    calls: list[str] = []
    main = threading.get_ident()

    async def del_file(fpath: str) -> None:
        Path(fpath).unlink()

    async def task1(name: str) -> None:
        calls.append(f"task1 {name}")

    def task2(email: str) -> None:
        calls.append(f"task2 {email} thread={threading.get_ident() != main}")

    async def single(request: Request) -> Response:
        return Response("", background=BackgroundTask(del_file, fpath=str(path)))

    async def many(request: Request) -> Response:
        tasks = BackgroundTasks()
        tasks.add_task(task1, name="John")
        tasks.add_task(task2, email="john@example.com")
        return JSONResponse({"queued": 2}, background=tasks)

    client = client_for(Route("/single", single), Route("/many", many))
    assert client.get("/single").status_code == 200
    assert not path.exists()
    assert client.get("/many").json() == {"queued": 2}
    assert calls == ["task1 John", "task2 john@example.com thread=True"]


def test_head_through_the_app_has_no_body() -> None:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse("hello world")

    response = client_for(Route("/", endpoint)).head("/")
    assert response.status_code == 200
    assert response.headers["content-length"] == "11"
    assert response.content == b""


def test_streaming_through_the_app() -> None:
    async def numbers() -> AsyncIterator[str]:
        for n in range(3):
            yield f"{n},"

    async def endpoint(request: Request) -> StreamingResponse:
        return StreamingResponse(numbers(), media_type="text/csv")

    response = client_for(Route("/", endpoint)).get("/")
    assert response.text == "0,1,2,"
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "content-length" not in response.headers


def test_file_response_through_the_app(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-" + b"x" * 100)

    async def endpoint(request: Request) -> FileResponse:
        return FileResponse(path, filename="report.pdf")

    client = client_for(Route("/", endpoint))
    response = client.get("/")
    assert response.content == path.read_bytes()
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == 'attachment; filename="report.pdf"'
    partial = client.get("/", headers={"range": "bytes=0-4"})
    assert (partial.status_code, partial.content) == (206, b"%PDF-")
    assert client.get("/", headers={"range": "bytes=500-"}).status_code == 416
    assert client.head("/").content == b""


def test_header_injection_is_a_500_not_a_split_response() -> None:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse("x", headers={"x-a": request.query_params["v"]})

    client = client_for(Route("/", endpoint), raise_server_exceptions=False)
    response = client.get("/", params={"v": "a\r\nSet-Cookie: evil=1"})
    assert response.status_code == 500
    assert "evil" not in response.headers.get("set-cookie", "")


@pytest.mark.anyio
async def test_works_under_plain_httpx_asgi_transport() -> None:
    async def endpoint(request: Request) -> Response:
        response = JSONResponse({"ok": True})
        response.set_cookie("a", "b")
        return response

    transport = httpx2.ASGITransport(app=Lyre(routes=[Route("/", endpoint)]))
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/")
    assert response.json() == {"ok": True}
    assert response.headers["set-cookie"] == "a=b; Path=/; SameSite=lax"


def test_client_closing_a_large_download_early_leaks_no_file_descriptor(tmp_path: Path) -> None:
    import os

    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(1_000_000))

    class Small(FileResponse):
        chunk_size = 4096

    async def endpoint(request: Request) -> FileResponse:
        return Small(path)

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    with client_for(Route("/", endpoint)) as client:
        before = open_fds()
        for _ in range(5):
            with client.stream("GET", "/") as response:
                assert response.status_code == 200
                next(response.iter_bytes())
        assert open_fds() == before


@pytest.mark.anyio
async def test_cancelled_stream_leaves_client_body_iterator_exhausted() -> None:
    """A request cancelled mid-stream (here: by the caller) must not leave httpx's request-body
    generator half-consumed (trio reports that as an unraisable ResourceWarning)."""
    import gc

    import anyio

    external = anyio.CancelScope()

    async def stream() -> AsyncIterator[bytes]:
        yield b"first"
        external.cancel()
        await anyio.sleep(0)
        yield b"never"

    async def endpoint(request: Request) -> StreamingResponse:
        return StreamingResponse(stream())

    transport = httpx2.ASGITransport(app=Lyre(routes=[Route("/", endpoint)]))
    with anyio.fail_after(5):
        async with httpx2.AsyncClient(transport=transport, base_url="http://test") as client:
            with external:
                await client.get("/")
    assert external.cancelled_caught
    gc.collect()
