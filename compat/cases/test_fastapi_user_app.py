"""A FastAPI application of our own, run on lyre through the ``starlette`` alias.

Run by ``tests/test_fastapi_app.py`` in a child pytest with ``-p lyre_compat_plugin`` (so the alias
is on before FastAPI is imported and nothing leaks into lyre's own test process). Each test asserts
what a FastAPI user relies on: status codes, bodies, headers, validation errors, OpenAPI output.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import (
    APIRouter,
    BackgroundTasks,
    Cookie,
    Depends,
    FastAPI,
    File,
    Form,
    Header,
    HTTPException,
    Query,
    Request,
    Response,
    UploadFile,
    WebSocket,
    WebSocketDisconnect,
    status,
)
from fastapi import (
    Path as PathParam,
)
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

import lyre
import lyre.applications
import lyre.routing


def test_fastapi_runs_on_lyre_modules() -> None:
    import starlette
    import starlette.routing

    assert starlette.__version__ == "1.10.0"  # the API version; lyre.__version__ is lyre's own
    assert starlette.routing is lyre.routing
    assert issubclass(FastAPI, lyre.applications.Starlette)
    assert issubclass(APIRouter, lyre.routing.Router)
    real = [
        n
        for n, m in sys.modules.items()
        if n.split(".")[0] == "starlette" and not m.__name__.startswith("lyre")
    ]
    assert real == []


# --- the application ---------------------------------------------------------------------------

EVENTS: list[str] = []


class Item(BaseModel):
    name: str = Field(min_length=1)
    price: float = Field(gt=0)
    tags: list[str] = []


class ItemOut(BaseModel):
    id: int
    name: str
    price: float


class TeapotError(Exception):
    def __init__(self, who: str) -> None:
        self.who = who


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    EVENTS.append("startup")
    yield {"greeting": "hello from lifespan"}
    EVENTS.append("shutdown")


def get_db() -> Iterator[dict[str, Any]]:
    db = {"open": True}
    EVENTS.append("db open")
    try:
        yield db
    finally:
        db["open"] = False
        EVENTS.append("db close")


def pagination(skip: int = 0, limit: Annotated[int, Query(ge=1, le=100)] = 10) -> dict[str, int]:
    return {"skip": skip, "limit": limit}


def require_token(x_token: Annotated[str, Header()]) -> str:
    if x_token != "secret":
        raise HTTPException(status_code=403, detail="bad token")
    return x_token


app = FastAPI(title="Lyre compat app", version="1.2.3", lifespan=lifespan)
app.add_middleware(CORSMiddleware, allow_origins=["https://example.org"], allow_methods=["*"])


@app.middleware("http")
async def add_timing_header(request: Request, call_next: Any) -> Response:
    response: Response = await call_next(request)
    response.headers["X-Handled-By"] = "middleware"
    return response


@app.exception_handler(TeapotError)
async def teapot_handler(request: Request, exc: TeapotError) -> JSONResponse:
    return JSONResponse(status_code=418, content={"message": f"{exc.who} is a teapot"})


@app.get("/")
async def root(request: Request) -> dict[str, Any]:
    return {"greeting": request.state.greeting, "url": str(request.url_for("read_item", item_id=7))}


@app.get("/items/{item_id}", response_model=ItemOut)
def read_item(
    item_id: Annotated[int, PathParam(ge=1)],
    q: str | None = None,
    db: dict[str, Any] = Depends(get_db),
) -> Any:
    assert db["open"]
    return {"id": item_id, "name": q or "thing", "price": 2.5, "secret": "never shown"}


@app.post("/items", status_code=status.HTTP_201_CREATED)
async def create_item(item: Item, page: Annotated[dict[str, int], Depends(pagination)]) -> dict[str, Any]:
    return {"item": item.model_dump(), "page": page}


@app.get("/paged")
def paged(page: Annotated[dict[str, int], Depends(pagination)]) -> dict[str, int]:
    return page


@app.get("/protected", dependencies=[Depends(require_token)])
def protected() -> dict[str, bool]:
    return {"ok": True}


@app.get("/missing/{name}")
def missing(name: str) -> None:
    raise HTTPException(status_code=404, detail=f"{name} not found", headers={"X-Error": "missing"})


@app.get("/teapot")
def teapot() -> None:
    raise TeapotError("lyre")


@app.post("/upload")
async def upload(
    file: Annotated[UploadFile, File()],
    note: Annotated[str, Form()],
    count: Annotated[int, Form()] = 1,
) -> dict[str, Any]:
    content = await file.read()
    return {
        "filename": file.filename,
        "content_type": file.content_type,
        "size": file.size,
        "content": content.decode(),
        "note": note,
        "count": count,
    }


@app.post("/login")
def login(username: Annotated[str, Form()], password: Annotated[str, Form()]) -> dict[str, str]:
    return {"user": username, "password_length": str(len(password))}


def write_event(message: str) -> None:
    EVENTS.append(message)


@app.post("/notify/{email}", status_code=202)
def notify(email: str, background_tasks: BackgroundTasks) -> dict[str, str]:
    background_tasks.add_task(write_event, f"notified {email}")
    return {"message": "queued"}


@app.get("/cookies")
def cookies(response: Response, session: Annotated[str | None, Cookie()] = None) -> dict[str, str | None]:
    response.set_cookie("seen", "yes", httponly=True)
    return {"session": session}


@app.get("/redirect")
def redirect() -> RedirectResponse:
    return RedirectResponse("/items/1?q=redirected")


@app.get("/text", response_class=PlainTextResponse)
def text() -> str:
    return "plain words"


@app.get("/stream")
def stream() -> StreamingResponse:
    def numbers() -> Iterator[bytes]:
        for i in range(3):
            yield f"{i}\n".encode()

    return StreamingResponse(numbers(), media_type="text/plain")


@app.websocket("/ws/{room}")
async def ws_echo(websocket: WebSocket, room: str, token: str | None = None) -> None:
    await websocket.accept()
    await websocket.send_json({"room": room, "token": token})
    try:
        while True:
            data = await websocket.receive_text()
            await websocket.send_text(f"echo: {data}")
    except WebSocketDisconnect:
        EVENTS.append(f"ws closed {room}")


router = APIRouter(prefix="/users", tags=["users"])


@router.get("/{user_id}")
def get_user(user_id: int) -> dict[str, int]:
    return {"user_id": user_id}


app.include_router(router)

sub = FastAPI()


@sub.get("/hello")
def sub_hello() -> dict[str, str]:
    return {"sub": "hello"}


app.mount("/sub", sub)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def static_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("static")
    (directory / "hello.txt").write_text("static hello")
    (directory / "index.html").write_text("<h1>index</h1>")
    return directory


@pytest.fixture(scope="module")
def client(static_dir: Path) -> Iterator[TestClient]:
    if not any(getattr(r, "path", None) == "/static" for r in app.routes):
        app.mount("/static", StaticFiles(directory=static_dir, html=True), name="static")
    with TestClient(app) as test_client:
        yield test_client


# --- tests -------------------------------------------------------------------------------------


def test_lifespan_state_and_url_for(client: TestClient) -> None:
    assert "startup" in EVENTS
    response = client.get("/")
    assert response.status_code == 200
    assert response.json() == {"greeting": "hello from lifespan", "url": "http://testserver/items/7"}


def test_lifespan_shutdown_runs() -> None:
    EVENTS.clear()
    with TestClient(app):
        assert EVENTS == ["startup"]
    assert EVENTS == ["startup", "shutdown"]


def test_path_query_and_response_model_filtering(client: TestClient) -> None:
    response = client.get("/items/5", params={"q": "lamp"})
    assert response.status_code == 200
    assert response.json() == {"id": 5, "name": "lamp", "price": 2.5}
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-handled-by"] == "middleware"


def test_path_param_validation_errors(client: TestClient) -> None:
    response = client.get("/items/abc")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["path", "item_id"]
    assert detail[0]["type"] == "int_parsing"
    response = client.get("/items/0")
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "greater_than_equal"


def test_yield_dependency_closes_after_request(client: TestClient) -> None:
    EVENTS.clear()
    assert client.get("/items/2").status_code == 200
    assert EVENTS == ["db open", "db close"]


def test_body_model_and_dependency(client: TestClient) -> None:
    response = client.post("/items?skip=5&limit=20", json={"name": "pen", "price": 1.5, "tags": ["office"]})
    assert response.status_code == 201
    assert response.json() == {
        "item": {"name": "pen", "price": 1.5, "tags": ["office"]},
        "page": {"skip": 5, "limit": 20},
    }


def test_body_validation_error(client: TestClient) -> None:
    response = client.post("/items", json={"name": "", "price": -1})
    assert response.status_code == 422
    errors = {tuple(e["loc"]): e["type"] for e in response.json()["detail"]}
    assert errors == {("body", "name"): "string_too_short", ("body", "price"): "greater_than"}


def test_invalid_json_body(client: TestClient) -> None:
    response = client.post("/items", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_query_dependency_validation(client: TestClient) -> None:
    assert client.get("/paged").json() == {"skip": 0, "limit": 10}
    response = client.get("/paged", params={"limit": 500})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


def test_header_dependency(client: TestClient) -> None:
    assert client.get("/protected", headers={"X-Token": "secret"}).json() == {"ok": True}
    response = client.get("/protected", headers={"X-Token": "nope"})
    assert response.status_code == 403
    assert response.json() == {"detail": "bad token"}
    assert client.get("/protected").status_code == 422


def test_http_exception_with_headers(client: TestClient) -> None:
    response = client.get("/missing/widget")
    assert response.status_code == 404
    assert response.json() == {"detail": "widget not found"}
    assert response.headers["x-error"] == "missing"


def test_unknown_route_and_method(client: TestClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
    response = client.delete("/items/1")
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}


def test_custom_exception_handler(client: TestClient) -> None:
    response = client.get("/teapot")
    assert response.status_code == 418
    assert response.json() == {"message": "lyre is a teapot"}


def test_upload_file_and_form_fields(client: TestClient) -> None:
    response = client.post(
        "/upload",
        files={"file": ("notes.txt", io.BytesIO(b"file body"), "text/plain")},
        data={"note": "hi", "count": "3"},
    )
    assert response.status_code == 200
    assert response.json() == {
        "filename": "notes.txt",
        "content_type": "text/plain",
        "size": 9,
        "content": "file body",
        "note": "hi",
        "count": 3,
    }


def test_upload_missing_file_is_422(client: TestClient) -> None:
    response = client.post("/upload", data={"note": "hi"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "file"]


def test_urlencoded_form(client: TestClient) -> None:
    response = client.post("/login", data={"username": "ada", "password": "hunter2"})
    assert response.json() == {"user": "ada", "password_length": "7"}


def test_background_task_runs_after_response(client: TestClient) -> None:
    EVENTS.clear()
    response = client.post("/notify/a@b.c")
    assert response.status_code == 202
    assert response.json() == {"message": "queued"}
    assert EVENTS == ["notified a@b.c"]


def test_cookies_in_and_out(client: TestClient) -> None:
    client.cookies.set("session", "abc")
    response = client.get("/cookies")
    client.cookies.clear()
    assert response.json() == {"session": "abc"}
    assert "seen=yes" in response.headers["set-cookie"]
    assert "HttpOnly" in response.headers["set-cookie"]


def test_redirect_text_and_stream(client: TestClient) -> None:
    response = client.get("/redirect", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/items/1?q=redirected"
    assert client.get("/redirect").json()["name"] == "redirected"
    response = client.get("/text")
    assert response.text == "plain words"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert client.get("/stream").text == "0\n1\n2\n"


def test_cors_middleware(client: TestClient) -> None:
    response = client.options(
        "/items/1",
        headers={"Origin": "https://example.org", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://example.org"
    response = client.get("/items/1", headers={"Origin": "https://example.org"})
    assert response.headers["access-control-allow-origin"] == "https://example.org"


def test_websocket(client: TestClient) -> None:
    EVENTS.clear()
    with client.websocket_connect("/ws/lobby?token=t1") as websocket:
        assert websocket.receive_json() == {"room": "lobby", "token": "t1"}
        websocket.send_text("ping")
        assert websocket.receive_text() == "echo: ping"
    assert EVENTS == ["ws closed lobby"]


def test_router_prefix(client: TestClient) -> None:
    assert client.get("/users/3").json() == {"user_id": 3}


def test_static_files_mount(client: TestClient) -> None:
    response = client.get("/static/hello.txt")
    assert response.status_code == 200
    assert response.text == "static hello"
    assert response.headers["content-type"].startswith("text/plain")
    assert client.get("/static/").text == "<h1>index</h1>"
    assert client.get("/static/nope.txt").status_code == 404


def test_sub_application(client: TestClient) -> None:
    assert client.get("/sub/hello").json() == {"sub": "hello"}
    schema = client.get("/sub/openapi.json").json()
    assert list(schema["paths"]) == ["/hello"]
    assert schema["servers"] == [{"url": "/sub"}]


def test_openapi_schema(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"] == {"title": "Lyre compat app", "version": "1.2.3"}
    assert "/items/{item_id}" in schema["paths"]
    assert "/users/{user_id}" in schema["paths"]
    assert schema["paths"]["/users/{user_id}"]["get"]["tags"] == ["users"]
    assert set(schema["components"]["schemas"]) >= {"Item", "ItemOut", "HTTPValidationError"}
    post = schema["paths"]["/items"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Item"
    }
    assert "201" in post["responses"]


def test_docs_pages(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "swagger-ui" in response.text
    assert "/openapi.json" in response.text
    response = client.get("/redoc")
    assert response.status_code == 200
    assert "redoc" in response.text
    assert client.get("/docs/oauth2-redirect").status_code == 200


def test_dependency_override(client: TestClient) -> None:
    app.dependency_overrides[require_token] = lambda: "overridden"
    try:
        assert client.get("/protected").json() == {"ok": True}
    finally:
        app.dependency_overrides.clear()
    assert client.get("/protected").status_code == 422


def test_unhandled_error_is_500() -> None:
    boom = FastAPI()

    @boom.get("/boom")
    def explode() -> None:
        raise RuntimeError("kaboom")

    with TestClient(boom, raise_server_exceptions=False) as test_client:
        response = test_client.get("/boom")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    with TestClient(boom) as test_client, pytest.raises(RuntimeError, match="kaboom"):
        test_client.get("/boom")


# --- more of what FastAPI users reach for ------------------------------------------------------


def build_extras_app(template_dir: Path) -> FastAPI:
    from fastapi.middleware.gzip import GZipMiddleware
    from fastapi.middleware.trustedhost import TrustedHostMiddleware
    from fastapi.security import OAuth2PasswordBearer
    from fastapi.templating import Jinja2Templates
    from starlette.middleware.sessions import SessionMiddleware

    extras = FastAPI()
    extras.add_middleware(GZipMiddleware, minimum_size=100)
    extras.add_middleware(SessionMiddleware, secret_key="not-a-secret")
    extras.add_middleware(TrustedHostMiddleware, allowed_hosts=["testserver", "*.example.org"])
    templates = Jinja2Templates(directory=template_dir)
    oauth2 = OAuth2PasswordBearer(tokenUrl="token")

    @extras.get("/page/{name}")
    def page(request: Request, name: str) -> Response:
        return templates.TemplateResponse(request, "page.html", {"name": name})

    @extras.get("/big")
    def big() -> PlainTextResponse:
        return PlainTextResponse("x" * 1000)

    @extras.post("/session/{value}")
    def set_session(request: Request, value: str) -> dict[str, str]:
        request.session["value"] = value
        return {"stored": value}

    @extras.get("/session")
    def get_session(request: Request) -> dict[str, Any]:
        return {"value": request.session.get("value")}

    @extras.get("/me")
    def me(token: str = Depends(oauth2)) -> dict[str, str]:
        return {"token": token}

    async def guarded() -> AsyncIterator[None]:
        try:
            yield
        except HTTPException as exc:
            EVENTS.append(f"dependency saw {exc.status_code}")
            raise
        finally:
            EVENTS.append("guarded cleanup")

    @extras.get("/guarded/{ok}", dependencies=[Depends(guarded)])
    async def guarded_endpoint(ok: bool) -> dict[str, bool]:
        if not ok:
            raise HTTPException(status_code=409, detail="conflict")
        return {"ok": ok}

    return extras


@pytest.fixture(scope="module")
def extras_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    template_dir = tmp_path_factory.mktemp("templates")
    (template_dir / "page.html").write_text("<p>Hello {{ name }} at {{ request.url.path }}</p>")
    with TestClient(build_extras_app(template_dir)) as test_client:
        yield test_client


def test_templates(extras_client: TestClient) -> None:
    response = extras_client.get("/page/<ada>")
    assert response.status_code == 200
    assert response.text == "<p>Hello &lt;ada&gt; at /page/&lt;ada&gt;</p>"
    assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_gzip_middleware(extras_client: TestClient) -> None:
    response = extras_client.get("/big", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.text == "x" * 1000
    assert "accept-encoding" in response.headers["vary"].lower()


def test_session_middleware(extras_client: TestClient) -> None:
    response = extras_client.post("/session/blue")
    assert response.json() == {"stored": "blue"}
    assert response.headers["set-cookie"].startswith("session=")
    assert "httponly" in response.headers["set-cookie"].lower()
    assert extras_client.get("/session").json() == {"value": "blue"}
    extras_client.cookies.clear()
    assert extras_client.get("/session").json() == {"value": None}


def test_trusted_host(extras_client: TestClient) -> None:
    assert extras_client.get("/big", headers={"Host": "api.example.org"}).status_code == 200
    response = extras_client.get("/big", headers={"Host": "evil.com"})
    assert response.status_code == 400
    assert response.text == "Invalid host header"


def test_oauth2_bearer(extras_client: TestClient) -> None:
    response = extras_client.get("/me")
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    assert response.headers["www-authenticate"] == "Bearer"
    assert extras_client.get("/me", headers={"Authorization": "Bearer abc"}).json() == {"token": "abc"}


def test_yield_dependency_sees_http_exception(extras_client: TestClient) -> None:
    EVENTS.clear()
    response = extras_client.get("/guarded/false")
    assert response.status_code == 409
    assert response.json() == {"detail": "conflict"}
    assert EVENTS == ["dependency saw 409", "guarded cleanup"]
    EVENTS.clear()
    assert extras_client.get("/guarded/true").json() == {"ok": True}
    assert EVENTS == ["guarded cleanup"]


def test_user_app_on_trio(static_dir: Path) -> None:
    if not any(getattr(r, "path", None) == "/static" for r in app.routes):
        app.mount("/static", StaticFiles(directory=static_dir, html=True), name="static")
    with TestClient(app, backend="trio") as trio_client:
        assert trio_client.get("/items/3", params={"q": "t"}).json() == {"id": 3, "name": "t", "price": 2.5}
        response = trio_client.post(
            "/upload", files={"file": ("a.txt", b"trio", "text/plain")}, data={"note": "n"}
        )
        assert response.json()["content"] == "trio"
        assert trio_client.get("/static/hello.txt").text == "static hello"
        with trio_client.websocket_connect("/ws/trio") as websocket:
            assert websocket.receive_json() == {"room": "trio", "token": None}
            websocket.send_text("x")
            assert websocket.receive_text() == "echo: x"


def _body_app() -> FastAPI:
    body_app = FastAPI()

    @body_app.post("/size")
    async def size(request: Request) -> dict[str, int]:
        return {"n": len(await request.body())}

    return body_app


def test_lyre_default_body_limit_applies_to_fastapi() -> None:
    """FastAPI builds its own stack; lyre's admission still bounds the body (413, FastAPI's handler)."""
    body_app = _body_app()
    body_app.default_max_body_size = 1024  # lyre's default is 16 MiB; a small one keeps the test quick
    with TestClient(body_app) as test_client:
        assert test_client.post("/size", content=b"x" * 1024).json() == {"n": 1024}
        response = test_client.post("/size", content=b"x" * 1025)
        assert response.status_code == 413
        too_many = {f"x-h{i}": "v" for i in range(1001)}
        assert test_client.post("/size", content=b"", headers=too_many).status_code == 431


def test_fastapi_default_body_limit_opt_out_and_own_limit() -> None:
    lifted = _body_app()
    lifted.default_max_body_size = None
    with TestClient(lifted) as test_client:
        assert test_client.post("/size", content=b"x" * (17 * 1024 * 1024)).json() == {"n": 17 * 1024 * 1024}
    own = FastAPI(max_body_size=10)  # FastAPI's own setting replaces lyre's default

    @own.post("/size")
    async def size(request: Request) -> dict[str, int]:
        return {"n": len(await request.body())}

    with TestClient(own) as test_client:
        assert test_client.post("/size", content=b"x" * 10).json() == {"n": 10}
        assert test_client.post("/size", content=b"x" * 11).status_code == 413
