"""Lilya apps, written the way Lilya's docs write them (``Lilya(routes=[Path(...)])``, handlers whose
path parameters Lilya injects by name, middleware as ``DefineMiddleware`` entries).

No ``from __future__ import annotations`` here: Lilya reads handler signatures to inject parameters.
Lilya's own ``SessionMiddleware``, ``Jinja2Template`` and ``StaticFiles`` serve the session, template
and static scenarios. Lilya has no BaseHTTPMiddleware (its middleware are all pure ASGI classes, and
its ``after_request`` hooks take no arguments and cannot touch the response), so its closest idiom
is a middleware class following its ``MiddlewareProtocol`` that edits the ``http.response.start``
message; it and the three pure ASGI middlewares are all ``DefineMiddleware`` entries.
"""

from typing import Any

from lilya.apps import Lilya
from lilya.middleware import DefineMiddleware
from lilya.middleware.sessions import SessionMiddleware
from lilya.protocols.middleware import MiddlewareProtocol
from lilya.requests import Request
from lilya.responses import JSONResponse, PlainText, Response
from lilya.routing import Include, Path
from lilya.staticfiles import StaticFiles
from lilya.templating.jinja import Jinja2Template
from lilya.types import ASGIApp, Message, Receive, Scope, Send

from bench.apps.common import (
    ITEMS,
    JSON_PAYLOAD,
    PLAINTEXT,
    SECRET_KEY,
    STATIC_DIR,
    TEMPLATE_DIR,
    PassThroughA,
    PassThroughB,
    ScopeTagger,
    scenario_table,
)


async def hello() -> Response:
    return PlainText(PLAINTEXT)


def plaintext() -> Lilya:
    return Lilya(routes=[Path("/plaintext", handler=hello)])


def json_() -> Lilya:
    async def data() -> Response:
        return JSONResponse(JSON_PAYLOAD)

    return Lilya(routes=[Path("/json", handler=data)])


def path() -> Lilya:
    async def post(user_id: int, slug: str) -> Response:
        return PlainText(f"{user_id}:{slug}")

    return Lilya(routes=[Path("/users/{user_id:int}/posts/{slug}", handler=post)])


def query() -> Lilya:
    async def search(request: Request) -> Response:
        q = request.query_params
        return JSONResponse({"q": q.get("q"), "tags": q.getall("tag", []), "page": int(q.get("page", "1"))})

    return Lilya(routes=[Path("/search", handler=search)])


def routes(n: int) -> Lilya:
    def make(i: int) -> Any:
        async def item(item_id: int) -> Response:
            return PlainText(f"{i}:{item_id}")

        return item

    return Lilya(routes=[Path(f"/resource{i}/{{item_id:int}}", handler=make(i)) for i in range(n)])


def form() -> Lilya:
    async def submit(request: Request) -> Response:
        data = await request.form()
        return PlainText(f"{len(data)}:{data['f0']}:{data['f9']}")

    return Lilya(routes=[Path("/form", handler=submit, methods=["POST"])])


def multipart() -> Lilya:
    async def upload(request: Request) -> Response:
        data = await request.form()
        content = await data["file"].read()
        return PlainText(f"{data['title']}:{data['note']}:{len(content)}")

    return Lilya(routes=[Path("/upload", handler=upload, methods=["POST"])])


def cookies() -> Lilya:
    async def prefs(request: Request) -> Response:
        sid = request.cookies.get("sid")
        key = request.headers.get("x-api-key")
        response = PlainText(f"{sid}:{key}")
        response.set_cookie("seen", "1", max_age=3600, httponly=True)
        return response

    return Lilya(routes=[Path("/cookies", handler=prefs)])


def session() -> Lilya:
    async def counter(request: Request) -> Response:
        n = request.session.get("n", 0) + 1
        request.session["n"] = n
        return PlainText(str(n))

    return Lilya(
        routes=[Path("/session", handler=counter)],
        middleware=[DefineMiddleware(SessionMiddleware, secret_key=SECRET_KEY)],
    )


class AddHeader(MiddlewareProtocol):
    """Adds ``x-bench: 1`` to every HTTP response (edits the ``http.response.start`` message)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-bench", b"1")]
            await send(message)

        await self.app(scope, receive, send_with_header)


def middleware() -> Lilya:
    return Lilya(
        routes=[Path("/mw", handler=hello)],
        middleware=[
            DefineMiddleware(PassThroughA),
            DefineMiddleware(PassThroughB),
            DefineMiddleware(ScopeTagger),
            DefineMiddleware(AddHeader),
        ],
    )


def template() -> Lilya:
    templates = Jinja2Template(directory=str(TEMPLATE_DIR))

    async def page(request: Request) -> Response:
        return templates.get_template_response(request, "items.html", {"title": "Items", "items": ITEMS})

    return Lilya(routes=[Path("/template", handler=page)])


def notfound() -> Lilya:
    return plaintext()


def static() -> Lilya:
    return Lilya(routes=[Include("/static", app=StaticFiles(directory=str(STATIC_DIR)))])


SCENARIOS = scenario_table(globals())
make_routes = routes
