"""The client leaves at every step: each ``receive`` and each ``send`` of every kind of response.

For each response kind (plain, JSON, template, streaming, file, file with a ``Range``, urlencoded and
multipart form uploads read with ``request.form()``, WebSocket), with and without a background task,
on ASGI 2.3 and 2.4 and on both backends: a clean run counts the ``receive`` and ``send`` calls, then
the request is replayed once per step with the n-th ``receive`` answering ``http.disconnect``
(``websocket.disconnect``) and once per step with the n-th ``send`` (and every later one) raising
``OSError``, as a server's does when the socket is gone. Each run must:

- end (no hang) with no exception, or with the server's own ``OSError`` (unchanged, or chained into
  the ``ClientDisconnect`` a ``StreamingResponse`` raises on ASGI 2.4, as documented);
- send a well-formed message sequence or stop early, never a 5xx (the fuzzer's oracle);
- leave no file descriptor open, without waiting for the garbage collector (upload temp files
  included: the multipart upload is large enough to spill to disk), no task running (asyncio: ``asyncio.all_tasks()``; trio: the run's nursery closing
  is the proof) and no unraisable exception (pytest turns those into errors);
- run the background task exactly when the endpoint returned a response and no ``send`` failed, as
  in Starlette: after the response was sent, or after a streaming response stopped because the client
  left; never after the server's ``send`` failed, never when the client left while the body was read.
"""

from __future__ import annotations

import asyncio
import gc
import os
from pathlib import Path
from typing import Any

import anyio
import jinja2
import pytest

from lyre import Lyre
from lyre.background import BackgroundTask
from lyre.datastructures import UploadFile
from lyre.requests import Request
from lyre.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from lyre.routing import Route, WebSocketRoute
from lyre.templating import Jinja2Templates
from lyre.websockets import WebSocket, WebSocketDisconnect
from tests.fuzz.harness import Case, Outcome, check, drive

H = [(b"host", b"testserver")]
BIG = 1024 * 1024 + 4096  # past the upload spool size: the file goes to a temporary file on disk


def _multipart() -> bytes:
    return (
        b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue\r\n'
        b'--B\r\nContent-Disposition: form-data; name="f"; filename="big.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + b"z" * BIG + b"\r\n--B--\r\n"
    )


