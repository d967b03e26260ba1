"""FastAPI apps, written the way FastAPI's tutorial writes them (typed parameters, default app with docs).

No ``from __future__ import annotations`` here: FastAPI reads the parameter annotations at runtime.
"""

from typing import Annotated, Any

from fastapi import Cookie, FastAPI, Form, Header, Query, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from starlette.middleware.sessions import SessionMiddleware

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


class TenFields(BaseModel):
    f0: str
    f1: str
    f2: str
    f3: str
    f4: str
    f5: str
    f6: str
    f7: str
    f8: str
    f9: str


def plaintext() -> FastAPI:
    app = FastAPI()

    @app.get("/plaintext", response_class=PlainTextResponse)
    async def hello() -> str:
        return PLAINTEXT

    return app


def json_() -> FastAPI:
    app = FastAPI()

    @app.get("/json")
    async def data() -> dict[str, str]:
        return JSON_PAYLOAD

    return app


def path() -> FastAPI:
    app = FastAPI()

    @app.get("/users/{user_id}/posts/{slug}", response_class=PlainTextResponse)
    async def post(user_id: int, slug: str) -> str:
        return f"{user_id}:{slug}"

    return app


def query() -> FastAPI:
    app = FastAPI()

    @app.get("/search")
    async def search(q: str, tag: Annotated[list[str], Query()], page: int = 1) -> dict[str, Any]:
        return {"q": q, "tags": tag, "page": page}

    return app


def routes(n: int) -> FastAPI:
    app = FastAPI()

    def make(i: int) -> Any:
        async def item(item_id: int) -> str:
            return f"{i}:{item_id}"

        return item

    for i in range(n):
        app.add_api_route(
            f"/resource{i}/{{item_id}}", make(i), response_class=PlainTextResponse, name=f"resource{i}"
        )
    return app


def form() -> FastAPI:
    app = FastAPI()

    @app.post("/form", response_class=PlainTextResponse)
    async def submit(data: Annotated[TenFields, Form()]) -> str:
        fields = data.model_dump()
        return f"{len(fields)}:{data.f0}:{data.f9}"

    return app


def multipart() -> FastAPI:
    app = FastAPI()

    @app.post("/upload", response_class=PlainTextResponse)
    async def upload(file: UploadFile, title: Annotated[str, Form()], note: Annotated[str, Form()]) -> str:
        content = await file.read()
        return f"{title}:{note}:{len(content)}"

    return app


def cookies() -> FastAPI:
    app = FastAPI()

    @app.get("/cookies", response_class=PlainTextResponse)
    async def prefs(
        response: Response,
        sid: Annotated[str | None, Cookie()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> str:
        response.set_cookie("seen", "1", max_age=3600, httponly=True)
        return f"{sid}:{x_api_key}"

    return app


def session() -> FastAPI:
    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret_key=SECRET_KEY)

    @app.get("/session", response_class=PlainTextResponse)
    async def counter(request: Request) -> str:
        count = request.session.get("n", 0) + 1
        request.session["n"] = count
        return str(count)

    return app


def middleware() -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def add_header(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["x-bench"] = "1"
        return response

    # add_middleware puts each new one outermost: PassThroughA ends up first.
    app.add_middleware(ScopeTagger)
    app.add_middleware(PassThroughB)
    app.add_middleware(PassThroughA)

    @app.get("/mw", response_class=PlainTextResponse)
    async def hello() -> str:
        return PLAINTEXT

    return app


def template() -> FastAPI:
    app = FastAPI()
    templates = Jinja2Templates(directory=str(TEMPLATE_DIR))

    @app.get("/template", response_class=HTMLResponse)
    async def page(request: Request) -> Any:
        return templates.TemplateResponse(request, "items.html", {"title": "Items", "items": ITEMS})

    return app


def notfound() -> FastAPI:
    return plaintext()


def static() -> FastAPI:
    app = FastAPI()
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    return app


SCENARIOS = scenario_table(globals())
make_routes = routes
