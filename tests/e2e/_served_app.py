"""The app of test_e2e_servers.py: what ``lyre run --server ...`` must carry end to end.

Lifespan startup and shutdown are appended, one per line, to the file named by
``LYRE_E2E_LIFESPAN_LOG`` (the test reads it after the server stopped); ``/state`` shows what
startup put in the lifespan state. Also: a request echo (method, path, root path, body size), a
streaming response, ``url_for``, and a WebSocket echo that closes with code 4001.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

from lyre.applications import Lyre
from lyre.requests import Request
from lyre.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from lyre.routing import Route, WebSocketRoute
from lyre.websockets import WebSocket


def _log(event: str) -> None:
    with open(os.environ["LYRE_E2E_LIFESPAN_LOG"], "a", encoding="utf-8") as f:
        f.write(f"{event} {os.getpid()}\n")


@contextlib.asynccontextmanager
async def lifespan(app: Lyre) -> AsyncIterator[dict[str, str]]:
    _log("startup")
    yield {"started_by": "lifespan"}
    _log("shutdown")


async def health(request: Request) -> Response:
    return PlainTextResponse("ok")


async def state(request: Request) -> Response:
    return PlainTextResponse(request.state.started_by)


async def echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "root_path": request.scope.get("root_path", ""),
            "query": dict(request.query_params),
            "size": len(body),
            "url_for": str(request.url_for("echo")),
            "client": [request.client.host, request.client.port] if request.client else None,
        }
    )


async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[str]:
        for i in range(3):
            yield f"chunk {i}\n"
            await asyncio.sleep(0.05)

    return StreamingResponse(chunks(), media_type="text/plain")


async def ws_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    text = await websocket.receive_text()
    await websocket.send_text(f"echo: {text}")
    data = await websocket.receive_bytes()
    await websocket.send_bytes(data[::-1])
    await websocket.close(code=4001)


app = Lyre(
    routes=[
        Route("/health", health),
        Route("/state", state),
        Route("/echo", echo, methods=["GET", "POST"], name="echo"),
        Route("/stream", stream),
        WebSocketRoute("/ws", ws_echo),
    ],
    lifespan=lifespan,
)
