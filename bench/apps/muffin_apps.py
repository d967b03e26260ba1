"""Muffin 3 apps, written the way Muffin's docs write them (``@app.route`` handlers taking ``request``).

Muffin's own plugins do what its docs use them for: ``muffin-session`` (``auto_manage=True``, its
default JWT-signed cookie, so ``request.session`` is a dict) and ``muffin-jinja2`` (``await
jinja2.render(...)``). Static files are the application's ``static_folders`` option. Muffin's closest
equivalent of a BaseHTTPMiddleware is its "internal" middleware, a coroutine taking the next handler
and the request and returning the response; the three pure ASGI middlewares are registered with
``app.middleware(cls)``, which Muffin's docs give for any ASGI middleware (they wrap the whole app).
"""

from __future__ import annotations

from itertools import count
from typing import Any

import muffin
import muffin_jinja2
from muffin_session import Plugin as Session

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

_names = count()


def _app(**options: Any) -> muffin.Application:
    # Each benchmark app is its own Muffin application (its name only keys its configuration).
    return muffin.Application(f"bench{next(_names)}", **options)


def plaintext() -> muffin.Application:
    app = _app()

    @app.route("/plaintext")
    async def hello(request: muffin.Request) -> muffin.ResponseText:
        return muffin.ResponseText(PLAINTEXT)

    return app


def json_() -> muffin.Application:
    app = _app()

    @app.route("/json")
    async def data(request: muffin.Request) -> dict[str, Any]:
        return JSON_PAYLOAD  # a dict is sent as JSON

    return app


def path() -> muffin.Application:
    app = _app()

    @app.route("/users/{user_id:int}/posts/{slug}")
    async def post(request: muffin.Request) -> muffin.ResponseText:
        params = request.path_params
        return muffin.ResponseText(f"{params['user_id']}:{params['slug']}")

    return app


def query() -> muffin.Application:
    app = _app()

    @app.route("/search")
    async def search(request: muffin.Request) -> dict[str, Any]:
        q = request.query
        return {"q": q.get("q"), "tags": q.getall("tag", []), "page": int(q.get("page", 1))}

    return app


def routes(n: int) -> muffin.Application:
    app = _app()

    def make(i: int) -> Any:
        async def item(request: muffin.Request) -> muffin.ResponseText:
            return muffin.ResponseText(f"{i}:{request.path_params['item_id']}")

        return item

    for i in range(n):
        app.route(f"/resource{i}/{{item_id:int}}")(make(i))
    return app


def form() -> muffin.Application:
    app = _app()

    @app.route("/form", methods=["POST"])
    async def submit(request: muffin.Request) -> muffin.ResponseText:
        data = await request.form()
        return muffin.ResponseText(f"{len(data)}:{data['f0']}:{data['f9']}")

    return app


def multipart() -> muffin.Application:
    app = _app()

    @app.route("/upload", methods=["POST"])
    async def upload(request: muffin.Request) -> muffin.ResponseText:
        data = await request.form()
        upload = data["file"]  # the upload's spooled temporary file
        content = upload.read()
        upload.close()
        return muffin.ResponseText(f"{data['title']}:{data['note']}:{len(content)}")

    return app


def cookies() -> muffin.Application:
    app = _app()

    @app.route("/cookies")
    async def prefs(request: muffin.Request) -> muffin.ResponseText:
        sid = request.cookies.get("sid")
        key = request.headers.get("x-api-key")
        response = muffin.ResponseText(f"{sid}:{key}")
        response.cookies["seen"] = "1"
        response.cookies["seen"]["max-age"] = 3600
        response.cookies["seen"]["httponly"] = True
        return response

    return app


def session() -> muffin.Application:
    app = _app()
    Session(app, secret_key=SECRET_KEY, auto_manage=True)

    @app.route("/session")
    async def counter(request: muffin.Request) -> muffin.ResponseText:
        n = request.session.get("n", 0) + 1
        request.session["n"] = n
        return muffin.ResponseText(str(n))

    return app


def middleware() -> muffin.Application:
    app = _app()
    # Registered innermost first: ScopeTagger wraps the app, then PassThroughB, then PassThroughA.
    app.middleware(ScopeTagger)
    app.middleware(PassThroughB)
    app.middleware(PassThroughA)

    @app.middleware
    async def add_header(handler: Any, request: muffin.Request, receive: Any, send: Any) -> Any:
        response = await handler(request, receive, send)
        response.headers["x-bench"] = "1"
        return response

    @app.route("/mw")
    async def hello(request: muffin.Request) -> muffin.ResponseText:
        return muffin.ResponseText(PLAINTEXT)

    return app


def template() -> muffin.Application:
    app = _app()
    jinja2 = muffin_jinja2.Plugin(app, template_folders=[str(TEMPLATE_DIR)])

    @app.route("/template")
    async def page(request: muffin.Request) -> str:
        return await jinja2.render("items.html", title="Items", items=ITEMS)  # a str is sent as HTML

    return app


def notfound() -> muffin.Application:
    return plaintext()


def static() -> muffin.Application:
    return _app(static_folders=[str(STATIC_DIR)], static_url_prefix="/static")


SCENARIOS = scenario_table(globals())
make_routes = routes
