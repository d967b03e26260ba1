"""lyre.templating.Jinja2Templates: both TemplateResponse call forms, url_for, autoescape, context
processors, debug extension, missing templates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2
import pytest

from lyre.applications import Lyre
from lyre.background import BackgroundTask
from lyre.exceptions import StarletteDeprecationWarning
from lyre.requests import Request
from lyre.responses import HTMLResponse
from lyre.routing import Mount, Route
from lyre.templating import Jinja2Templates, pass_context
from lyre.testclient import TestClient
from lyre.types import Message


@pytest.fixture
def template_dir(tmp_path: Path) -> Path:
    (tmp_path / "home.html").write_text(
        "<h1>Hello {{ name }}</h1><a href=\"{{ url_for('home') }}\">home</a>"
        "<a href=\"{{ url_for('item', id=7) }}\">item</a>"
    )
    (tmp_path / "escape.html").write_text("{{ value }}")
    (tmp_path / "escape.txt").write_text("{{ value }}")
    (tmp_path / "loop.html").write_text("{% for i in items %}<li>{{ i }}</li>{% endfor %}")
    (tmp_path / "proc.html").write_text("{{ greeting }} {{ request.url.path }}")
    (tmp_path / "include_missing.html").write_text('{% include "nope.html" %}')
    return tmp_path


def make_app(templates: Jinja2Templates, endpoint: Any) -> Lyre:
    async def item(request: Request) -> HTMLResponse:
        return HTMLResponse("item")

    return Lyre(
        routes=[
            Route("/", endpoint, name="home"),
            Route("/items/{id:int}", item, name="item"),
        ]
    )


def scope_for(path: str = "/", extensions: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "root_path": "",
        "scheme": "http",
        "server": ("testserver", 80),
        "headers": [(b"host", b"testserver")],
        "query_string": b"",
        "extensions": extensions or {},
    }


def test_new_form_renders_with_url_for(template_dir: Path) -> None:
    """Cheat-sheet 5a, 5c, 5d."""
    templates = Jinja2Templates(directory=template_dir)

    async def home(request: Request) -> Any:
        return templates.TemplateResponse(request, "home.html", {"name": "Bo"})

    client = TestClient(make_app(templates, home))
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == (
        '<h1>Hello Bo</h1><a href="http://testserver/">home</a><a href="http://testserver/items/7">item</a>'
    )


def test_old_form_works_with_deprecation_warning(template_dir: Path) -> None:
    """Cheat-sheet 5b: name first, request inside the context, headers honoured."""
    templates = Jinja2Templates(directory=str(template_dir))
    seen: list[Any] = []

    async def home(request: Request) -> Any:
        with pytest.warns(StarletteDeprecationWarning, match=r"TemplateResponse\(request, name, context\)"):
            response = templates.TemplateResponse(
                "home.html", {"request": request, "name": "Bo"}, headers={"x-extra-key": "value"}
            )
        seen.append(response)
        return response

    client = TestClient(make_app(templates, home))
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["x-extra-key"] == "value"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert 'href="http://testserver/"' in response.text
    assert "Hello Bo" in response.text
    assert seen[0].template.name == "home.html"
    assert seen[0].context["name"] == "Bo"


def test_old_and_new_forms_render_identically(template_dir: Path) -> None:
    templates = Jinja2Templates(directory=template_dir)
    bodies: list[bytes | memoryview] = []

    async def home(request: Request) -> Any:
        new = templates.TemplateResponse(request, "home.html", {"name": "Bo"}, status_code=201)
        with pytest.warns(StarletteDeprecationWarning):
            old = templates.TemplateResponse("home.html", {"request": request, "name": "Bo"}, 201)
        with pytest.warns(StarletteDeprecationWarning):
            keywords = templates.TemplateResponse(
                name="home.html", context={"request": request, "name": "Bo"}
            )
        bodies.extend([new.body, old.body, keywords.body])
        assert new.status_code == old.status_code == 201
        assert new.raw_headers == old.raw_headers
        return new

    TestClient(make_app(templates, home)).get("/")
    assert bodies[0] == bodies[1] == bodies[2]


def test_old_form_without_request_is_a_value_error(template_dir: Path) -> None:
    templates = Jinja2Templates(directory=template_dir)
    with (
        pytest.warns(StarletteDeprecationWarning),
        pytest.raises(ValueError, match='context must include a "request" key'),
    ):
        templates.TemplateResponse("home.html", {"name": "Bo"})
    with pytest.warns(StarletteDeprecationWarning), pytest.raises(ValueError):
        templates.TemplateResponse("home.html")  # type: ignore[call-overload]


def test_bad_arguments_are_type_errors(template_dir: Path) -> None:
    templates = Jinja2Templates(directory=template_dir)
    request = Request(scope_for())
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        templates.TemplateResponse(request, "home.html", bogus=1)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="multiple values for argument 'name'"):
        templates.TemplateResponse(request, "home.html", name="x")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'name'"):
        templates.TemplateResponse(request=request)  # type: ignore[call-overload]


def test_context_handling(template_dir: Path) -> None:
    templates = Jinja2Templates(directory=template_dir)
    request = Request(scope_for())
    context: dict[str, Any] = {"value": "x"}
    response = templates.TemplateResponse(request, "escape.html", context)
    assert response.context is context
    assert context["request"] is request
    other_request = object()
    kept = {"value": "x", "request": other_request}
    assert templates.TemplateResponse(request, "escape.html", kept).context["request"] is other_request
    empty: dict[str, Any] = {}
    response = templates.TemplateResponse(request, "escape.html", empty)
    assert response.context is not empty
    assert response.context == {"request": request}


def test_context_processors_override_caller_keys(template_dir: Path) -> None:
    def processor(request: Request) -> dict[str, Any]:
        return {"greeting": "hi from processor"}

    templates = Jinja2Templates(directory=template_dir, context_processors=[processor])
    request = Request(scope_for("/p"))
    response = templates.TemplateResponse(request, "proc.html", {"greeting": "caller"})
    assert response.body == b"hi from processor /p"
    assert templates.context_processors == [processor]


def test_autoescape_on_for_html_off_for_txt(template_dir: Path) -> None:
    templates = Jinja2Templates(directory=template_dir)
    request = Request(scope_for())
    html = templates.TemplateResponse(request, "escape.html", {"value": "<script>&"})
    assert html.body == b"&lt;script&gt;&amp;"
    text = templates.TemplateResponse(request, "escape.txt", {"value": "<b>"})
    assert text.body == b"<b>"


def test_response_options(template_dir: Path) -> None:
    templates = Jinja2Templates(directory=template_dir)
    request = Request(scope_for())
    task = BackgroundTask(print)
    response = templates.TemplateResponse(
        request, "escape.html", {"value": 1}, 404, {"x-a": "b"}, "application/xhtml+xml", task
    )
    assert response.status_code == 404
    assert response.headers["x-a"] == "b"
    assert response.headers["content-type"] == "application/xhtml+xml"
    assert response.background is task
    assert isinstance(response, HTMLResponse)


def test_missing_template_names_the_template_and_directories(template_dir: Path) -> None:
    templates = Jinja2Templates(directory=[template_dir, template_dir / "other"])
    request = Request(scope_for())
    with pytest.raises(jinja2.TemplateNotFound) as info:
        templates.TemplateResponse(request, "missing.html")
    message = str(info.value)
    assert "missing.html" in message
    assert str(template_dir) in message and str(template_dir / "other") in message
    assert info.value.name == "missing.html"
    with pytest.raises(jinja2.TemplateNotFound, match="nope.html"):
        templates.TemplateResponse(request, "include_missing.html")


def test_missing_template_is_a_500_in_an_app(template_dir: Path) -> None:
    templates = Jinja2Templates(directory=template_dir)

    async def home(request: Request) -> Any:
        return templates.TemplateResponse(request, "missing.html")

    client = TestClient(make_app(templates, home), raise_server_exceptions=False)
    assert client.get("/").status_code == 500


def test_directory_or_env_required(template_dir: Path) -> None:
    with pytest.raises(AssertionError, match="either 'directory' or 'env' arguments must be passed"):
        Jinja2Templates()  # type: ignore[call-overload]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(template_dir))
    with pytest.raises(AssertionError, match="either 'directory' or 'env' arguments must be passed"):
        Jinja2Templates(directory=template_dir, env=env)  # type: ignore[call-overload]


def test_env_used_as_is_and_url_for_setdefault(template_dir: Path) -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(template_dir))
    templates = Jinja2Templates(env=env)
    assert templates.env is env
    assert "url_for" in env.globals
    request = Request(scope_for())
    # This env has no autoescape: the user configured it.
    assert templates.TemplateResponse(request, "escape.html", {"value": "<b>"}).body == b"<b>"

    custom = jinja2.Environment(loader=jinja2.FileSystemLoader(template_dir))
    custom.globals["url_for"] = "mine"
    Jinja2Templates(env=custom)
    assert custom.globals["url_for"] == "mine"


def test_old_env_options_form_is_accepted_with_warning(template_dir: Path) -> None:
    with pytest.warns(StarletteDeprecationWarning, match="env="):
        templates = Jinja2Templates(template_dir, trim_blocks=True)  # type: ignore[call-overload]
    assert templates.env.trim_blocks is True
    request = Request(scope_for())
    assert templates.TemplateResponse(request, "escape.html", {"value": "<"}).body == b"&lt;"


def test_url_for_in_mounted_app_honours_root_path_and_names(template_dir: Path) -> None:
    (template_dir / "sub.html").write_text("{{ url_for('sub:page', name='xy') }}|{{ url_for('top') }}")
    templates = Jinja2Templates(directory=template_dir)

    async def page(request: Request) -> Any:
        return templates.TemplateResponse(request, "sub.html")

    async def top(request: Request) -> Any:
        return HTMLResponse("top")

    app = Lyre(
        routes=[
            Route("/top", top, name="top"),
            Mount("/sub", routes=[Route("/{name}", page, name="page")], name="sub"),
        ]
    )
    # As a server behind a proxy sends it: ``path`` includes ``root_path``.
    scope = scope_for("/prefix/sub/abc")
    scope["root_path"] = "/prefix"
    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    import anyio

    anyio.run(app, scope, receive, send)
    assert messages[0]["status"] == 200
    assert messages[1]["body"] == b"http://testserver/prefix/sub/xy|http://testserver/prefix/top"


def test_debug_extension_message(template_dir: Path) -> None:
    templates = Jinja2Templates(directory=template_dir)
    request = Request(scope_for())
    response = templates.TemplateResponse(request, "escape.html", {"value": 1})
    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)

    async def receive() -> Message:
        raise AssertionError

    import anyio

    anyio.run(response, scope_for(extensions={"http.response.debug": {}}), receive, send)
    assert messages[0] == {
        "type": "http.response.debug",
        "info": {"template": response.template, "context": response.context},
    }
    assert [m["type"] for m in messages[1:]] == ["http.response.start", "http.response.body"]
    messages.clear()
    anyio.run(response, scope_for(), receive, send)
    assert [m["type"] for m in messages] == ["http.response.start", "http.response.body"]


def test_test_client_exposes_template_and_context(template_dir: Path) -> None:
    templates = Jinja2Templates(directory=template_dir)

    async def home(request: Request) -> Any:
        return templates.TemplateResponse(request, "loop.html", {"items": [1, 2]})

    response = TestClient(make_app(templates, home)).get("/")
    assert response.text == "<li>1</li><li>2</li>"
    assert response.template.name == "loop.html"  # type: ignore[attr-defined]
    assert response.context["items"] == [1, 2]  # type: ignore[attr-defined]


def test_pass_context_reexported() -> None:
    assert pass_context is jinja2.pass_context


def test_import_without_jinja2_is_a_clear_error() -> None:
    code = (
        "import sys; sys.modules['jinja2'] = None\n"
        "try:\n    import lyre.templating\nexcept ImportError as e:\n    print(e)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "jinja2 must be installed to use Jinja2Templates" in result.stdout
    assert "lyre-asgi[full]" in result.stdout


def test_env_options_with_env_is_a_type_error(template_dir: Path) -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(template_dir))
    with pytest.raises(TypeError, match="cannot be combined with 'env'"):
        Jinja2Templates(env=env, trim_blocks=True)  # type: ignore[call-overload]


def test_name_first_with_request_keyword(template_dir: Path) -> None:
    templates = Jinja2Templates(directory=template_dir)
    request = Request(scope_for())
    with pytest.warns(StarletteDeprecationWarning):
        response = templates.TemplateResponse("escape.html", {"value": "v"}, request=request)  # type: ignore[call-overload]
    assert response.body == b"v"
    assert response.context["request"] is request


def test_incidental_names_importable() -> None:
    import lyre.templating as module

    for (
        name
    ) in "BackgroundTask HTMLResponse Receive Request Scope Send URL Jinja2Templates pass_context".split():
        assert hasattr(module, name), name
