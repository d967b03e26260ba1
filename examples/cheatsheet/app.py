"""The lyre cheat-sheet as one running application.

Every numbered item of the cheat-sheet (``CHEATSHEET.md`` beside this file) has a page here, written in
the cheat-sheet's own forms -- including the pre-1.0 ones lyre still accepts, such as
``templates.TemplateResponse("home.html", {"request": request, ...})`` (item 5b), which works and
emits a ``StarletteDeprecationWarning`` once per call site.

Serve it with ``make run`` (``python -m lyre run examples.cheatsheet.app:app``) and open
http://127.0.0.1:8000/ -- the home page links every item.

The session secret comes from ``CHEATSHEET_SECRET_KEY``; without it a random key is made per process
(sessions then do not survive a restart and are not shared between ``--workers``).

Beyond Starlette
----------------

Under ``/beyond`` the demo shows what lyre adds to Starlette's API: a log-in kept in a server-side
session store (with :func:`lyre.sessions.rotate` at log-in and log-out), a form protected by
``CSRFMiddleware`` (the template writes ``csrf_input(request)``), flash messages after each action,
and ``CompressionMiddleware`` (br, zstd or gzip, whatever the browser and the server share).

The design: **one session for the whole demo**, kept server-side. An application has one
``SessionMiddleware`` (a second one, on a mounted sub-app, would replace ``scope["session"]`` under
the first one's feet), and a real application keeps its users in one session whatever page they
log in from. So the demo's only ``SessionMiddleware`` gets ``store=``, chosen by the environment as
a deployment would (``CHEATSHEET_SESSION_STORE``):

* ``memory`` (the default): a ``MemoryStore``, one process, gone at a restart;
* ``file:DIRECTORY``: a ``FileStore``, shared by ``--workers`` and kept across restarts (set
  ``CHEATSHEET_SECRET_KEY`` too, or the cookies signed before a restart are refused);
* ``redis://HOST:PORT/DB``: a ``RedisStore`` (``pip install 'lyre-asgi[redis]'``).

The cheat-sheet's item 10 keeps its own form (``request.session["login_user"] = name``) and behaves
as before -- ``request.session`` is the same dictionary whatever holds it; only the cookie changed, and
it now carries a signed id instead of the data. The ``/beyond`` log-in writes the same
``login_user`` key, so the header's "signed in as" and item 13's account page agree with it.

``CSRFMiddleware`` wraps only the ``/beyond`` mount: the cheat-sheet's own forms are written as the
cheat-sheet writes them, without a token, and must keep working. The CSRF secret is derived from the
session secret (a distinct key, and still one variable to set). ``CompressionMiddleware`` wraps the
whole demo.
"""

from __future__ import annotations

import base64
import collections
import functools
import hashlib
import html
import json
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from lyre.applications import Starlette
from lyre.background import BackgroundTask, BackgroundTasks
from lyre.datastructures import State, UploadFile
from lyre.endpoints import HTTPEndpoint
from lyre.exceptions import HTTPException
from lyre.flash import flash, get_flashed_messages
from lyre.middleware import Middleware
from lyre.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from lyre.middleware.compression import CompressionMiddleware, available_codings
from lyre.middleware.csrf import CSRFMiddleware, csrf_input, csrf_token
from lyre.middleware.sessions import SessionMiddleware
from lyre.requests import Request
from lyre.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from lyre.routing import Mount, Route, WebSocketRoute
from lyre.sessions import FileStore, MemoryStore, RedisStore, SessionStore, rotate
from lyre.staticfiles import StaticFiles
from lyre.templating import Jinja2Templates
from lyre.types import ASGIApp, Message, Receive, Scope, Send
from lyre.websockets import WebSocket, WebSocketDisconnect

HERE = Path(__file__).resolve().parent

# Item 5a: Jinja2Templates(directory=...). An absolute path, so the app works from any directory.
templates = Jinja2Templates(directory=str(HERE / "templates"))
# Beyond Starlette: every page shows its flash messages (base.html); the /beyond forms carry a CSRF token.
templates.env.globals.update(
    get_flashed_messages=get_flashed_messages, csrf_input=csrf_input, csrf_token=csrf_token
)

logger = logging.getLogger("cheatsheet")
if not logger.handlers:
    # Background tasks log here; uvicorn configures only its own loggers, so give ours a handler.
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(levelname)s:     [cheatsheet] %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

# Largest upload the demo previews inline as a data: URL, and the image types it previews.
PREVIEW_LIMIT = 2 * 1024 * 1024
PREVIEW_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

