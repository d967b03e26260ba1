"""Baize apps, written the way Baize's docs write them: ``@request_response`` views in a ``Router``.

Baize is a toolkit rather than a full framework: it has no session support and no template support.
The session cell is skipped (``SKIPPED``; a hand-written signed-cookie middleware would time this
module's code, not Baize). The template cell renders Jinja2 in the view and answers with Baize's
``HTMLResponse``, which is what a Baize user does. Its closest equivalent of a BaseHTTPMiddleware is
the ``@middleware`` decorator (a ``NextRequest``/``NextResponse`` handler around an ASGI app); the
three pure ASGI middlewares wrap the router from outside. Static files are Baize's ``Files`` app
mounted with ``Subpaths``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import jinja2
from baize.asgi import (
    Files,
    HTMLResponse,
    JSONResponse,
    NextRequest,
    NextResponse,
    PlainTextResponse,
    Request,
    Response,
    Router,
    Subpaths,
    request_response,
)
from baize.asgi import (
    middleware as baize_middleware,
)

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

SKIPPED = {"session": "Baize has no session support (no session middleware or signed-cookie helper)"}


@request_response
async def hello(request: Request) -> Response:
    return PlainTextResponse(PLAINTEXT)


def plaintext() -> Router:
    return Router(("/plaintext", hello))


def json_() -> Router:
    @request_response
    async def data(request: Request) -> Response:
        return JSONResponse(JSON_PAYLOAD)

    return Router(("/json", data))


def path() -> Router:
    @request_response
    async def post(request: Request) -> Response:
        params = request.path_params
        return PlainTextResponse(f"{params['user_id']}:{params['slug']}")

    return Router(("/users/{user_id:int}/posts/{slug}", post))


def query() -> Router:
    @request_response
    async def search(request: Request) -> Response:
        q = request.query_params
        return JSONResponse({"q": q.get("q"), "tags": q.getlist("tag"), "page": int(q.get("page", "1"))})

    return Router(("/search", search))


def routes(n: int) -> Router:
    def make(i: int) -> Any:
        @request_response
        async def item(request: Request) -> Response:
            return PlainTextResponse(f"{i}:{request.path_params['item_id']}")

        return item

    return Router(*((f"/resource{i}/{{item_id:int}}", make(i)) for i in range(n)))


def form() -> Router:
    @request_response
    async def submit(request: Request) -> Response:
        data = await request.form
        return PlainTextResponse(f"{len(data)}:{data['f0']}:{data['f9']}")

    return Router(("/form", submit))


def multipart() -> Router:
    @request_response
    async def upload(request: Request) -> Response:
        data = await request.form
        upload = data["file"]
        content = await upload.aread()  # type: ignore[union-attr]
        await request.close()  # closes the form's temporary files
        return PlainTextResponse(f"{data['title']}:{data['note']}:{len(content)}")

    return Router(("/upload", upload))


def cookies() -> Router:
    @request_response
    async def prefs(request: Request) -> Response:
        sid = request.cookies.get("sid")
        key = request.headers.get("x-api-key")
        response = PlainTextResponse(f"{sid}:{key}")
        response.set_cookie("seen", "1", max_age=3600, httponly=True)
        return response

    return Router(("/cookies", prefs))


def middleware() -> Any:
    @baize_middleware
    async def add_header(
        request: NextRequest, next_call: Callable[[NextRequest], Awaitable[NextResponse]]
    ) -> Response:
        response = await next_call(request)
        response.headers["x-bench"] = "1"
        return response

    return PassThroughA(PassThroughB(ScopeTagger(Router(("/mw", add_header(hello))))))


def template() -> Router:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), autoescape=True)

    @request_response
    async def page(request: Request) -> Response:
        return HTMLResponse(env.get_template("items.html").render(title="Items", items=ITEMS))

    return Router(("/template", page))


def notfound() -> Router:
    return plaintext()


def static() -> Subpaths:
    return Subpaths(("/static", Files(STATIC_DIR)))


SCENARIOS = scenario_table(globals())
make_routes = routes
