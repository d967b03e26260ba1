"""BlackSheep apps, written the way BlackSheep's docs write them (router decorators, typed bindings).

No ``from __future__ import annotations`` here: BlackSheep binds parameters from their annotations.
BlackSheep middlewares are ``async def (request, handler)`` functions — its closest equivalent of a
BaseHTTPMiddleware; the three pure ASGI middlewares wrap the ``Application`` object from outside.
"""

from typing import Any

import jinja2
from blacksheep import Application, Request, Response, Router, json, text
from blacksheep.cookies import Cookie
from blacksheep.server.responses import html

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


def _app() -> Application:
    return Application(router=Router(), show_error_details=False)


def plaintext() -> Application:
    app = _app()

    @app.router.get("/plaintext")
    async def hello() -> Response:
        return text(PLAINTEXT)

    return app


def json_() -> Application:
    app = _app()

    @app.router.get("/json")
    async def data() -> Response:
        return json(JSON_PAYLOAD)

    return app


def path() -> Application:
    app = _app()

    @app.router.get("/users/{int:user_id}/posts/{slug}")
    async def post(user_id: int, slug: str) -> Response:
        return text(f"{user_id}:{slug}")

    return app


def query() -> Application:
    app = _app()

    @app.router.get("/search")
    async def search(q: str, tag: list[str], page: int = 1) -> Response:
        return json({"q": q, "tags": tag, "page": page})

    return app


def routes(n: int) -> Application:
    app = _app()

    def make(i: int) -> Any:
        async def item(item_id: int) -> Response:
            return text(f"{i}:{item_id}")

        return item

    for i in range(n):
        app.router.add_get(f"/resource{i}/{{int:item_id}}", make(i))
    return app


def form() -> Application:
    app = _app()

    @app.router.post("/form")
    async def submit(request: Request) -> Response:
        data = await request.form()
        return text(f"{len(data)}:{data['f0']}:{data['f9']}")

    return app


def multipart() -> Application:
    app = _app()

    @app.router.post("/upload")
    async def upload(request: Request) -> Response:
        data = await request.form()
        files = await request.files("file")
        content = files[0].data
        return text(f"{data['title']}:{data['note']}:{len(content)}")

    return app


def cookies() -> Application:
    app = _app()

    @app.router.get("/cookies")
    async def prefs(request: Request) -> Response:
        sid = request.cookies.get("sid")
        key = request.get_first_header(b"x-api-key")
        response = text(f"{sid}:{key.decode() if key else None}")
        response.set_cookie(Cookie("seen", "1", max_age=3600, http_only=True))
        return response

    return app


def session() -> Application:
    app = _app()
    app.use_sessions(SECRET_KEY)

    @app.router.get("/session")
    async def counter(request: Request) -> Response:
        count = request.session.get("n", 0) + 1
        request.session["n"] = count
        return text(str(count))

    return app


def middleware() -> Any:
    app = _app()

    async def add_header(request: Request, handler: Any) -> Response:
        response = await handler(request)
        response.add_header(b"x-bench", b"1")
        return response

    app.middlewares.append(add_header)

    @app.router.get("/mw")
    async def hello() -> Response:
        return text(PLAINTEXT)

    return PassThroughA(PassThroughB(ScopeTagger(app)))


def template() -> Application:
    app = _app()
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), autoescape=True)

    @app.router.get("/template")
    async def page() -> Response:
        return html(env.get_template("items.html").render(title="Items", items=ITEMS))

    return app


def notfound() -> Application:
    return plaintext()


def static() -> Application:
    app = _app()
    app.serve_files(str(STATIC_DIR), root_path="static")
    return app


SCENARIOS = scenario_table(globals())
make_routes = routes