# The home page's table of contents: (number, title, route name, path params, query string, what it shows).
ITEMS: list[dict[str, Any]] = [
    {"n": 1, "title": "Query parameters", "route": "query", "params": {}, "query": "name=Bo%20Z&t=1&t=2",
     "form": 'request.query_params.get("name"), .getlist("t")'},
    {"n": 2, "title": "Path parameters", "route": "post", "params": {"postid": "42"}, "query": "",
     "form": 'Route("/post/{postid}", endpoint=post); request.path_params.get("postid")'},
    {"n": 3, "title": "Form post", "route": "form_page", "params": {}, "query": "",
     "form": 'inp = await request.form(); inp.get("name")'},
    {"n": 4, "title": "File upload", "route": "upload", "params": {}, "query": "",
     "form": 'f = (await request.form())["filename"]; f.filename, f.content_type, await f.read()'},
    {"n": 5, "title": "Templates and url_for", "route": "templates_page", "params": {}, "query": "",
     "form": 'templates.TemplateResponse(request, "page.html", {...}); {{ url_for("home") }}'},
    {"n": 6, "title": "JSON response", "route": "json", "params": {}, "query": "",
     "form": 'JSONResponse({"name": "Bo"})'},
    {"n": 7, "title": "Custom responses", "route": "responses", "params": {}, "query": "",
     "form": "Response(content, status_code=404, headers={...}); JSONResponse(data, status_code=201)"},
    {"n": 8, "title": "Redirects", "route": "redirects", "params": {}, "query": "",
     "form": "RedirectResponse(url=url, status_code=303); RedirectResponse(url)"},
    {"n": 9, "title": "Cookies", "route": "cookie", "params": {}, "query": "",
     "form": 'resp.set_cookie("mycookie", ...); request.cookies.get("mycookie"); resp.delete_cookie(...)'},
    {"n": 10, "title": "Sessions: log in and out", "route": "signin", "params": {}, "query": "",
     "form": 'Middleware(SessionMiddleware, secret_key=...); request.session["login_user"] = name'},
    {"n": 11, "title": "Request context", "route": "request_info", "params": {}, "query": "kw=hello",
     "form": "request.url.*, request.headers, request.client, request.method, request.scope"},
    {"n": 12, "title": "App and request state", "route": "state", "params": {}, "query": "",
     "form": "app.state.dbconn; request.state.start_time; request.app.state.dbconn"},
    {"n": 13, "title": "State object and a login_required HTTPEndpoint", "route": "account", "params": {},
     "query": "", "form": 'State({"name": "Bo"}).name; class MyAccount(HTTPEndpoint) with @login_required'},
    {"n": 14, "title": "Custom 403 / 404 / 500 / 503 pages", "route": "errors", "params": {}, "query": "",
     "form": "Starlette(exception_handlers={403: h, 404: h, 500: h, 503: h})"},
    {"n": 15, "title": "Background tasks", "route": "background", "params": {}, "query": "",
     "form": 'Response("", background=BackgroundTask(del_file, fpath=path)); BackgroundTasks()'},
    {"n": 16, "title": "Middleware", "route": "middleware", "params": {}, "query": "",
     "form": "pure ASGI middleware + BaseHTTPMiddleware adding headers"},
    {"n": 17, "title": "WebSocket", "route": "websocket_page", "params": {}, "query": "",
     "form": 'WebSocketRoute("/ws", ws); await websocket.accept(); await websocket.receive_text()'},
]  # fmt: skip

# The home page's "Beyond Starlette" list: what lyre adds, shown under /beyond (not cheat-sheet items).
BEYOND: list[dict[str, str]] = [
    {"id": "login", "title": "Log-in in a server-side session store", "route": "beyond:login",
     "form": "SessionMiddleware(..., store=MemoryStore()); rotate(request) at log-in; session.clear()"},
    {"id": "csrf", "title": "A CSRF-protected form", "route": "beyond:notes",
     "form": "Mount(..., middleware=[Middleware(CSRFMiddleware, secret=...)]); {{ csrf_input(request) }}"},
    {"id": "flash", "title": "Flash messages after each action", "route": "beyond:login",
     "form": 'flash(request, "Signed in."); get_flashed_messages(request, with_categories=True)'},
    {"id": "compression", "title": "Compression: br, zstd or gzip", "route": "beyond:compression",
     "form": "Middleware(CompressionMiddleware); Vary: Accept-Encoding"},
]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# 5. Home page: the OLD TemplateResponse form (5b), as the cheat-sheet writes it.
# ---------------------------------------------------------------------------------------------


