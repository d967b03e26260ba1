"""Acceptance test of the cheat-sheet (examples/cheatsheet/CHEATSHEET.md): what items 1-16 must do.

Each item is written in the cheat-sheet's own form (old forms included) and checked through two
transports: lyre's ``TestClient`` and plain ``httpx2.ASGITransport`` (on asyncio and on trio), since
every behaviour must hold under any ASGI server, not only the test client.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import re
import threading
import warnings
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from lyre.applications import Starlette
from lyre.background import BackgroundTask, BackgroundTasks
from lyre.datastructures import State
from lyre.endpoints import HTTPEndpoint
from lyre.exceptions import HTTPException, StarletteDeprecationWarning
from lyre.middleware import Middleware
from lyre.middleware.base import BaseHTTPMiddleware
from lyre.middleware.sessions import SessionMiddleware
from lyre.requests import Request
from lyre.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from lyre.routing import Route
from lyre.templating import Jinja2Templates
from lyre.testclient import TestClient


class ASGITransportClient:
    """A blocking client over ``httpx2.ASGITransport``: one event loop per request, shared cookies."""

    def __init__(
        self,
        app: Any,
        backend: str,
        base_url: str = "http://testserver",
        client: tuple[str, int] = ("testclient", 50000),
        raise_server_exceptions: bool = True,
        follow_redirects: bool = True,
    ) -> None:
        transport = httpx2.ASGITransport(app=app, client=client, raise_app_exceptions=raise_server_exceptions)
        self._client = httpx2.AsyncClient(
            transport=transport, base_url=base_url, follow_redirects=follow_redirects
        )
        self._backend = backend

    def request(self, method: str, url: str, **kwargs: Any) -> httpx2.Response:
        call = functools.partial(self._client.request, method, url, **kwargs)
        return anyio.run(call, backend=self._backend)

    def get(self, url: str, **kwargs: Any) -> httpx2.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx2.Response:
        return self.request("POST", url, **kwargs)


MakeClient = Callable[..., Any]


@pytest.fixture(params=["testclient", "asgi-asyncio", "asgi-trio"])
def make_client(request: pytest.FixtureRequest) -> Iterator[MakeClient]:
    """Build a client for an app: lyre's TestClient, or httpx2's ASGITransport on asyncio / trio."""

    def make(app: Any, **kwargs: Any) -> Any:
        if request.param == "testclient":
            return TestClient(app, **kwargs)
        return ASGITransportClient(app, backend=request.param.removeprefix("asgi-"), **kwargs)

    yield make


# --- 1. query parameters -----------------------------------------------------------------------


def test_item_1_query_params(make_client: MakeClient) -> None:
    async def search(request: Request) -> Response:
        return JSONResponse(
            {
                "name": request.query_params.get("name"),
                "t": request.query_params.getlist("t"),
                "missing": request.query_params.get("missing"),
            }
        )

    client = make_client(Starlette(routes=[Route("/", endpoint=search)]))
    assert client.get("/?name=Bo%20Z&t=1&t=2").json() == {"name": "Bo Z", "t": ["1", "2"], "missing": None}


# --- 2. path parameters ------------------------------------------------------------------------


def test_item_2_path_params(make_client: MakeClient) -> None:
    async def post(request: Request) -> Response:
        postid = request.path_params.get("postid")
        return JSONResponse({"path_params": request.path_params, "type": type(postid).__name__})

    client = make_client(Starlette(routes=[Route("/post/{postid}", endpoint=post)]))
    assert client.get("/post/42").json() == {"path_params": {"postid": "42"}, "type": "str"}
    assert client.get("/post/42/x").status_code == 404


# --- 3. form post ------------------------------------------------------------------------------


def test_item_3_form_post(make_client: MakeClient) -> None:
    async def submit(request: Request) -> Response:
        inp = await request.form()
        return PlainTextResponse(str(inp.get("name")))

    client = make_client(Starlette(routes=[Route("/submit", endpoint=submit, methods=["POST"])]))
    response = client.post("/submit", data={"name": "Bo"})
    assert response.status_code == 200 and response.text == "Bo"
    response = client.get("/submit")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.text == "Method Not Allowed"


# --- 4. upload ---------------------------------------------------------------------------------


def test_item_4_upload(make_client: MakeClient) -> None:
    async def upload(request: Request) -> Response:
        f = (await request.form())["filename"]
        content = await f.read()  # type: ignore[union-attr]
        return JSONResponse(
            {
                "filename": f.filename,  # type: ignore[union-attr]
                "content_type": f.content_type,  # type: ignore[union-attr]
                "size": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
            }
        )

    png = b"\x89PNG\r\n\x1a\n" + bytes(i * 7 % 256 for i in range(200_000 - 8))
    assert len(png) == 200_000
    client = make_client(Starlette(routes=[Route("/upload", endpoint=upload, methods=["POST"])]))
    response = client.post("/upload", files={"filename": ("abc.png", png, "image/png")})
    assert response.json() == {
        "filename": "abc.png",
        "content_type": "image/png",
        "size": 200_000,
        "sha256": hashlib.sha256(png).hexdigest(),
    }
    # The cheat-sheet never closes the upload: lyre must, once the request is done (no leaked file).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


# --- 5. templates ------------------------------------------------------------------------------


@pytest.fixture
def templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Jinja2Templates:
    """Item 5a, literally: ``Jinja2Templates(directory="templates")`` relative to the cwd."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "home.html").write_text(
        "<p>Hello {{ name }}, home is {{ url_for('home') }}; method {{ request.method }}</p>"
    )
    monkeypatch.chdir(tmp_path)
    return Jinja2Templates(directory="templates")


