"""The application the fuzzer drives: one app that reaches most of lyre.

Routing (path convertors, ``Mount``, a sub-``Router``, ``HTTPEndpoint``), request access (query,
headers, cookies, client, ``url_for``), JSON, urlencoded and multipart forms with files (with and
without limits), request-body streaming, sessions, GZip, CORS, TrustedHost, a ``BaseHTTPMiddleware``,
``StaticFiles`` over a temporary directory, ``FileResponse`` (with ``Range``), ``StreamingResponse``,
templates, redirects, background tasks, ``HTTPException`` and WebSockets (raw and a JSON
``WebSocketEndpoint``).

The endpoints are written as a careful user writes them: nothing here answers 5xx on purpose, and
anything a user's own code could not cope with (a session value too long for a cookie, say) is kept
out. So a 5xx, an exception or a hang seen by the fuzzer is lyre's.
"""

from __future__ import annotations

import os
from contextlib import aclosing
from pathlib import Path
from typing import Any

import jinja2

from lyre.applications import Lyre
from lyre.background import BackgroundTask
from lyre.datastructures import UploadFile
from lyre.endpoints import HTTPEndpoint, WebSocketEndpoint
from lyre.exceptions import HTTPException
from lyre.middleware import Middleware
from lyre.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from lyre.middleware.cors import CORSMiddleware
from lyre.middleware.gzip import GZipMiddleware
from lyre.middleware.sessions import SessionMiddleware
from lyre.middleware.trustedhost import TrustedHostMiddleware
from lyre.requests import Request
from lyre.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from lyre.routing import Mount, Route, Router, WebSocketRoute
from lyre.staticfiles import StaticFiles
from lyre.templating import Jinja2Templates
from lyre.websockets import WebSocket, WebSocketDisconnect

SECRET_KEY = "fuzz-secret-key"
ALLOWED_HOSTS = ["testserver", "*.example.com", "127.0.0.1", "localhost"]
CORS_ORIGINS = ["https://a.example.com", "http://localhost:3000"]

# The data file FileResponse serves: 4 KiB, so byte ranges of every shape fit inside it.
DATA = bytes(range(256)) * 16

_TEMPLATES = {
    "page.html": "<h1>{{ title }}</h1><p>{{ q }}</p><a href=\"{{ url_for('home') }}\">home</a>"
    "{% for k, v in items %}<li>{{ k }}={{ v }}</li>{% endfor %}",
}

# What the background tasks did, for the fuzzer's bookkeeping and for tests.
background_log: list[str] = []


def make_files(root: Path) -> None:
    """The files the app serves, under ``root`` (a temporary directory the caller owns)."""
    (root / "static" / "sub").mkdir(parents=True, exist_ok=True)
    (root / "static" / "index.html").write_text("<p>index</p>")
    (root / "static" / "a.txt").write_text("static text " * 20)
    (root / "static" / "sub" / "index.html").write_text("<p>sub</p>")
    (root / "static" / "404.html").write_text("<p>not here</p>")
    (root / "data.bin").write_bytes(DATA)


def _field_summary(value: Any) -> Any:
    if isinstance(value, UploadFile):
        return {"filename": value.filename, "type": value.content_type, "size": value.size}
    return value


async def home(request: Request) -> Response:
    return PlainTextResponse("home")


async def item(request: Request) -> Response:
    return JSONResponse(
        {
            "id": request.path_params["item_id"],
            "q": request.query_params.get("q"),
            "tags": request.query_params.getlist("t"),
            "keys": sorted(request.query_params.keys()),
        }
    )


async def typed(request: Request) -> Response:
    return JSONResponse({k: str(v) for k, v in request.path_params.items()})


async def file(request: Request) -> Response:
    root: Path = request.app.state.root
    return FileResponse(root / "data.bin", filename="data.bin")


