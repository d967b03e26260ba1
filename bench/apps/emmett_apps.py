"""Emmett 2.8 apps, written the way Emmett's docs write them (``@app.route`` functions reading the
``request``/``response``/``session`` context objects), served through the ``App`` object's ASGI
interface (uvicorn calls it like any ASGI app; Emmett's own ``emmett serve`` uses Granian and RSGI).

Emmett's own pieces serve the scenarios: ``@service.json`` for JSON, its cookie ``SessionManager``
pipe (Emmett encrypts the session cookie rather than only signing it) and its own template engine,
Renoir, not Jinja2: the template scenario renders ``bench/emmett/templates/items.html``, the same
table as the Jinja2 template written in Renoir's syntax, through ``@app.route(template=...)``.
Emmett has no BaseHTTPMiddleware; its closest equivalent is a pipeline ``Pipe`` whose
``pipe_request`` runs around the route and edits the response; the three pure ASGI middlewares wrap
the ``App`` from outside. The static cell is skipped (``SKIPPED`` says why). The apps' root path is
``bench/emmett``; Emmett creates empty ``languages``, ``logs`` and ``static`` folders there when
they are missing (git ignores empty folders). Emmett's ASGI callable has no lifespan handler (a
lifespan scope raises), which servers in ``lifespan="auto"`` mode (uvicorn's default, and the
harness) treat as "no lifespan support".
"""

from __future__ import annotations

from itertools import count
from typing import Any

from emmett import App, request, response
from emmett import session as emmett_session
from emmett.pipeline import Pipe
from emmett.sessions import SessionManager
from emmett.tools import service

from bench.apps.common import (
    BENCH_DIR,
    ITEMS,
    JSON_PAYLOAD,
    PLAINTEXT,
    SECRET_KEY,
    PassThroughA,
    PassThroughB,
    ScopeTagger,
    scenario_table,
)

SKIPPED = {
    "static": (
        "Emmett's ASGI interface serves no static files: emmett-core 1.4.6's ASGI HTTP handler only "
        "reaches its static-file handler when the app has a URL prefix (its RSGI handler, the one "
        "Emmett's own Granian server uses, always does)"
    )
}

_names = count()


def _app() -> App:
    # Each App gets its own import name: Emmett names the app (and its logger) after it.
    return App(f"bench_emmett_{next(_names)}", root_path=str(BENCH_DIR / "emmett"))


def plaintext() -> App:
    app = _app()

    @app.route("/plaintext", output="str")
    async def hello() -> str:
        response.content_type = "text/plain; charset=utf-8"
        return PLAINTEXT

    return app


def json_() -> App:
    app = _app()

    @app.route("/json")
    @service.json
    async def data() -> dict[str, Any]:
        return JSON_PAYLOAD

    return app


def path() -> App:
    app = _app()

    @app.route("/users/<int:user_id>/posts/<str:slug>", output="str")
    async def post(user_id: int, slug: str) -> str:
        response.content_type = "text/plain; charset=utf-8"
        return f"{user_id}:{slug}"

    return app


def query() -> App:
    app = _app()

    @app.route("/search")
    @service.json
    async def search() -> dict[str, Any]:
        q = request.query_params
        tags = q.tag
        return {"q": q.q, "tags": tags if isinstance(tags, list) else [tags], "page": int(q.page or 1)}

    return app


def routes(n: int) -> App:
    app = _app()

    def make(i: int) -> Any:
        async def item(item_id: int) -> str:
            response.content_type = "text/plain; charset=utf-8"
            return f"{i}:{item_id}"

        item.__name__ = f"item{i}"  # Emmett names a route after its function
        return item

    for i in range(n):
        app.route(f"/resource{i}/<int:item_id>", output="str")(make(i))
    return app


def form() -> App:
    app = _app()

    @app.route("/form", methods=["post"], output="str")
    async def submit() -> str:
        data = await request.body_params
        response.content_type = "text/plain; charset=utf-8"
        return f"{len(data)}:{data.f0}:{data.f9}"

    return app


def multipart() -> App:
    app = _app()

    @app.route("/upload", methods=["post"], output="str")
    async def upload() -> str:
        data = await request.body_params
        files = await request.files
        content = files.file.read()
        response.content_type = "text/plain; charset=utf-8"
        return f"{data.title}:{data.note}:{len(content)}"

    return app


def cookies() -> App:
    app = _app()

    @app.route("/cookies", output="str")
    async def prefs() -> str:
        sid = request.cookies["sid"].value if "sid" in request.cookies else None
        key = request.headers.get("x-api-key")
        response.cookies["seen"] = "1"
        response.cookies["seen"]["max-age"] = 3600
        response.cookies["seen"]["httponly"] = True
        response.content_type = "text/plain; charset=utf-8"
        return f"{sid}:{key}"

    return app


def session() -> App:
    app = _app()
    app.pipeline = [SessionManager.cookies(SECRET_KEY)]

    @app.route("/session", output="str")
    async def counter() -> str:
        emmett_session.n = (emmett_session.n or 0) + 1
        response.content_type = "text/plain; charset=utf-8"
        return str(emmett_session.n)

    return app


class AddHeader(Pipe):
    """Runs around the route and adds ``x-bench: 1`` to the response."""

    async def pipe_request(self, next_pipe: Any, **kwargs: Any) -> Any:
        output = await next_pipe(**kwargs)
        response.headers["x-bench"] = "1"
        return output


def middleware() -> Any:
    app = _app()
    app.pipeline = [AddHeader()]

    @app.route("/mw", output="str")
    async def hello() -> str:
        response.content_type = "text/plain; charset=utf-8"
        return PLAINTEXT

    return PassThroughA(PassThroughB(ScopeTagger(app)))


def template() -> App:
    app = _app()

    @app.route("/template", template="items.html")
    async def page() -> dict[str, Any]:
        return {"title": "Items", "items": ITEMS}

    return app


def notfound() -> App:
    return plaintext()


SCENARIOS = scenario_table(globals())
make_routes = routes
