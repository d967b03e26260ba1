"""Falcon (ASGI) apps, written the way Falcon's docs write them (resource classes, ``on_get``).

Falcon has no session or template support of its own; the closest idioms are used: a small
middleware class keeping a signed cookie (itsdangerous, as Starlette does) and Jinja2 called from
the resource. Falcon middleware (``process_response``) is its equivalent of a BaseHTTPMiddleware;
the three pure ASGI middlewares wrap the ``App`` from outside.
"""

from __future__ import annotations

from typing import Any

import falcon
import falcon.asgi
import jinja2
from itsdangerous import BadSignature, URLSafeTimedSerializer

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


class Hello:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = PLAINTEXT


def _app(**kwargs: Any) -> falcon.asgi.App:
    return falcon.asgi.App(**kwargs)


def plaintext() -> falcon.asgi.App:
    app = _app()
    app.add_route("/plaintext", Hello())
    return app


def json_() -> falcon.asgi.App:
    class Data:
        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            resp.media = JSON_PAYLOAD

    app = _app()
    app.add_route("/json", Data())
    return app


def path() -> falcon.asgi.App:
    class Post:
        async def on_get(
            self, req: falcon.asgi.Request, resp: falcon.asgi.Response, user_id: int, slug: str
        ) -> None:
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = f"{user_id}:{slug}"

    app = _app()
    app.add_route("/users/{user_id:int}/posts/{slug}", Post())
    return app


def query() -> falcon.asgi.App:
    class Search:
        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            resp.media = {
                "q": req.get_param("q"),
                "tags": req.get_param_as_list("tag") or [],
                "page": req.get_param_as_int("page", default=1),
            }

    app = _app()
    app.add_route("/search", Search())
    return app


def routes(n: int) -> falcon.asgi.App:
    class Item:
        def __init__(self, i: int) -> None:
            self.i = i

        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, item_id: int) -> None:
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = f"{self.i}:{item_id}"

    app = _app()
    for i in range(n):
        app.add_route(f"/resource{i}/{{item_id:int}}", Item(i))
    return app


def form() -> falcon.asgi.App:
    class Submit:
        async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            data = await req.get_media()
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = f"{len(data)}:{data['f0']}:{data['f9']}"

    app = _app()
    app.add_route("/form", Submit())
    return app


def multipart() -> falcon.asgi.App:
    class Upload:
        async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            form = await req.get_media()
            fields: dict[str, str] = {}
            size = 0
            async for part in form:
                if part.filename:
                    size = len(await part.stream.read())
                else:
                    fields[part.name] = await part.get_text()
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = f"{fields['title']}:{fields['note']}:{size}"

    app = _app()
    app.add_route("/upload", Upload())
    return app


def cookies() -> falcon.asgi.App:
    class Prefs:
        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            sid = req.cookies.get("sid")
            key = req.get_header("X-API-Key")
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = f"{sid}:{key}"
            resp.set_cookie("seen", "1", max_age=3600, http_only=True, secure=False)

    app = _app()
    app.add_route("/cookies", Prefs())
    return app


class SignedCookieSession:
    """Falcon middleware: a dict in ``req.context.session`` kept in a signed cookie."""

    def __init__(self, secret: str, cookie: str = "session", max_age: int = 14 * 24 * 3600) -> None:
        self.serializer = URLSafeTimedSerializer(secret, salt="falcon-session")
        self.cookie = cookie
        self.max_age = max_age

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        session: dict[str, Any] = {}
        raw = req.cookies.get(self.cookie)
        if raw:
            try:
                session = self.serializer.loads(raw, max_age=self.max_age)
            except BadSignature:
                session = {}
        req.context.session = session

    async def process_response(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, resource: Any, req_succeeded: bool
    ) -> None:
        session = getattr(req.context, "session", None)
        if session:
            resp.set_cookie(
                self.cookie,
                self.serializer.dumps(session),
                max_age=self.max_age,
                http_only=True,
                secure=False,
                same_site="Lax",
            )


def session() -> falcon.asgi.App:
    class Counter:
        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            count = req.context.session.get("n", 0) + 1
            req.context.session["n"] = count
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = str(count)

    app = _app(middleware=[SignedCookieSession(SECRET_KEY)])
    app.add_route("/session", Counter())
    return app


class AddHeader:
    async def process_response(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, resource: Any, req_succeeded: bool
    ) -> None:
        resp.set_header("X-Bench", "1")


def middleware() -> Any:
    app = _app(middleware=[AddHeader()])
    app.add_route("/mw", Hello())
    return PassThroughA(PassThroughB(ScopeTagger(app)))


def template() -> falcon.asgi.App:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), autoescape=True)

    class Page:
        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            resp.content_type = falcon.MEDIA_HTML
            resp.text = env.get_template("items.html").render(title="Items", items=ITEMS)

    app = _app()
    app.add_route("/template", Page())
    return app


def notfound() -> falcon.asgi.App:
    return plaintext()


def static() -> falcon.asgi.App:
    app = _app()
    app.add_static_route("/static", str(STATIC_DIR))
    return app


SCENARIOS = scenario_table(globals())
make_routes = routes
