"""Sanic 25 apps, written the way Sanic's docs write them (``@app.get`` handlers taking ``request``,
``sanic.response`` helpers), served through Sanic's own ASGI interface (a ``Sanic`` app is an ASGI
callable; its start-up runs on the ASGI lifespan, which the harness and uvicorn both send).

Sanic has no session support of its own (neither in Sanic nor in Sanic Extensions), so the session
cell is skipped (``SKIPPED``). The template cell uses Sanic Extensions' Jinja2 templating
(``@app.ext.template``), the way Sanic's docs show templates; only that app is extended, with CORS
and OpenAPI switched off, so the other cells measure Sanic itself. Sanic's closest equivalent of a
BaseHTTPMiddleware is a response middleware (``@app.on_response``) editing the response; the three
pure ASGI middlewares wrap the Sanic app from outside. Every app gets its own name: Sanic keeps a
registry of apps by name.
"""

from __future__ import annotations

from itertools import count
from typing import Any

from sanic import Request, Sanic
from sanic.response import HTTPResponse, json, text

from bench.apps.common import (
    ITEMS,
    JSON_PAYLOAD,
    PLAINTEXT,
    STATIC_DIR,
    TEMPLATE_DIR,
    PassThroughA,
    PassThroughB,
    ScopeTagger,
    scenario_table,
)

SKIPPED = {"session": "Sanic has no session support (neither Sanic nor Sanic Extensions provide one)"}

# Sanic's start-up "touches up" a few of its own class methods for the app being started (it
# recompiles them without the signal dispatches that app does not use). That assumes one app per
# process; the in-process harness starts many. Test mode makes each start-up rebuild those methods
# from the originals instead of from the previous app's rewrite (and allows repeated app names); it
# changes nothing in how a request is handled. All the plain apps below get the same rewrite; the
# template app (Sanic Extensions registers an ``http.routing.after`` signal) may run in-process under a
# plain app's rewrite, i.e. without that one signal dispatch (end-to-end, one app per process, it
# runs under its own).
Sanic.test_mode = True

_names = count()


def _app(extend: bool = False) -> Sanic:
    # configure_logging=False: Sanic leaves logging to the process (as uvicorn's own set-up does for
    # the others), so its INFO start-up banner is not printed once per app.
    app: Sanic = Sanic(f"bench{next(_names)}", configure_logging=False)
    app.config.AUTO_EXTEND = extend  # plain Sanic unless a scenario uses Sanic Extensions (template)
    return app


def plaintext() -> Sanic:
    app = _app()

    @app.get("/plaintext")
    async def hello(request: Request) -> HTTPResponse:
        return text(PLAINTEXT)

    return app


def json_() -> Sanic:
    app = _app()

    @app.get("/json")
    async def data(request: Request) -> HTTPResponse:
        return json(JSON_PAYLOAD)

    return app


def path() -> Sanic:
    app = _app()

    @app.get("/users/<user_id:int>/posts/<slug>")
    async def post(request: Request, user_id: int, slug: str) -> HTTPResponse:
        return text(f"{user_id}:{slug}")

    return app


def query() -> Sanic:
    app = _app()

    @app.get("/search")
    async def search(request: Request) -> HTTPResponse:
        args = request.args
        return json({"q": args.get("q"), "tags": args.getlist("tag", []), "page": int(args.get("page", "1"))})

    return app


def routes(n: int) -> Sanic:
    app = _app()

    def make(i: int) -> Any:
        async def item(request: Request, item_id: int) -> HTTPResponse:
            return text(f"{i}:{item_id}")

        return item

    for i in range(n):
        app.add_route(make(i), f"/resource{i}/<item_id:int>", name=f"item{i}")
    return app


def form() -> Sanic:
    app = _app()

    @app.post("/form")
    async def submit(request: Request) -> HTTPResponse:
        data = request.form
        return text(f"{len(data)}:{data.get('f0')}:{data.get('f9')}")

    return app


def multipart() -> Sanic:
    app = _app()

    @app.post("/upload")
    async def upload(request: Request) -> HTTPResponse:
        data = request.form
        upload = request.files.get("file")
        return text(f"{data.get('title')}:{data.get('note')}:{len(upload.body)}")

    return app


def cookies() -> Sanic:
    app = _app()

    @app.get("/cookies")
    async def prefs(request: Request) -> HTTPResponse:
        sid = request.cookies.get("sid")
        key = request.headers.get("x-api-key")
        response = text(f"{sid}:{key}")
        response.add_cookie("seen", "1", max_age=3600, httponly=True, secure=False)
        return response

    return app


def middleware() -> Any:
    app = _app()

    @app.on_response
    async def add_header(request: Request, response: HTTPResponse) -> None:
        response.headers["x-bench"] = "1"

    @app.get("/mw")
    async def hello(request: Request) -> HTTPResponse:
        return text(PLAINTEXT)

    return PassThroughA(PassThroughB(ScopeTagger(app)))


def template() -> Sanic:
    app = _app(extend=True)
    app.extend(config={"templating_path_to_templates": str(TEMPLATE_DIR), "cors": False, "oas": False})

    @app.get("/template")
    @app.ext.template("items.html")
    async def page(request: Request) -> dict[str, Any]:
        return {"title": "Items", "items": ITEMS}

    return app


def notfound() -> Sanic:
    return plaintext()


def static() -> Sanic:
    app = _app()
    app.static("/static", STATIC_DIR)
    return app


SCENARIOS = scenario_table(globals())
make_routes = routes