def _template_app(templates: Jinja2Templates) -> Starlette:
    async def home(request: Request) -> Response:
        return PlainTextResponse("home")

    async def old(request: Request) -> Response:
        return templates.TemplateResponse("home.html", {"request": request, "name": "Bo"}, headers={"x-extra-key": "value"})  # type: ignore[arg-type]  # fmt: skip

    async def new(request: Request) -> Response:
        return templates.TemplateResponse(
            request, "home.html", {"name": "Bo"}, headers={"x-extra-key": "value"}
        )

    async def no_request(request: Request) -> Response:
        return templates.TemplateResponse("home.html", {"name": "Bo"})  # type: ignore[arg-type]

    return Starlette(
        routes=[
            Route("/", endpoint=home, name="home"),
            Route("/old", endpoint=old),
            Route("/new", endpoint=new),
            Route("/no-request", endpoint=no_request),
        ]
    )


EXPECTED_PAGE = "<p>Hello Bo, home is http://testserver/; method GET</p>"


def test_item_5b_old_template_response_form(make_client: MakeClient, templates: Jinja2Templates) -> None:
    client = make_client(_template_app(templates))
    with pytest.warns(StarletteDeprecationWarning, match=r"TemplateResponse\(request, name"):
        response = client.get("/old")
    assert response.status_code == 200
    assert response.text == EXPECTED_PAGE
    assert response.headers["x-extra-key"] == "value"
    assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_item_5c_new_form_renders_identically(make_client: MakeClient, templates: Jinja2Templates) -> None:
    client = make_client(_template_app(templates))
    new = client.get("/new")
    with pytest.warns(StarletteDeprecationWarning):
        old = client.get("/old")
    assert new.status_code == 200 and new.text == EXPECTED_PAGE
    assert (old.status_code, old.content, old.headers["content-type"], old.headers["x-extra-key"]) == (
        new.status_code,
        new.content,
        new.headers["content-type"],
        new.headers["x-extra-key"],
    )


def test_item_5_old_form_without_request_key(templates: Jinja2Templates) -> None:
    client = TestClient(_template_app(templates))
    with (
        pytest.warns(StarletteDeprecationWarning),
        pytest.raises(ValueError, match='context must include a "request" key'),
    ):
        client.get("/no-request")


