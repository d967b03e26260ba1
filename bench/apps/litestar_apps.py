"""Litestar apps, written the way Litestar's docs write them (decorated handlers, typed parameters).

No ``from __future__ import annotations`` here: Litestar reads handler signatures at start-up.
The "BaseHTTPMiddleware" of the middleware scenario is Litestar's closest idiom, an ``after_request``
hook that edits the response; the three pure ASGI middlewares are passed as middleware factories.
"""

from dataclasses import dataclass, make_dataclass
from typing import Annotated, Any

from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import Cookie, UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

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

TenFields = make_dataclass("TenFields", [(f"f{i}", str) for i in range(10)])


@dataclass
class UploadForm:
    file: UploadFile
    title: str
    note: str


@get("/plaintext", media_type=MediaType.TEXT)
async def hello() -> str:
    return PLAINTEXT


def plaintext() -> Litestar:
    return Litestar(route_handlers=[hello])


def json_() -> Litestar:
    @get("/json")
    async def data() -> dict[str, str]:
        return JSON_PAYLOAD

    return Litestar(route_handlers=[data])


def path() -> Litestar:
    @get("/users/{user_id:int}/posts/{slug:str}", media_type=MediaType.TEXT)
    async def post_(user_id: int, slug: str) -> str:
        return f"{user_id}:{slug}"

    return Litestar(route_handlers=[post_])


def query() -> Litestar:
    @get("/search")
    async def search(q: str, tag: list[str], page: int = 1) -> dict[str, Any]:
        return {"q": q, "tags": tag, "page": page}

    return Litestar(route_handlers=[search])


def routes(n: int) -> Litestar:
    def make(i: int) -> Any:
        async def item(item_id: int) -> str:
            return f"{i}:{item_id}"

        return get(f"/resource{i}/{{item_id:int}}", media_type=MediaType.TEXT, name=f"resource{i}")(item)

    return Litestar(route_handlers=[make(i) for i in range(n)])


def form() -> Litestar:
    @post("/form", media_type=MediaType.TEXT, status_code=200)
    async def submit(data: Annotated[TenFields, Body(media_type=RequestEncodingType.URL_ENCODED)]) -> str:  # type: ignore[valid-type]
        fields = vars(data)
        return f"{len(fields)}:{data.f0}:{data.f9}"  # type: ignore[attr-defined]

    return Litestar(route_handlers=[submit])


def multipart() -> Litestar:
    @post("/upload", media_type=MediaType.TEXT, status_code=200)
    async def upload(data: Annotated[UploadForm, Body(media_type=RequestEncodingType.MULTI_PART)]) -> str:
        content = await data.file.read()
        return f"{data.title}:{data.note}:{len(content)}"

    return Litestar(route_handlers=[upload])


def cookies() -> Litestar:
    @get("/cookies", media_type=MediaType.TEXT)
    async def prefs(
        sid: Annotated[str | None, Parameter(cookie="sid")] = None,
        key: Annotated[str | None, Parameter(header="x-api-key")] = None,
    ) -> Response[str]:
        return Response(
            f"{sid}:{key}",
            media_type=MediaType.TEXT,
            cookies=[Cookie(key="seen", value="1", max_age=3600, httponly=True)],
        )

    return Litestar(route_handlers=[prefs])


def session() -> Litestar:
    from litestar.middleware.session.client_side import CookieBackendConfig  # needs `cryptography`

    config = CookieBackendConfig(secret=SECRET_KEY.encode()[:32])

    @get("/session", media_type=MediaType.TEXT)
    async def counter(request: Request) -> str:
        count = request.session.get("n", 0) + 1
        request.set_session({"n": count})
        return str(count)

    return Litestar(route_handlers=[counter], middleware=[config.middleware])


def middleware() -> Litestar:
    async def add_header(response: Response) -> Response:
        response.headers["x-bench"] = "1"
        return response

    @get("/mw", media_type=MediaType.TEXT)
    async def hello_mw() -> str:
        return PLAINTEXT

    return Litestar(
        route_handlers=[hello_mw],
        middleware=[PassThroughA, PassThroughB, ScopeTagger],
        after_request=add_header,
    )


def template() -> Litestar:
    @get("/template")
    async def page() -> Template:
        return Template(template_name="items.html", context={"title": "Items", "items": ITEMS})

    return Litestar(
        route_handlers=[page],
        template_config=TemplateConfig(directory=TEMPLATE_DIR, engine=JinjaTemplateEngine),
    )


def notfound() -> Litestar:
    return plaintext()


def static() -> Litestar:
    return Litestar(route_handlers=[create_static_files_router(path="/static", directories=[STATIC_DIR])])


SCENARIOS = scenario_table(globals())
make_routes = routes
