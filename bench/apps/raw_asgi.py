"""Hand-written raw ASGI apps: the floor. No framework, just what each scenario strictly needs.

Scenarios that only make sense with a framework's machinery (forms, multipart, sessions, static
files) are left out. Parsing is still done honestly (query string, cookies, path segments), with
the standard library, the way a careful hand-written app would.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

import jinja2

from bench.apps.common import (
    ITEMS,
    JSON_PAYLOAD,
    PLAINTEXT,
    TEMPLATE_DIR,
    PassThroughA,
    PassThroughB,
    ScopeTagger,
    scenario_table,
)

# One encoder built once (``json.dumps`` with non-default options builds a new one per call).
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
JSON = [(b"content-type", b"application/json")]
HTML = [(b"content-type", b"text/html; charset=utf-8")]


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _respond(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _not_found(send: Any) -> None:
    await _respond(send, 404, TEXT, b"Not Found")


def _routed(routes: dict[str, Any]) -> Any:
    """A one-dict router for exact paths; everything else is 404."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
            return
        handler = routes.get(scope["path"])
        if handler is None:
            await _not_found(send)
        else:
            await handler(scope, receive, send)

    return app


PLAIN_BYTES = PLAINTEXT.encode()


async def _plaintext(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await _respond(send, 200, TEXT, PLAIN_BYTES)


def plaintext() -> Any:
    return _routed({"/plaintext": _plaintext})


def json_() -> Any:
    async def data(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = _json(JSON_PAYLOAD).encode()
        await _respond(send, 200, JSON, body)

    return _routed({"/json": data})


def path() -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
            return
        parts = scope["path"].split("/")
        # /users/{user_id:int}/posts/{slug}
        if (
            len(parts) == 5
            and parts[1] == "users"
            and parts[3] == "posts"
            and parts[2].isdigit()
            and parts[4]
        ):
            await _respond(send, 200, TEXT, f"{int(parts[2])}:{parts[4]}".encode())
        else:
            await _not_found(send)

    return app


def query() -> Any:
    async def search(scope: dict[str, Any], receive: Any, send: Any) -> None:
        q = None
        tags = []
        page = 1
        for piece in scope["query_string"].decode("latin-1").split("&"):
            k, _, v = piece.partition("=")
            if "%" in v or "+" in v:
                v = unquote_plus(v)
            if k == "q" and q is None:
                q = v
            elif k == "tag":
                tags.append(v)
            elif k == "page":
                page = int(v)
        body = _json({"q": q, "tags": tags, "page": page}).encode()
        await _respond(send, 200, JSON, body)

    return _routed({"/search": search})


def routes(n: int) -> Any:
    """``/resource{i}/{item_id:int}`` for i < n: first segment looked up in a dict."""
    table = {f"resource{i}": i for i in range(n)}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
            return
        parts = scope["path"].split("/")
        if len(parts) == 3:
            i = table.get(parts[1])
            if i is not None and parts[2].isdigit():
                await _respond(send, 200, TEXT, f"{i}:{int(parts[2])}".encode())
                return
        await _not_found(send)

    return app


def _cookies(scope: dict[str, Any]) -> tuple[dict[str, str], dict[bytes, bytes]]:
    headers = dict(scope["headers"])
    jar: dict[str, str] = {}
    raw = headers.get(b"cookie")
    if raw:
        for chunk in raw.decode("latin-1").split(";"):
            name, sep, value = chunk.partition("=")
            if sep:
                jar[name.strip()] = value.strip()
    return jar, headers


def cookies() -> Any:
    async def prefs(scope: dict[str, Any], receive: Any, send: Any) -> None:
        jar, headers = _cookies(scope)
        key = headers.get(b"x-api-key", b"").decode("latin-1")
        body = f"{jar.get('sid')}:{key}".encode()
        await _respond(
            send, 200, [*TEXT, (b"set-cookie", b"seen=1; HttpOnly; Max-Age=3600; Path=/; SameSite=lax")], body
        )

    return _routed({"/cookies": prefs})


class AddHeader:
    """The raw equivalent of a header-adding BaseHTTPMiddleware: wrap ``send``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-bench", b"1")]
            await send(message)

        await self.app(scope, receive, send_with_header)


def middleware() -> Any:
    return PassThroughA(PassThroughB(ScopeTagger(AddHeader(_routed({"/mw": _plaintext})))))


def template() -> Any:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), autoescape=True)
    tmpl = env.get_template("items.html")

    async def page(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = tmpl.render(title="Items", items=ITEMS).encode()
        await _respond(send, 200, HTML, body)

    return _routed({"/template": page})


def notfound() -> Any:
    return _routed({"/plaintext": _plaintext})


SCENARIOS = scenario_table(globals())
make_routes = routes