def test_item_5_template_response_exposes_template_and_context(templates: Jinja2Templates) -> None:
    client = TestClient(_template_app(templates))
    response = client.get("/new")
    assert response.template.name == "home.html"  # type: ignore[attr-defined]
    assert response.context["name"] == "Bo"  # type: ignore[attr-defined]
    assert isinstance(response.context["request"], Request)  # type: ignore[attr-defined]


# --- 6-8. responses and redirects --------------------------------------------------------------


def test_item_6_json_response(make_client: MakeClient) -> None:
    async def user(request: Request) -> Response:
        return JSONResponse({"name": "Bo"})

    response = make_client(Starlette(routes=[Route("/", endpoint=user)])).get("/")
    assert response.content == b'{"name":"Bo"}'
    assert response.headers["content-type"] == "application/json"


def test_item_7_custom_responses(make_client: MakeClient) -> None:
    data = {"name": "Bo", "langs": ["python"]}

    async def raw(request: Request) -> Response:
        return Response(json.dumps(data), media_type="application/json")

    async def gone(request: Request) -> Response:
        return Response("gone", status_code=404, headers={"x-extra-key": "value"})

    async def created(request: Request) -> Response:
        return JSONResponse(data, status_code=201, headers={"x-extra-key": "v2"})

    client = make_client(
        Starlette(
            routes=[
                Route("/raw", endpoint=raw),
                Route("/gone", endpoint=gone),
                Route("/created", endpoint=created),
            ]
        )
    )
    response = client.get("/raw")
    assert response.headers["content-type"] == "application/json" and response.json() == data
    response = client.get("/gone")
    assert (response.status_code, response.text, response.headers["x-extra-key"]) == (404, "gone", "value")
    response = client.get("/created")
    assert (response.status_code, response.json(), response.headers["x-extra-key"]) == (201, data, "v2")


def test_item_7_typo_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Response("gone", statu_code=404)  # type: ignore[call-arg]


def test_item_8_redirects(make_client: MakeClient) -> None:
    async def see_other(request: Request) -> Response:
        return RedirectResponse(url="/target", status_code=303)

    async def default(request: Request) -> Response:
        return RedirectResponse("/target")

    client = make_client(
        Starlette(routes=[Route("/303", endpoint=see_other), Route("/default", endpoint=default)]),
        follow_redirects=False,
    )
    response = client.get("/303")
    assert (response.status_code, response.headers["location"]) == (303, "/target")
    response = client.get("/default")
    assert (response.status_code, response.headers["location"]) == (307, "/target")


# --- 9. cookies --------------------------------------------------------------------------------


def _cookie_app() -> Starlette:
    async def set_(request: Request) -> Response:
        resp = PlainTextResponse("set")
        resp.set_cookie("mycookie", "value", max_age=60, path="/", secure=True, httponly=True)
        return resp

    async def read(request: Request) -> Response:
        return JSONResponse({"mycookie": request.cookies.get("mycookie")})

    async def delete(request: Request) -> Response:
        resp = PlainTextResponse("deleted")
        resp.delete_cookie("mycookie", path="/", domain=None)
        return resp

    return Starlette(
        routes=[
            Route("/set", endpoint=set_),
            Route("/read", endpoint=read),
            Route("/delete", endpoint=delete),
        ]
    )


def test_item_9_cookies(make_client: MakeClient) -> None:
    client = make_client(_cookie_app())
    header = client.get("/set").headers["set-cookie"]
    assert header == "mycookie=value; HttpOnly; Max-Age=60; Path=/; SameSite=lax; Secure"
    assert client.get("/read", headers={"cookie": "mycookie=value"}).json() == {"mycookie": "value"}
    assert client.get("/read", headers={"cookie": "other=1"}).json() == {"mycookie": None}
    header = client.get("/delete").headers["set-cookie"]
    assert re.fullmatch(
        r'mycookie=""; expires=\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT; Max-Age=0; Path=/; SameSite=lax',
        header,
    ), header


# --- 10. sessions ------------------------------------------------------------------------------