async def home(request: Request) -> Response:
    """Home page; item 5b: ``TemplateResponse(name, {"request": request, ...}, headers=...)``.

    lyre accepts this pre-1.0 form (Starlette 1.10 answers it with a 500) and warns once.
    """
    return templates.TemplateResponse("home.html", {"request": request, "items": ITEMS, "beyond": BEYOND}, headers={"x-extra-key": "value"})  # type: ignore[arg-type]  # fmt: skip


async def templates_page(request: Request) -> Response:
    """Item 5c/5d: the current ``TemplateResponse(request, name, context)`` form and ``url_for``."""
    return templates.TemplateResponse(request, "templates.html", {"name": "Bo"})


# ---------------------------------------------------------------------------------------------
# 1-4. Query, path, form and upload.
# ---------------------------------------------------------------------------------------------


async def query(request: Request) -> Response:
    """Item 1: ``query_params.get`` and ``getlist``."""
    name = request.query_params.get("name")
    tags = request.query_params.getlist("t")
    return templates.TemplateResponse(request, "query.html", {"name": name, "tags": tags})


async def post(request: Request) -> Response:
    """Item 2: ``Route("/post/{postid}", endpoint=post)``; the parameter is a ``str``."""
    postid = request.path_params.get("postid")
    return templates.TemplateResponse(
        request, "post.html", {"postid": postid, "type_name": type(postid).__name__}
    )


async def form_page(request: Request) -> Response:
    """Item 3: the page holding the form (the POST-only route is ``form_submit``)."""
    return templates.TemplateResponse(request, "form.html", {"name": None})


async def form_submit(request: Request) -> Response:
    """Item 3: ``inp = await request.form(); inp.get("name")`` on a ``methods=["POST"]`` route."""
    inp = await request.form()
    name = inp.get("name")
    return templates.TemplateResponse(request, "form.html", {"name": name if isinstance(name, str) else None})


async def upload(request: Request) -> Response:
    """Item 4: a multipart upload under field ``filename``: name, type, size and an image preview."""
    if request.method == "GET":
        return templates.TemplateResponse(request, "upload.html", {"file": None})
    form = await request.form()
    f = form.get("filename")
    if not isinstance(f, UploadFile) or not f.filename:
        return templates.TemplateResponse(
            request, "upload.html", {"file": None, "error": "Choose a file first."}, status_code=400
        )
    data = await f.read()
    content_type = f.content_type or "application/octet-stream"
    preview = None
    if content_type in PREVIEW_TYPES and len(data) <= PREVIEW_LIMIT:
        preview = f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"
    info = {"filename": f.filename, "content_type": content_type, "size": len(data), "preview": preview}
    await f.close()
    return templates.TemplateResponse(request, "upload.html", {"file": info})


# ---------------------------------------------------------------------------------------------
# 6-8. JSON, custom responses, redirects.
# ---------------------------------------------------------------------------------------------


async def json_response(request: Request) -> Response:
    """Item 6: compact JSON, ``content-type: application/json``."""
    return JSONResponse({"name": "Bo"})


async def responses_page(request: Request) -> Response:
    """Item 7: the page linking the custom responses."""
    return templates.TemplateResponse(request, "responses.html")


async def json_raw(request: Request) -> Response:
    """Item 7a: ``Response(json.dumps(data), media_type="application/json")``."""
    data = {"name": "Bo", "langs": ["python", "sql"]}
    return Response(json.dumps(data), media_type="application/json")


async def custom_404(request: Request) -> Response:
    """Item 7b: a plain ``Response`` with a 404 status and an extra header (no handler involved)."""
    return Response("gone", status_code=404, headers={"x-extra-key": "value"})


async def json_created(request: Request) -> Response:
    """Item 7c: ``JSONResponse(data, status_code=201, headers={...})``."""
    return JSONResponse({"created": True}, status_code=201, headers={"x-extra-key": "v2"})


async def redirects_page(request: Request) -> Response:
    """Item 8: the page linking both redirects."""
    return templates.TemplateResponse(request, "redirects.html")


async def redirect_303(request: Request) -> Response:
    """Item 8: ``RedirectResponse(url=url, status_code=303)``."""
    return RedirectResponse(url=request.url_for("redirect_target"), status_code=303)


async def redirect_default(request: Request) -> Response:
    """Item 8: ``RedirectResponse(url)`` -- the default status is 307."""
    return RedirectResponse(request.url_for("redirect_target"))


