"""The fused and the layered stack agree: random applications and requests, every ASGI message compared.

Each case draws an application (routes with and without parameters and methods, mounts, a route
subclass, a router subclass, pure ASGI and ``BaseHTTPMiddleware`` middleware, exception handlers,
endpoints that read the body, raise or answer) and a batch of requests (methods, paths, bodies in
chunks, framings), builds the application twice — ``LYRE_FUSION=1`` and ``LYRE_FUSION=0`` — and
checks that both send the same messages, in the same order, and raise the same exception type.
The draws come from a seeded generator, so a failure names a reproducible case.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from lyre.applications import Lyre
from lyre.exceptions import HTTPException
from lyre.middleware import Middleware
from lyre.middleware.base import BaseHTTPMiddleware
from lyre.requests import Request
from lyre.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from lyre.routing import Match, Mount, Route, Router
from lyre.types import Message, Receive, Scope, Send

pytestmark = pytest.mark.anyio

CASES = 40
REQUESTS_PER_CASE = 12


class Oops(Exception):
    """An application error some handlers answer."""


async def text(request: Request) -> Response:
    return PlainTextResponse(f"{request.method} {request.url.path} {sorted(request.path_params.items())}")


async def body_length(request: Request) -> Response:
    return JSONResponse({"n": len(await request.body())})


async def form_fields(request: Request) -> Response:
    form = await request.form()
    return JSONResponse(sorted(form.keys()))


async def raise_http(request: Request) -> Response:
    raise HTTPException(status_code=409, detail="conflict")


async def raise_oops(request: Request) -> Response:
    raise Oops("boom")


async def stream(request: Request) -> Response:
    async def parts() -> Any:
        yield b"a"
        yield b"b"

    return StreamingResponse(parts(), media_type="text/plain")


def sync_text(request: Request) -> Response:
    return PlainTextResponse("sync")


ENDPOINTS = [text, body_length, form_fields, raise_http, raise_oops, stream, sync_text]


class LowerCaseRoute(Route):
    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        return super().matches(dict(scope, path=scope["path"].lower()))


class TeapotRouter(Router):
    async def not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("teapot", status_code=418)(scope, receive, send)


class AddHeader:
    def __init__(self, app: Any, value: str) -> None:
        self.app, self.value = app, value

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-mw", self.value.encode())]
            await send(message)

        await self.app(scope, receive, send_with_header)


async def dispatch(request: Request, call_next: Any) -> Response:
    response: Response = await call_next(request)
    response.headers["x-base"] = "1"
    return response


async def on_oops(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("handled oops", status_code=422)


async def on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"status": exc.status_code}, status_code=exc.status_code)


async def on_500(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("custom 500", status_code=500)


def draw_routes(rng: random.Random, depth: int = 0) -> list[Any]:
    routes: list[Any] = []
    for i in range(rng.randint(1, 6)):
        kind = rng.random()
        endpoint = rng.choice(ENDPOINTS)
        methods = rng.choice([None, ["GET"], ["POST"], ["GET", "POST"], ["PUT"]])
        if kind < 0.35:
            routes.append(Route(f"/s{i}", endpoint, methods=methods))
        elif kind < 0.6:
            routes.append(Route(f"/p{i}/{{name}}", endpoint, methods=methods))
        elif kind < 0.7:
            routes.append(Route(f"/n{i}/{{num:int}}", endpoint, methods=methods))
        elif kind < 0.8:
            routes.append(LowerCaseRoute(f"/lower{i}", endpoint, methods=methods))
        elif kind < 0.9 and depth == 0:
            routes.append(Mount(f"/m{i}", routes=draw_routes(rng, depth + 1)))
        else:
            routes.append(Route(f"/s{i}/", endpoint, methods=methods))
    return routes


def draw_app(seed: int) -> Any:
    rng = random.Random(seed)
    routes = draw_routes(rng)
    middleware = []
    if rng.random() < 0.3:
        middleware.append(Middleware(AddHeader, value="outer"))
    if rng.random() < 0.2:
        middleware.append(Middleware(BaseHTTPMiddleware, dispatch=dispatch))
    handlers: dict[Any, Any] = {}
    if rng.random() < 0.5:
        handlers[Oops] = on_oops
    if rng.random() < 0.3:
        handlers[HTTPException] = on_http
    if rng.random() < 0.3:
        handlers[500] = on_500
    if rng.random() < 0.3:
        handlers[404] = on_http
    limit = rng.choice([None, 8, 64, Lyre.__init__.__kwdefaults__["max_body_size"]])  # type: ignore[index]
    app = Lyre(routes=routes, middleware=middleware, exception_handlers=handlers, max_body_size=limit)
    if rng.random() < 0.2:
        app.router = TeapotRouter(routes)
    return app


def draw_paths(app: Any, rng: random.Random) -> list[str]:
    paths = ["/", "/missing", "/s0/", "/S0", "/LOWER1", "/n2/x"]
    for route in app.router.routes:
        template = getattr(route, "path", "/")
        filled = template.replace("{name}", rng.choice(["a", "b-c"])).replace(
            "{num:int}", str(rng.randint(0, 99))
        )
        paths.append(filled)
        for child in getattr(route, "routes", []) or []:
            paths.append(filled + getattr(child, "path", "").replace("{name}", "z").replace("{num:int}", "7"))
    return paths


async def run(
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> tuple[list[Message], str | None]:
    pending = list(chunks)
    sent: list[Message] = []

    async def receive() -> Message:
        if pending:
            body = pending.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(pending)}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(dict(message))

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "server": ("test", 80),
        "client": ("127.0.0.1", 5000),
        "state": {},
    }
    error = None
    try:
        await app(scope, receive, send)
    except Exception as exc:
        error = type(exc).__name__
    return sent, error


@pytest.mark.parametrize("seed", range(CASES))
async def test_fused_and_layered_stacks_send_the_same_messages(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LYRE_FUSION", "1")
    fused = draw_app(seed)
    fused.middleware_stack = fused.build_middleware_stack()  # built now, with fusion on
    monkeypatch.setenv("LYRE_FUSION", "0")
    layered = draw_app(seed)
    layered.middleware_stack = layered.build_middleware_stack()
    assert type(layered.middleware_stack).__name__ == "ServerErrorMiddleware"

    rng = random.Random(seed * 7919)
    paths = draw_paths(fused, rng)
    for _ in range(REQUESTS_PER_CASE):
        method = rng.choice(["GET", "GET", "POST", "PUT", "HEAD", "DELETE"])
        path = rng.choice(paths)
        size = rng.choice([0, 3, 9, 70])
        body = bytes(rng.randrange(97, 123) for _ in range(size))
        cut = rng.randint(0, size)
        chunks = [body[:cut], body[cut:]]
        headers: list[tuple[bytes, bytes]] = []
        framing = rng.choice(["length", "none", "chunked", "short-length"])
        if framing == "length":
            headers.append((b"content-length", str(size).encode()))
        elif framing == "chunked":
            headers.append((b"transfer-encoding", b"chunked"))
        elif framing == "short-length":
            headers.append((b"content-length", b"1"))
        if rng.random() < 0.5:
            headers.append((b"content-type", b"application/x-www-form-urlencoded"))
        case = f"seed={seed} {method} {path} {framing} body={body!r}"
        got_fused = await run(fused, method, path, list(headers), list(chunks))
        got_layered = await run(layered, method, path, list(headers), list(chunks))
        assert got_fused == got_layered, case