def _session_app() -> Starlette:
    async def whoami(request: Request) -> Response:
        return JSONResponse({"login_user": request.session.get("login_user")})

    async def login(request: Request) -> Response:
        request.session["login_user"] = "bo"
        return PlainTextResponse("ok")

    async def bad(request: Request) -> Response:
        request.session["login_user"] = object()
        return PlainTextResponse("never sent")

    return Starlette(
        routes=[Route("/", endpoint=whoami), Route("/login", endpoint=login), Route("/bad", endpoint=bad)],
        middleware=[Middleware(SessionMiddleware, secret_key="cheatsheet-secret")],
    )


def test_item_10_sessions(make_client: MakeClient) -> None:
    client = make_client(_session_app())
    assert client.get("/").json() == {"login_user": None}
    assert client.get("/login").text == "ok"
    assert client.get("/").json() == {"login_user": "bo"}


def test_item_10_unencodable_session_value_is_a_500(make_client: MakeClient) -> None:
    client = make_client(_session_app(), raise_server_exceptions=False)
    response = client.get("/bad")
    assert response.status_code == 500
    assert "never sent" not in response.text


# --- 11. request context -----------------------------------------------------------------------


def test_item_11_request_context(make_client: MakeClient) -> None:
    async def search(request: Request) -> Response:
        body = await request.body()
        data = await request.json()
        url = request.url
        return JSONResponse(
            {
                "str": str(url),
                "scheme": url.scheme,
                "netloc": url.netloc,
                "path": url.path,
                "query": url.query,
                "hostname": url.hostname,
                "port": url.port,
                "is_secure": url.is_secure,
                "user_agent": request.headers.get("user-agent"),
                "client": [request.client.host, request.client.port],  # type: ignore[union-attr]
                "method": request.method,
                "body_nonempty": len(body) > 0,
                "json": data,
                "type": request.scope["type"],
                "raw_path": request.scope["raw_path"].decode(),
            }
        )

    client = make_client(
        Starlette(routes=[Route("/search", endpoint=search, methods=["POST"])]),
        base_url="https://example.com:8080",
        client=("10.1.2.3", 53102),
    )
    response = client.post("/search?kw=hello", json={"a": 1}, headers={"user-agent": "UA/1"})
    assert response.json() == {
        "str": "https://example.com:8080/search?kw=hello",
        "scheme": "https",
        "netloc": "example.com:8080",
        "path": "/search",
        "query": "kw=hello",
        "hostname": "example.com",
        "port": 8080,
        "is_secure": True,
        "user_agent": "UA/1",
        "client": ["10.1.2.3", 53102],
        "method": "POST",
        "body_nonempty": True,
        "json": {"a": 1},
        "type": "http",
        "raw_path": "/search",
    }


# --- 12-13. state, HTTPEndpoint with a decorator -----------------------------------------------


def test_item_12_app_and_request_state(make_client: MakeClient) -> None:
    async def page(request: Request) -> Response:
        request.state.start_time = 1234.5
        return JSONResponse({"dbconn": request.app.state.dbconn, "start_time": request.state.start_time})

    app = Starlette(routes=[Route("/", endpoint=page)])
    app.state.dbconn = "conn-1"
    assert make_client(app).get("/").json() == {"dbconn": "conn-1", "start_time": 1234.5}


def test_item_13a_state() -> None:
    assert State({"name": "Bo"}).name == "Bo"


def login_required(func: Callable[..., Awaitable[Response]]) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(obj: Any, req: Request, *args: Any, **kwargs: Any) -> Response:
        if not req.session.get("login_user"):
            return RedirectResponse(url="/signin", status_code=303)
        return await func(obj, req, *args, **kwargs)

    return wrapper


class MyAccount(HTTPEndpoint):
    @login_required
    async def get(self, request: Request) -> Response:
        return JSONResponse(
            {
                "user": request.session["login_user"],
                "x-requested-with": request.headers.get("x-requested-with"),
            }
        )