async def redirect_target(request: Request) -> Response:
    """Where both redirects land."""
    return templates.TemplateResponse(request, "redirect_target.html")


# ---------------------------------------------------------------------------------------------
# 9. Cookies.
# ---------------------------------------------------------------------------------------------


def _is_loopback(host: str | None) -> bool:
    """Browsers treat these hosts as secure contexts: they keep ``Secure`` cookies there over http."""
    if not host:
        return False
    host = host.lower().rstrip(".")
    return host in ("localhost", "::1", "[::1]") or host.endswith(".localhost") or host.startswith("127.")


def _secure_cookie_hint(request: Request) -> str | None:
    """Why a ``Secure`` cookie set here would not come back, or ``None`` when it will."""
    url = request.url
    if url.scheme == "https" or _is_loopback(url.hostname):
        return None
    local = f"http://localhost:{url.port}" if url.port else "http://localhost"
    return (
        f"This page is served over plain http from {url.hostname}: browsers keep a Secure cookie only over "
        f"https (or on localhost), so the cookie set below will not come back. Open the demo at {local}/ "
        "or serve it over https."
    )


async def cookie(request: Request) -> Response:
    """Item 9b: ``request.cookies.get("mycookie")``; explains a ``Secure`` cookie lost over plain http."""
    value = request.cookies.get("mycookie")
    lost = request.query_params.get("set") == "1" and value is None
    context = {"value": value, "hint": _secure_cookie_hint(request), "lost": lost}
    return templates.TemplateResponse(request, "cookie.html", context)


async def cookie_set(request: Request) -> Response:
    """Item 9a: ``set_cookie("mycookie", value, max_age=60, path="/", secure=True, httponly=True)``."""
    form = await request.form()
    value = form.get("value")
    value = value.strip()[:100] if isinstance(value, str) and value.strip() else "value"
    # `?set=1` lets the page say so when the browser did not send the cookie back.
    resp = RedirectResponse(url=request.url_for("cookie").include_query_params(set="1"), status_code=303)
    resp.set_cookie("mycookie", value, max_age=60, path="/", secure=True, httponly=True)
    return resp


async def cookie_delete(request: Request) -> Response:
    """Item 9c: ``delete_cookie("mycookie", path="/", domain=None)``."""
    resp = RedirectResponse(url=request.url_for("cookie"), status_code=303)
    resp.delete_cookie("mycookie", path="/", domain=None)
    return resp


# ---------------------------------------------------------------------------------------------
# 10 and 13. Sessions, login/logout, State and a login_required HTTPEndpoint.
# ---------------------------------------------------------------------------------------------


async def signin(request: Request) -> Response:
    """Item 10: log in -- ``request.session["login_user"] = name`` (any non-empty name, no password)."""
    if request.method == "GET":
        return templates.TemplateResponse(request, "signin.html", {"user": request.session.get("login_user")})
    form = await request.form()
    raw = form.get("username")
    username = raw.strip() if isinstance(raw, str) else ""
    if not username or len(username) > 50:
        return templates.TemplateResponse(
            request,
            "signin.html",
            {"user": None, "error": "Enter a name of 1 to 50 characters."},
            status_code=400,
        )
    request.session["login_user"] = username
    return RedirectResponse(url=request.url_for("account"), status_code=303)


async def logout(request: Request) -> Response:
    """Item 10: log out -- drop the session key."""
    request.session.pop("login_user", None)
    return RedirectResponse(url=request.url_for("home"), status_code=303)


Handler = Callable[..., Awaitable[Response]]


def login_required(func: Handler) -> Handler:
    """Item 13b: a decorator for endpoint methods, taking ``(obj, req, *args, **kwargs)``.

    Without ``login_user`` in the session it answers ``303`` to the sign-in page.
    """

    @functools.wraps(func)
    async def wrapper(obj: Any, req: Request, *args: Any, **kwargs: Any) -> Response:
        if not req.session.get("login_user"):
            return RedirectResponse(url=req.url_for("signin"), status_code=303)
        return await func(obj, req, *args, **kwargs)

    return wrapper


class MyAccount(HTTPEndpoint):
    """Item 13b: a class-based endpoint; only ``get`` exists, so ``POST`` is a 405."""

    @login_required
    async def get(self, request: Request) -> Response:
        user = request.session.get("login_user")
        requested_with = request.headers.get("x-requested-with")
        if requested_with == "XMLHttpRequest":
            return JSONResponse({"user": user, "x-requested-with": requested_with})
        profile = State({"name": user})  # item 13a: State(...).name
        return templates.TemplateResponse(request, "account.html", {"user": profile.name})


