"""The Starlette-API apps, written once and built against a given package: ``starlette`` or ``lyre``.

``build("starlette")`` and ``build("lyre")`` return the same idiomatic Starlette code, the only
difference being where ``Starlette``, ``Route``, ``PlainTextResponse`` ... are imported from. Each
factory imports what it needs when called, so a module lyre has not written yet only breaks the
scenarios that use it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

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
)


def build(pkg: str) -> tuple[dict[str, Callable[[], Any]], Callable[[int], Any]]:
    """Return (scenario -> app factory, route-count app factory) for package ``pkg``."""

    def m(name: str) -> ModuleType:
        return importlib.import_module(f"{pkg}.{name}")

    def app_with(*routes: Any, **kwargs: Any) -> Any:
        return m("applications").Starlette(routes=list(routes), **kwargs)

    def plaintext() -> Any:
        PlainTextResponse = m("responses").PlainTextResponse
        Route = m("routing").Route

        async def hello(request: Any) -> Any:
            return PlainTextResponse(PLAINTEXT)

        return app_with(Route("/plaintext", hello))

    def json_() -> Any:
        JSONResponse = m("responses").JSONResponse
        Route = m("routing").Route

        async def data(request: Any) -> Any:
            return JSONResponse(JSON_PAYLOAD)

        return app_with(Route("/json", data))

    def path() -> Any:
        PlainTextResponse = m("responses").PlainTextResponse
        Route = m("routing").Route

        async def post(request: Any) -> Any:
            user_id = request.path_params["user_id"]
            slug = request.path_params["slug"]
            return PlainTextResponse(f"{user_id}:{slug}")

        return app_with(Route("/users/{user_id:int}/posts/{slug}", post))

    def query() -> Any:
        JSONResponse = m("responses").JSONResponse
        Route = m("routing").Route

        async def search(request: Any) -> Any:
            params = request.query_params
            return JSONResponse(
                {"q": params.get("q"), "tags": params.getlist("tag"), "page": int(params.get("page", "1"))}
            )

        return app_with(Route("/search", search))

    def routes(n: int) -> Any:
        PlainTextResponse = m("responses").PlainTextResponse
        Route = m("routing").Route

        def make(i: int) -> Callable[[Any], Any]:
            async def item(request: Any) -> Any:
                return PlainTextResponse(f"{i}:{request.path_params['item_id']}")

            return item

        return app_with(*[Route(f"/resource{i}/{{item_id:int}}", make(i)) for i in range(n)])

    def form() -> Any:
        PlainTextResponse = m("responses").PlainTextResponse
        Route = m("routing").Route

        async def submit(request: Any) -> Any:
            async with request.form() as data:
                return PlainTextResponse(f"{len(data)}:{data['f0']}:{data['f9']}")

        return app_with(Route("/form", submit, methods=["POST"]))

    def multipart() -> Any:
        PlainTextResponse = m("responses").PlainTextResponse
        Route = m("routing").Route

        async def upload(request: Any) -> Any:
            async with request.form() as data:
                content = await data["file"].read()
                return PlainTextResponse(f"{data['title']}:{data['note']}:{len(content)}")

        return app_with(Route("/upload", upload, methods=["POST"]))

    def cookies() -> Any:
        PlainTextResponse = m("responses").PlainTextResponse
        Route = m("routing").Route

        async def prefs(request: Any) -> Any:
            sid = request.cookies.get("sid")
            key = request.headers.get("x-api-key")
            response = PlainTextResponse(f"{sid}:{key}")
            response.set_cookie("seen", "1", max_age=3600, httponly=True)
            return response

        return app_with(Route("/cookies", prefs))

    def session() -> Any:
        PlainTextResponse = m("responses").PlainTextResponse
        Route = m("routing").Route
        Middleware = m("middleware").Middleware
        SessionMiddleware = m("middleware.sessions").SessionMiddleware

        async def counter(request: Any) -> Any:
            count = request.session.get("n", 0) + 1
            request.session["n"] = count
            return PlainTextResponse(str(count))

        return app_with(
            Route("/session", counter), middleware=[Middleware(SessionMiddleware, secret_key=SECRET_KEY)]
        )

    def middleware() -> Any:
        PlainTextResponse = m("responses").PlainTextResponse
        Route = m("routing").Route
        Middleware = m("middleware").Middleware
        BaseHTTPMiddleware = m("middleware.base").BaseHTTPMiddleware

        class AddHeader(BaseHTTPMiddleware):  # type: ignore[misc, valid-type]
            async def dispatch(self, request: Any, call_next: Any) -> Any:
                response = await call_next(request)
                response.headers["x-bench"] = "1"
                return response

        async def hello(request: Any) -> Any:
            return PlainTextResponse(PLAINTEXT)

        return app_with(
            Route("/mw", hello),
            middleware=[
                Middleware(PassThroughA),
                Middleware(PassThroughB),
                Middleware(ScopeTagger),
                Middleware(AddHeader),
            ],
        )

    def template() -> Any:
        Route = m("routing").Route
        templates = m("templating").Jinja2Templates(directory=str(TEMPLATE_DIR))

        async def page(request: Any) -> Any:
            return templates.TemplateResponse(request, "items.html", {"title": "Items", "items": ITEMS})

        return app_with(Route("/template", page))

    def notfound() -> Any:
        PlainTextResponse = m("responses").PlainTextResponse
        Route = m("routing").Route

        async def hello(request: Any) -> Any:
            return PlainTextResponse(PLAINTEXT)

        return app_with(Route("/plaintext", hello))

    def static() -> Any:
        Mount = m("routing").Mount
        StaticFiles = m("staticfiles").StaticFiles
        return app_with(Mount("/static", app=StaticFiles(directory=str(STATIC_DIR)), name="static"))

    factories: dict[str, Callable[[], Any]] = {
        "plaintext": plaintext,
        "json": json_,
        "path": path,
        "query": query,
        "routes50": lambda: routes(50),
        "form": form,
        "multipart": multipart,
        "cookies": cookies,
        "session": session,
        "middleware": middleware,
        "template": template,
        "notfound": notfound,
        "static": static,
    }
    return factories, routes
