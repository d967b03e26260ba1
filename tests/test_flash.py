"""Flash messages: shown once after a redirect, categories and filters, templates, bounded, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lyre.applications import Lyre
from lyre.flash import MAX_PENDING, SESSION_KEY, flash, flash_context, get_flashed_messages
from lyre.middleware import Middleware
from lyre.middleware.sessions import SessionMiddleware
from lyre.requests import Request
from lyre.responses import JSONResponse, RedirectResponse, Response
from lyre.routing import Route
from lyre.templating import Jinja2Templates
from lyre.testclient import TestClient


async def save(request: Request) -> Response:
    flash(request, "Saved.")
    flash(request, "Check your email.", "warning")
    return RedirectResponse("/show", status_code=303)


async def show(request: Request) -> Response:
    first = get_flashed_messages(request)
    again = get_flashed_messages(request, with_categories=True)
    return JSONResponse({"messages": first, "pairs": again})


async def errors_only(request: Request) -> Response:
    return JSONResponse(get_flashed_messages(request, category_filter=["warning"]))


async def many(request: Request) -> Response:
    for index in range(MAX_PENDING + 10):
        flash(request, f"m{index}")
    return Response("ok")


async def raw(request: Request) -> Response:
    request.session[SESSION_KEY] = [["info", "good"], "bad", [1, 2], ["a", "b", "c"]]
    return Response("ok")


def make_client(anyio_backend: str, *routes: Route) -> TestClient:
    app = Lyre(
        routes=[
            Route("/save", save, methods=["POST"]),
            Route("/show", show),
            Route("/warnings", errors_only),
            Route("/many", many),
            Route("/raw", raw),
            *routes,
        ],
        middleware=[Middleware(SessionMiddleware, secret_key="flash-secret")],
    )
    return TestClient(app, backend=anyio_backend)  # type: ignore[arg-type]


def test_flash_after_redirect_shows_once(anyio_backend: str) -> None:
    client = make_client(anyio_backend)
    response = client.post("/save")
    assert response.status_code == 200
    assert response.json() == {
        "messages": ["Saved.", "Check your email."],
        "pairs": [["info", "Saved."], ["warning", "Check your email."]],
    }
    assert client.get("/show").json() == {"messages": [], "pairs": []}


def test_category_filter_leaves_others_pending(anyio_backend: str) -> None:
    client = make_client(anyio_backend)
    client.post("/save", follow_redirects=False)
    assert client.get("/warnings").json() == ["Check your email."]
    assert client.get("/show").json()["messages"] == ["Saved."]


def test_pending_messages_are_bounded(anyio_backend: str) -> None:
    client = make_client(anyio_backend)
    client.get("/many")
    messages = client.get("/show").json()["messages"]
    assert len(messages) == MAX_PENDING
    assert messages[-1] == f"m{MAX_PENDING + 9}"


def test_malformed_storage_is_ignored(anyio_backend: str) -> None:
    client = make_client(anyio_backend)
    client.get("/raw")
    assert client.get("/show").json()["messages"] == ["good"]


def test_without_session_middleware_is_a_clear_error() -> None:
    request = Request({"type": "http", "method": "GET", "headers": [], "path": "/"})
    with pytest.raises(RuntimeError, match="install SessionMiddleware"):
        flash(request, "x")
    with pytest.raises(RuntimeError, match="install SessionMiddleware"):
        get_flashed_messages(request)


def test_non_string_message_refused() -> None:
    request = Request({"type": "http", "method": "GET", "headers": [], "path": "/", "session": {}})
    with pytest.raises(TypeError):
        flash(request, {"not": "a string"})  # type: ignore[arg-type]


def test_templates_global_and_context_processor(tmp_path: Path, anyio_backend: str) -> None:
    (tmp_path / "global.html").write_text(
        "{% for category, text in get_flashed_messages(request, with_categories=True) %}"
        "[{{ category }}:{{ text }}]{% endfor %}"
    )
    (tmp_path / "bound.html").write_text(
        "{% if get_flashed_messages() %}{% for text in get_flashed_messages() %}<{{ text }}>{% endfor %}{% endif %}"
    )
    by_global = Jinja2Templates(directory=str(tmp_path))
    by_global.env.globals["get_flashed_messages"] = get_flashed_messages
    by_processor = Jinja2Templates(directory=str(tmp_path), context_processors=[flash_context])

    async def page_global(request: Request) -> Response:
        return by_global.TemplateResponse(request, "global.html")

    async def page_bound(request: Request) -> Response:
        return by_processor.TemplateResponse(request, "bound.html")

    client = make_client(anyio_backend, Route("/g", page_global), Route("/b", page_bound))
    client.post("/save", follow_redirects=False)
    assert client.get("/g").text == "[info:Saved.][warning:Check your email.]"
    assert client.get("/g").text == ""
    client.post("/save", follow_redirects=False)
    assert client.get("/b").text == "<Saved.><Check your email.>"
    assert client.get("/b").text == ""