# ---------------------------------------------------------------------------------------------
# 11-12. Request context and state.
# ---------------------------------------------------------------------------------------------


def _request_facts(request: Request) -> dict[str, Any]:
    url = request.url
    client = request.client
    # Keyed by the expression that gives the value, as the page shows it.
    return {
        "str(request.url)": str(url),
        "request.url.scheme": url.scheme,
        "request.url.netloc": url.netloc,
        "request.url.path": url.path,
        "request.url.query": url.query,
        "request.url.hostname": url.hostname,
        "request.url.port": url.port,
        "request.url.is_secure": url.is_secure,
        "request.headers.get('user-agent')": request.headers.get("user-agent"),
        "request.client.host": client.host if client else None,
        "request.client.port": client.port if client else None,
        "request.method": request.method,
        "request.scope['type']": request.scope["type"],
        "request.scope['raw_path']": request.scope.get("raw_path", b"").decode("latin-1"),
        "request.scope['root_path']": request.scope.get("root_path", ""),
    }


async def request_info(request: Request) -> Response:
    """Item 11: URL parts, headers, client, method and scope; ``POST`` JSON to get it back as JSON."""
    facts = _request_facts(request)
    if request.method == "POST":
        body = await request.body()
        try:
            payload = await request.json()  # the body is cached: body() and json() on one request
        except ValueError:
            raise HTTPException(status_code=400, detail="Send a JSON body.")
        return JSONResponse({**facts, "body_length": len(body), "json": payload})
    headers = sorted(request.headers.items())
    return templates.TemplateResponse(request, "request.html", {"facts": facts, "headers": headers})


async def state_page(request: Request) -> Response:
    """Item 12: ``request.app.state.dbconn`` and ``request.state.start_time`` (set by the middleware)."""
    request.state.page_seen_at = time.time()
    return templates.TemplateResponse(
        request,
        "state.html",
        {
            "dbconn": request.app.state.dbconn,
            "start_time": request.state.start_time,
            "page_seen_at": request.state.page_seen_at,
            "saw_host": getattr(request.state, "saw_host", None),
            "state_name": State({"name": "Bo"}).name,
        },
    )


# ---------------------------------------------------------------------------------------------
# 14. Custom error pages.
# ---------------------------------------------------------------------------------------------


async def errors_page(request: Request) -> Response:
    """Item 14: the page linking the error triggers."""
    return templates.TemplateResponse(request, "errors.html")


async def raise_403(request: Request) -> Response:
    raise HTTPException(status_code=403)


async def raise_503(request: Request) -> Response:
    raise HTTPException(status_code=503, detail="Down for maintenance")


async def raise_500(request: Request) -> Response:
    raise RuntimeError("Something broke (on purpose)")


ERROR_TITLES = {
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Server Error",
    503: "Service Unavailable",
}


async def http_error(request: Request, exc: Exception) -> Response:
    """Handler for 403, 404, 405 and 503: gets ``(request, exc)``; ``exc.status_code`` is there.

    The exception's ``detail`` is shown when it says more than the status phrase (the 503 here), and
    its ``headers`` are kept (the 405's ``Allow``).
    """
    status_code = exc.status_code if isinstance(exc, HTTPException) else 500
    title = ERROR_TITLES.get(status_code, "Error")
    detail = exc.detail if isinstance(exc, HTTPException) else None
    headers = exc.headers if isinstance(exc, HTTPException) else None
    context = {
        "status_code": status_code,
        "title": title,
        "path": request.url.path,
        "method": request.method,
        "detail": detail if detail and detail != title else None,
    }
    return templates.TemplateResponse(
        request, "error.html", context, status_code=status_code, headers=headers
    )


async def server_error(request: Request, exc: Exception) -> Response:
    """Handler for 500 (any uncaught exception).

    The page has the same look as the others (header, stylesheet, footer) but is written without the
    template engine, so a broken template cannot break the error page too.
    """
    css = html.escape(str(request.url_for("static", path="style.css")))
    icon = html.escape(str(request.url_for("static", path="favicon.svg")))
    home_url = html.escape(str(request.url_for("home")))
    path = html.escape(request.url.path)
    return HTMLResponse(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>500 Server Error</title>"
        f'<link rel="stylesheet" href="{css}"><link rel="icon" href="{icon}" type="image/svg+xml"></head>'
        f'<body><header><a class="brand" href="{home_url}">lyre cheat-sheet</a></header><main>'
        '<h1 id="error-title">My 500 page</h1>'
        f'<p class="error-detail">Server Error: <code>{path}</code></p>'
        "<p>Something went wrong on our side; it has been logged.</p></main>"
        f'<footer><a href="{home_url}">&larr; all items</a></footer></body></html>',
        status_code=500,
    )