def _cut(data: bytes, pieces: int) -> list[bytes]:
    step = -(-len(data) // pieces)
    return [data[i : i + step] for i in range(0, len(data), step)]


KINDS: dict[str, dict[str, Any]] = {
    "plain": {"path": "/plain"},
    "json": {"path": "/json"},
    "template": {"path": "/template"},
    "streaming": {"path": "/streaming"},
    "file": {"path": "/file"},
    "file-range": {"path": "/file", "headers": [(b"range", b"bytes=0-99,5000-5099")]},
    "form-urlencoded": {
        "path": "/form",
        "method": "POST",
        "headers": [(b"content-type", b"application/x-www-form-urlencoded")],
        "chunks": [b"a=1&b=", b"2&c=", b"3"],
    },
    "form-multipart": {
        "path": "/form",
        "method": "POST",
        "headers": [(b"content-type", b"multipart/form-data; boundary=B")],
        "chunks": _cut(_multipart(), 3),
    },
    "websocket": {"path": "/ws", "kind": "websocket", "ws": [("text", b"a"), ("bytes", b"b")]},
}


class Log:
    def __init__(self) -> None:
        self.returned = False
        self.background = 0
        self.fds_in_endpoint = 0


def make_app(root: Path, log: Log) -> Lyre:
    templates = Jinja2Templates(
        env=jinja2.Environment(loader=jinja2.DictLoader({"t.html": "<p>{{ x }}</p>"}))
    )

    def task(request: Request) -> BackgroundTask | None:
        return BackgroundTask(_ran, log) if "bg" in request.query_params else None

    def done(response: Response) -> Response:
        log.returned = True
        return response

    async def plain(request: Request) -> Response:
        return done(PlainTextResponse("hello", background=task(request)))

    async def json_(request: Request) -> Response:
        return done(JSONResponse({"a": [1, 2, 3]}, background=task(request)))

    async def template(request: Request) -> Response:
        return done(templates.TemplateResponse(request, "t.html", {"x": 1}, background=task(request)))

    async def streaming(request: Request) -> Response:
        async def parts() -> Any:
            for i in range(4):
                yield f"part {i}\n"

        return done(StreamingResponse(parts(), background=task(request)))

    async def file(request: Request) -> Response:
        return done(FileResponse(root / "data.bin", background=task(request)))

    async def form(request: Request) -> Response:
        data = await request.form()
        log.fds_in_endpoint = _fds()
        sizes = {
            key: value.size if isinstance(value, UploadFile) else len(value) for key, value in data.items()
        }
        return done(JSONResponse(sizes, background=task(request)))

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                await websocket.send_text("echo")
        except WebSocketDisconnect:
            pass
        finally:
            log.returned = True

    return Lyre(
        routes=[
            Route("/plain", plain),
            Route("/json", json_),
            Route("/template", template),
            Route("/streaming", streaming),
            Route("/file", file),
            Route("/form", form, methods=["POST"]),
            WebSocketRoute("/ws", ws),
        ]
    )


def _ran(log: Log) -> None:
    log.background += 1


def _case(kind: str, background: bool, spec: str) -> Case:
    spec_ = KINDS[kind]
    chunks = spec_.get("chunks", [b""])
    headers = [*H, *spec_.get("headers", [])]
    if spec_.get("kind") != "websocket":
        headers.append((b"content-length", str(sum(map(len, chunks))).encode()))
    return Case(
        kind=spec_.get("kind", "http"),
        method=spec_.get("method", "GET"),
        path=spec_["path"],
        query=b"bg=1" if background else b"",
        headers=headers,
        chunks=list(chunks),
        ws_messages=list(spec_.get("ws", [])),
        spec=spec,
    )


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _tasks() -> set[Any]:
    try:
        return set(asyncio.all_tasks())
    except RuntimeError:  # not in an asyncio loop (trio)
        return set()


async def _run(root: Path, case: Case) -> tuple[Outcome, Log]:
    log = Log()
    app = make_app(root, log)
    tasks_before = _tasks()
    outcome = await drive(app, case, time_limit=10)
    for _ in range(3):
        await anyio.lowlevel.checkpoint()
    assert _tasks() <= tasks_before, f"tasks left running: {_tasks() - tasks_before}"
    return outcome, log


def _judge(case: Case, outcome: Outcome, log: Log, where: str) -> None:
    assert not outcome.hung, where
    assert check(case, outcome) == [], where
    send_failed = bool(outcome.send_errors)
    if outcome.error is not None:
        chain: list[BaseException | None] = [
            outcome.error,
            outcome.error.__cause__,
            outcome.error.__context__,
        ]
        assert any(e is s for e in chain for s in outcome.send_errors), f"{where}: {outcome.error!r}"
    if case.kind == "http":
        expected = 1 if log.returned and not send_failed else 0
        assert log.background == (expected if b"bg" in case.query else 0), where


# WebSocket endpoints have no background tasks: that kind runs without one only.
MATRIX = [
    pytest.param(kind, background, id=f"{kind}-{'background' if background else 'no-background'}")
    for kind in KINDS
    for background in ([False] if kind == "websocket" else [False, True])
]


@pytest.mark.anyio
@pytest.mark.parametrize("spec", ["2.3", "2.4"])
@pytest.mark.parametrize(("kind", "background"), MATRIX)
async def test_the_client_leaves_at_every_receive_and_every_send(
    kind: str, background: bool, spec: str, tmp_path: Path
) -> None:
    (tmp_path / "data.bin").write_bytes(bytes(range(256)) * 40)
    case = _case(kind, background, spec)

    clean, log = await _run(tmp_path, case)
    _judge(case, clean, log, "clean run")
    assert clean.messages and clean.error is None
    if case.kind == "http":
        assert clean.messages[0]["status"] in (200, 206)
        assert log.background == int(background)

    gc.collect()
    fds = _fds()
    if kind == "form-multipart":
        assert log.fds_in_endpoint > fds, "the upload went to a temporary file on disk"
    steps = [("receive", n) for n in range(1, clean.receives + 1)]
    steps += [("send", n) for n in range(1, clean.sends + 1)]
    if case.kind == "websocket":
        steps = [(what, n) for what, n in steps if (what, n) != ("receive", 1)]  # connect always arrives
    assert len(steps) >= 2
    for what, n in steps:
        faulty = Case(**{**case.__dict__, "disconnect_at": n if what == "receive" else None})
        faulty.fail_send_at = n if what == "send" else None
        outcome, log = await _run(tmp_path, faulty)
        _judge(faulty, outcome, log, f"{what} {n}")
        del outcome, log
        # No garbage collection first: lyre closes upload temp files and response files deterministically.
        assert _fds() == fds, f"file descriptors leaked when the {what} #{n} failed"