def test_item_13b_decorated_http_endpoint(make_client: MakeClient) -> None:
    async def login(request: Request) -> Response:
        request.session["login_user"] = "bo"
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/account", endpoint=MyAccount), Route("/login", endpoint=login)],
        middleware=[Middleware(SessionMiddleware, secret_key="cheatsheet-secret")],
    )
    client = make_client(app, follow_redirects=False)
    response = client.get("/account")
    assert (response.status_code, response.headers["location"]) == (303, "/signin")
    client.get("/login")
    response = client.get("/account", headers={"x-requested-with": "XMLHttpRequest"})
    assert response.status_code == 200
    assert response.json() == {"user": "bo", "x-requested-with": "XMLHttpRequest"}
    response = client.post("/account")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


# --- 14. custom error pages --------------------------------------------------------------------


def test_item_14_exception_handlers(make_client: MakeClient) -> None:
    async def handler(request: Request, exc: Exception) -> Response:
        status_code = getattr(exc, "status_code", 500)
        return PlainTextResponse(f"My {status_code} page", status_code=status_code)

    async def forbidden(request: Request) -> Response:
        raise HTTPException(status_code=403)

    async def unavailable(request: Request) -> Response:
        raise HTTPException(503)

    async def crash(request: Request) -> Response:
        raise RuntimeError("boom")

    app = Starlette(
        routes=[
            Route("/403", endpoint=forbidden),
            Route("/503", endpoint=unavailable),
            Route("/crash", endpoint=crash),
        ],
        exception_handlers={403: handler, 404: handler, 503: handler, 500: handler},
    )
    client = make_client(app, raise_server_exceptions=False)
    for path, status_code in [("/403", 403), ("/503", 503), ("/nowhere", 404), ("/crash", 500)]:
        response = client.get(path)
        assert (response.status_code, response.text) == (status_code, f"My {status_code} page"), path


# --- 15. background tasks ----------------------------------------------------------------------


def test_item_15a_background_task_deletes_the_file(make_client: MakeClient, tmp_path: Path) -> None:
    path = tmp_path / "report.txt"

    async def del_file(fpath: str) -> None:
        Path(fpath).unlink()

    async def page(request: Request) -> Response:
        path.write_text("temporary")
        return Response("", background=BackgroundTask(del_file, fpath=str(path)))

    response = make_client(Starlette(routes=[Route("/", endpoint=page)])).get("/")
    assert response.status_code == 200 and response.content == b""
    assert not path.exists()


def test_item_15b_background_tasks_in_order(make_client: MakeClient) -> None:
    calls: list[tuple[str, str, int]] = []

    async def task1(name: str) -> None:
        calls.append(("task1", name, threading.get_ident()))

    def task2(email: str) -> None:
        calls.append(("task2", email, threading.get_ident()))

    async def page(request: Request) -> Response:
        tasks = BackgroundTasks()
        tasks.add_task(task1, name="John")
        tasks.add_task(task2, email="john@example.com")
        return Response("queued", background=tasks)

    response = make_client(Starlette(routes=[Route("/", endpoint=page)])).get("/")
    assert response.text == "queued"
    assert [c[:2] for c in calls] == [("task1", "John"), ("task2", "john@example.com")]
    assert calls[0][2] != calls[1][2]  # the sync task ran in a worker thread, not on the event loop


# --- 16. middleware ----------------------------------------------------------------------------


class MyMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"])[b"host"]
        scope.setdefault("state", {})

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-saw-host", host)]
            await send(message)

        await self.app(scope, receive, send_wrapper)


class CustomHeaderMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["X-Author"] = "John"
        return response


def test_item_16_middleware(make_client: MakeClient) -> None:
    async def hi(request: Request) -> Response:
        return PlainTextResponse("hi")

    app = Starlette(
        routes=[Route("/", endpoint=hi)],
        middleware=[Middleware(MyMiddleware), Middleware(CustomHeaderMiddleware)],
    )
    response = make_client(app).get("/")
    assert response.text == "hi"
    assert response.headers["x-author"] == "John"
    assert response.headers["x-saw-host"] == "testserver"