# ---------------------------------------------------------------------------------------------
# 15. Background tasks.
# ---------------------------------------------------------------------------------------------


def _log(request: Request, message: str) -> None:
    logger.info(message)
    request.app.state.background_log.appendleft(f"{time.strftime('%H:%M:%S')} {message}")


async def background(request: Request) -> Response:
    """Item 15: the page linking both background demos and showing what the tasks logged."""
    return templates.TemplateResponse(
        request, "background.html", {"log": list(request.app.state.background_log)}
    )


def _write_temp_file() -> str:
    fd, path = tempfile.mkstemp(prefix="cheatsheet-", suffix=".txt")
    with os.fdopen(fd, "w") as fh:
        fh.write("written by the cheat-sheet demo; deleted by a background task\n")
    return path


async def background_file(request: Request) -> Response:
    """Item 15a: write a temp file, answer, then delete it in ``BackgroundTask(del_file, fpath=path)``."""
    path = await anyio.to_thread.run_sync(_write_temp_file)  # blocking file I/O off the event loop
    _log(request, f"wrote {path}")

    async def del_file(fpath: str) -> None:
        await anyio.Path(fpath).unlink(missing_ok=True)
        _log(request, f"background task deleted {fpath}")

    return templates.TemplateResponse(
        request,
        "background_done.html",
        {"what": f"Wrote {path}; a BackgroundTask deletes it after this response is sent."},
        background=BackgroundTask(del_file, fpath=path),
    )


async def background_tasks(request: Request) -> Response:
    """Item 15b: ``BackgroundTasks`` with an async then a sync task, run in order."""

    async def task1(name: str) -> None:
        _log(request, f"task1 (async) says hello to {name}")

    def task2(email: str) -> None:  # a sync task: run in a worker thread
        _log(request, f"task2 (sync, in a thread) would mail {email}")

    tasks = BackgroundTasks()
    tasks.add_task(task1, name="John")
    tasks.add_task(task2, email="john@example.com")
    return templates.TemplateResponse(
        request,
        "background_done.html",
        {"what": "Queued task1 (async) and task2 (sync); they run after this response, in order."},
        background=tasks,
    )


# ---------------------------------------------------------------------------------------------
# 16. Middleware.
# ---------------------------------------------------------------------------------------------


class MyMiddleware:
    """Item 16a: a pure ASGI middleware; reads the host header and adds ``x-saw-host``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"]).get(b"host", b"")
        scope.setdefault("state", {})["saw_host"] = host.decode("latin-1")

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-saw-host", host)]
            await send(message)

        await self.app(scope, receive, send_wrapper)


class CustomHeaderMiddleware(BaseHTTPMiddleware):
    """Item 16b (and 12): sets ``request.state.start_time`` and adds ``X-Author: John``."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        request.state.start_time = time.time()
        response = await call_next(request)
        response.headers["X-Author"] = "John"
        return response


async def middleware_page(request: Request) -> Response:
    """Item 16: a page that fetches ``/hi`` and shows the headers the middlewares added."""
    return templates.TemplateResponse(request, "middleware.html")


async def hi(request: Request) -> Response:
    return PlainTextResponse("hi")


# ---------------------------------------------------------------------------------------------
# 17. WebSocket.
# ---------------------------------------------------------------------------------------------


async def websocket_page(request: Request) -> Response:
    """Item 17: a page that opens a WebSocket to ``/ws`` and shows what comes back."""
    return templates.TemplateResponse(request, "websocket.html")


async def ws_echo(websocket: WebSocket) -> None:
    """Item 17: accept, greet, then answer every text message until the client leaves."""
    await websocket.accept()
    await websocket.send_text("connected: send a message")
    try:
        while True:
            message = await websocket.receive_text()
            await websocket.send_text(f"echo: {message[:1000]}")
    except WebSocketDisconnect:
        pass


async def favicon(request: Request) -> Response:
    """``/favicon.ico``, which browsers ask for on their own: the demo's icon in the static folder."""
    return RedirectResponse(request.url_for("static", path="favicon.svg"), status_code=301)