async def file_inline(request: Request) -> Response:
    root: Path = request.app.state.root
    return FileResponse(
        root / "data.bin",
        media_type="application/octet-stream",
        content_disposition_type="inline",
        filename=request.query_params.get("name", "d.bin"),
    )


async def json_echo(request: Request) -> Response:
    data = await request.json()
    return JSONResponse({"got": data})


async def form(request: Request) -> Response:
    async with request.form() as data:
        fields = [(key, _field_summary(value)) for key, value in data.multi_items()]
        for _, value in data.multi_items():
            if isinstance(value, UploadFile):
                await value.read(16)
                await value.seek(0)
                await value.read()
    return JSONResponse({"fields": fields})


async def form_limited(request: Request) -> Response:
    data = await request.form(max_files=2, max_fields=4, max_part_size=512)
    try:
        return JSONResponse({"n": len(data)})
    finally:
        await data.close()


async def echo(request: Request) -> Response:
    body = await request.body()
    return Response(body, media_type=request.headers.get("content-type"))


async def stream_echo(request: Request) -> Response:
    """Streams the request body back while it arrives (the iterator reads ``request.stream()``).

    The fuzzer's first finding: below ASGI 2.4 this hung (the disconnect listener took the body).
    """

    async def chunks() -> Any:
        # aclosing: when the response stops early (the client left), the inner generator is closed
        # now rather than left to the garbage collector (trio warns about that: a ResourceWarning).
        async with aclosing(request.stream()) as body:
            async for chunk in body:
                yield chunk
        yield b"|end"

    return StreamingResponse(chunks(), media_type="application/octet-stream")


async def stream_after_body(request: Request) -> Response:
    body = await request.body()

    async def chunks() -> Any:
        for start in range(0, len(body), 7):
            yield body[start : start + 7]
        yield b"|end"

    return StreamingResponse(chunks(), media_type="application/octet-stream")


async def stream_numbers(request: Request) -> Response:
    try:
        count = min(int(request.query_params.get("n", "5")), 50)
    except ValueError:
        raise HTTPException(400, "n must be a number")

    async def numbers() -> Any:
        for i in range(max(count, 0)):
            yield f"{i}\n"

    return StreamingResponse(numbers(), media_type="text/plain", background=BackgroundTask(_note, "stream"))


def _note(what: str) -> None:
    if len(background_log) > 100:
        background_log.clear()
    background_log.append(what)


async def session(request: Request) -> Response:
    before = dict(request.session)
    value = request.query_params.get("set")
    if value is not None:
        request.session["v"] = value[:64]
    if "clear" in request.query_params:
        request.session.clear()
    return JSONResponse({"before": {k: str(v)[:64] for k, v in before.items()}})


async def info(request: Request) -> Response:
    url = request.url
    return JSONResponse(
        {
            "url": str(url),
            "path": url.path,
            "host": url.hostname,
            "port": url.port,
            "base": str(request.base_url),
            "client": list(request.client) if request.client else None,
            "headers": [[k, v] for k, v in request.headers.items()],
            "cookies": request.cookies,
            "home": str(request.url_for("home")),
            "item": str(request.url_for("item", item_id=7)),
            "state": request.scope.get("state", {}).get("seen", ""),
        }
    )


async def page(request: Request) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    items = list(request.query_params.multi_items())[:10]
    return templates.TemplateResponse(
        request,
        "page.html",
        {"title": request.path_params.get("title", "t"), "q": request.url.query, "items": items},
    )


async def redirect(request: Request) -> Response:
    return RedirectResponse(request.url_for("item", item_id=1).include_query_params(q="x"), status_code=303)


async def background(request: Request) -> Response:
    return HTMLResponse("<p>queued</p>", background=BackgroundTask(_note, "html"))


async def fail(request: Request) -> Response:
    code = request.path_params["code"]
    if not 400 <= code < 500:
        code = 418
    raise HTTPException(code, headers={"x-why": "asked"})