# ---------------------------------------------------------------------------------------------
# Beyond Starlette: a server-side session store, CSRF, flash messages, compression (under /beyond).
# ---------------------------------------------------------------------------------------------


def session_store_from_env() -> SessionStore:
    """The store named by ``CHEATSHEET_SESSION_STORE``: ``memory`` (default), ``file:DIR`` or a Redis URL."""
    spec = os.environ.get("CHEATSHEET_SESSION_STORE", "").strip()
    if spec in ("", "memory"):
        return MemoryStore()
    if spec.startswith("file:") and spec != "file:":
        return FileStore(spec.removeprefix("file:"))
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(spec, prefix="cheatsheet:session:")
    raise ValueError(
        f"CHEATSHEET_SESSION_STORE={spec!r}: expected memory, file:DIRECTORY or redis://HOST:PORT/DB"
    )


SECRET_KEY = os.environ.get("CHEATSHEET_SECRET_KEY") or secrets.token_hex(32)
# A key of its own for CSRF tokens, derived from the session secret (one variable to set).
CSRF_SECRET = hashlib.sha256(b"cheatsheet csrf\0" + SECRET_KEY.encode("utf-8")).hexdigest()
session_store = session_store_from_env()
NOTE_LIMIT = 200  # characters per note
NOTES_KEPT = 10  # the most recent notes kept in the session


def _session_id_start(request: Request) -> str | None:
    """The first characters of the session id in the cookie (the cookie is ``id.timestamp.signature``)."""
    value = request.cookies.get("session")
    # An unknown or expired id loads as {}; a session holding only the flash being shown ends now.
    return value[:8] if value and _session_view(request) else None


def _session_view(request: Request) -> dict[str, Any]:
    """What the server holds for this session, without the pending flash messages."""
    return {key: value for key, value in request.session.items() if key != "_flashes"}


async def beyond_login_page(request: Request) -> Response:
    """The log-in page: the form (with its CSRF token), who is signed in, what the store holds."""
    context = {
        "user": request.session.get("login_user"),
        "store": repr(session_store),
        "id_start": _session_id_start(request),
        "session": _session_view(request),
    }
    return templates.TemplateResponse(request, "beyond_login.html", context)


async def beyond_login(request: Request) -> Response:
    """Log in: the name goes to the session, ``rotate`` gives the session a new id, a flash says so."""
    form = await request.form()
    raw = form.get("username")
    username = raw.strip() if isinstance(raw, str) else ""
    if not username or len(username) > 50:
        flash(request, "Enter a name of 1 to 50 characters.", "error")
        return RedirectResponse(url=request.url_for("beyond:login"), status_code=303)
    request.session["login_user"] = username
    rotate(request)  # a session id planted or seen before log-in is worthless from now on
    flash(request, f"Signed in as {username}. Your session has a new id.", "success")
    return RedirectResponse(url=request.url_for("beyond:login"), status_code=303)


async def beyond_logout(request: Request) -> Response:
    """Log out: the whole session is cleared (deleted from the store); a new one carries the flash."""
    was_signed_in = bool(request.session.get("login_user"))
    request.session.clear()
    rotate(request)  # the flash below starts a new session, under a new id
    flash(request, "Signed out: your session was deleted." if was_signed_in else "You were not signed in.")
    return RedirectResponse(url=request.url_for("beyond:login"), status_code=303)


async def beyond_notes_page(request: Request) -> Response:
    """The CSRF-protected form, and the same form without its token (which is refused)."""
    notes = request.session.get("notes", [])
    return templates.TemplateResponse(
        request, "beyond_notes.html", {"notes": notes, "limit": NOTE_LIMIT, "kept": NOTES_KEPT}
    )


async def beyond_notes_add(request: Request) -> Response:
    """Only reached with a valid token: ``CSRFMiddleware`` answers 403 before this runs otherwise."""
    form = await request.form()
    raw = form.get("note")
    note = raw.strip() if isinstance(raw, str) else ""
    if not note or len(note) > NOTE_LIMIT:
        flash(request, f"A note is 1 to {NOTE_LIMIT} characters.", "error")
    else:
        request.session["notes"] = [*request.session.get("notes", []), note][-NOTES_KEPT:]
        flash(request, "Note saved: the form's CSRF token matched your csrftoken cookie.", "success")
    return RedirectResponse(url=request.url_for("beyond:notes"), status_code=303)


async def beyond_compression_page(request: Request) -> Response:
    """A page that fetches a large JSON document and shows how it was compressed."""
    return templates.TemplateResponse(request, "beyond_compression.html", {"codings": available_codings()})


async def beyond_data(request: Request) -> Response:
    """About 20 kB of JSON: large enough for ``CompressionMiddleware`` (500 bytes and more)."""
    rows = [{"id": i, "name": f"item {i}", "tags": ["demo", "lyre"]} for i in range(400)]
    return JSONResponse({"rows": rows})


beyond_routes = [
    Route("/login", endpoint=beyond_login_page, name="login"),
    Route("/login", endpoint=beyond_login, methods=["POST"], name="login_post"),
    Route("/logout", endpoint=beyond_logout, methods=["POST"], name="logout"),
    Route("/notes", endpoint=beyond_notes_page, name="notes"),
    Route("/notes", endpoint=beyond_notes_add, methods=["POST"], name="notes_post"),
    Route("/compression", endpoint=beyond_compression_page, name="compression"),
    Route("/compression/data.json", endpoint=beyond_data, name="data"),
]


# ---------------------------------------------------------------------------------------------
# The application.
# ---------------------------------------------------------------------------------------------

routes = [
    Route("/", endpoint=home, name="home"),
    Route("/templates", endpoint=templates_page),
    Route("/query", endpoint=query),
    Route("/post/{postid}", endpoint=post),
    Route("/form", endpoint=form_page),
    Route("/form/submit", endpoint=form_submit, methods=["POST"]),
    Route("/upload", endpoint=upload, methods=["GET", "POST"]),
    Route("/json", endpoint=json_response, name="json"),
    Route("/responses", endpoint=responses_page, name="responses"),
    Route("/responses/json", endpoint=json_raw),
    Route("/responses/custom", endpoint=custom_404),
    Route("/responses/created", endpoint=json_created),
    Route("/redirects", endpoint=redirects_page, name="redirects"),
    Route("/redirects/303", endpoint=redirect_303),
    Route("/redirects/default", endpoint=redirect_default),
    Route("/redirects/target", endpoint=redirect_target),
    Route("/cookie", endpoint=cookie),
    Route("/cookie/set", endpoint=cookie_set, methods=["POST"]),
    Route("/cookie/delete", endpoint=cookie_delete, methods=["POST"]),
    Route("/signin", endpoint=signin, methods=["GET", "POST"]),
    Route("/logout", endpoint=logout, methods=["POST"]),
    Route("/account", endpoint=MyAccount, name="account"),
    Route("/request", endpoint=request_info, methods=["GET", "POST"]),
    Route("/state", endpoint=state_page, name="state"),
    Route("/errors", endpoint=errors_page, name="errors"),
    Route("/errors/403", endpoint=raise_403),
    Route("/errors/500", endpoint=raise_500),
    Route("/errors/503", endpoint=raise_503),
    Route("/background", endpoint=background),
    Route("/background/file", endpoint=background_file, methods=["POST"]),
    Route("/background/tasks", endpoint=background_tasks, methods=["POST"]),
    Route("/middleware", endpoint=middleware_page, name="middleware"),
    Route("/hi", endpoint=hi),
    Route("/websocket", endpoint=websocket_page, name="websocket_page"),
    WebSocketRoute("/ws", endpoint=ws_echo, name="ws"),
    Route("/favicon.ico", endpoint=favicon, include_in_schema=False),
    Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    # Beyond Starlette: CSRF checks on this mount only (the cheat-sheet's forms carry no token).
    Mount(
        "/beyond",
        routes=beyond_routes,
        name="beyond",
        middleware=[Middleware(CSRFMiddleware, secret=CSRF_SECRET)],
    ),
]

middleware = [
    Middleware(CompressionMiddleware),  # outermost: it compresses every page, error pages included
    # Item 10's SessionMiddleware; Beyond Starlette: its data is kept server-side, in `session_store`.
    Middleware(SessionMiddleware, secret_key=SECRET_KEY, store=session_store),
    Middleware(MyMiddleware),
    Middleware(CustomHeaderMiddleware),
]

exception_handlers: dict[Any, Any] = {
    403: http_error,
    404: http_error,
    405: http_error,
    503: http_error,
    500: server_error,
}

app = Starlette(routes=routes, middleware=middleware, exception_handlers=exception_handlers)

# Item 12: state attached after construction, read back as request.app.state.dbconn.
app.state.dbconn = "conn-1"
app.state.background_log = collections.deque(maxlen=20)