class Thing(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        return PlainTextResponse("thing")

    async def put(self, request: Request) -> Response:
        body = await request.body()
        return PlainTextResponse(f"{len(body)}")


async def ws_echo(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol="chat" if "chat" in websocket.scope["subprotocols"] else None)
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                if message["text"] == "close":
                    await websocket.close(code=4000, reason="bye")
                    return
                await websocket.send_text(message["text"][:200])
            elif message.get("bytes") is not None:
                await websocket.send_bytes(message["bytes"][:200])
    except WebSocketDisconnect:
        pass


async def ws_deny(websocket: WebSocket) -> None:
    if websocket.query_params.get("ok") == "1":
        await websocket.accept()
        await websocket.send_json({"hello": websocket.path_params.get("name", "")})
        await websocket.close()
    else:
        await websocket.send_denial_response(PlainTextResponse("no", status_code=403))


class JsonSocket(WebSocketEndpoint):
    encoding = "json"

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_json({"echo": data})


class Observe(BaseHTTPMiddleware):
    """Reads the request the way user middleware does and adds a header to every response."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        request.scope.setdefault("state", {})["seen"] = request.url.path[:32]
        _ = request.cookies.get("k"), request.query_params.get("q"), request.headers.get("accept")
        response = await call_next(request)
        response.headers["x-observed"] = "1"
        return response


def build_app(root: Path) -> Lyre:
    """The fuzz target; ``root`` must already hold ``make_files(root)``."""
    api = Router(
        routes=[
            Route("/things/{n:int}", typed, methods=["GET", "DELETE"]),
            Route("/echo", echo, methods=["POST", "PUT", "PATCH"]),
        ]
    )
    routes = [
        Route("/", home, name="home"),
        Route("/items/{item_id:int}", item, name="item"),
        Route("/typed/{f:float}/{u:uuid}", typed),
        Route("/path/{rest:path}", typed),
        Route("/file", file, methods=["GET", "HEAD"]),
        Route("/file/inline", file_inline),
        Route("/json", json_echo, methods=["POST"]),
        Route("/form", form, methods=["POST", "PUT"]),
        Route("/form/limited", form_limited, methods=["POST"]),
        Route("/echo", echo, methods=["POST"]),
        Route("/stream", stream_after_body, methods=["POST"]),
        Route("/stream/live", stream_echo, methods=["POST"]),
        Route("/numbers", stream_numbers),
        Route("/session", session),
        Route("/info", info, methods=["GET", "POST", "DELETE", "OPTIONS"]),
        Route("/page/{title}", page),
        Route("/redirect", redirect),
        Route("/background", background),
        Route("/fail/{code:int}", fail),
        Route("/thing", Thing),
        WebSocketRoute("/ws", ws_echo),
        WebSocketRoute("/ws/deny/{name}", ws_deny),
        WebSocketRoute("/ws/json", JsonSocket),
        Mount("/static", StaticFiles(directory=root / "static", html=True), name="static"),
        Mount("/api", app=api),
        Mount("/sub/{group}", routes=[Route("/{name}", typed), Route("/", typed)]),
    ]
    middleware = [
        Middleware(TrustedHostMiddleware, allowed_hosts=ALLOWED_HOSTS),
        Middleware(
            CORSMiddleware,
            allow_origins=CORS_ORIGINS,
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["x-token", "content-type"],
            allow_credentials=True,
            expose_headers=["x-observed"],
        ),
        Middleware(GZipMiddleware, minimum_size=64),
        Middleware(SessionMiddleware, secret_key=SECRET_KEY, max_age=3600),
        Middleware(Observe),
    ]
    app = Lyre(routes=routes, middleware=middleware)
    app.state.root = root
    app.state.templates = Jinja2Templates(
        env=jinja2.Environment(loader=jinja2.DictLoader(_TEMPLATES), autoescape=True)
    )
    return app


def open_fd_count() -> int:
    """How many file descriptors this process has open (Linux)."""
    return len(os.listdir("/proc/self/fd"))
