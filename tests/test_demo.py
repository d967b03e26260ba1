"""Every page of the cheat-sheet demo (``examples/cheatsheet``) through lyre's TestClient."""

from __future__ import annotations

import re
import struct
import sys
import zlib
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `examples` is a top-level package of the checkout, not installed
    sys.path.insert(0, str(REPO))

from examples.cheatsheet.app import ITEMS, app  # noqa: E402
from lyre import cli  # noqa: E402
from lyre.exceptions import StarletteDeprecationWarning  # noqa: E402
from lyre.routing import BaseRoute, Mount, Route  # noqa: E402
from lyre.testclient import TestClient  # noqa: E402


@pytest.fixture(params=["asyncio", "trio"])
def client(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """The demo behind a TestClient (lifespan run), on asyncio and on trio."""
    with TestClient(app, follow_redirects=False, backend=request.param) as c:
        yield c


def _text(html: str, element_id: str) -> str:
    """The text inside the element with ``id=element_id`` (tags stripped)."""
    match = re.search(rf'id="{re.escape(element_id)}"[^>]*>(.*?)</', html, re.S)
    assert match, f"no element #{element_id} in the page"
    return unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


def _png(width: int = 8, height: int = 8) -> bytes:
    rows = b"".join(b"\x00" + bytes((x * 30) % 256 for x in range(width * 3)) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# --- home (item 5b: the old TemplateResponse form) ---------------------------------------------


def test_home_uses_the_old_template_form_and_links_every_item(client: TestClient) -> None:
    with pytest.warns(StarletteDeprecationWarning, match="TemplateResponse"):
        response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-extra-key"] == "value"
    hrefs = dict(re.findall(r'id="item-(\d+)" href="([^"]+)"', response.text))
    assert sorted(map(int, hrefs)) == list(range(1, 18))
    assert hrefs["1"] == "http://testserver/query?name=Bo%20Z&amp;t=1&amp;t=2"
    assert hrefs["2"] == "http://testserver/post/42"
    # every link on the home page leads to a working page
    for n, href in hrefs.items():
        page = client.get(href.replace("&amp;", "&"))
        assert page.status_code in (200, 303), (n, href, page.status_code)
    assert [item["n"] for item in ITEMS] == list(range(1, 18))


def test_middleware_headers_on_every_page(client: TestClient) -> None:
    for path in ("/json", "/query", "/no/such/page", "/static/style.css"):
        response = client.get(path)
        assert response.headers["x-author"] == "John", path
        assert response.headers["x-saw-host"] == "testserver", path


# --- 1-5 ---------------------------------------------------------------------------------------


def test_query_page(client: TestClient) -> None:
    response = client.get("/query?name=Bo%20Z&t=1&t=2")
    assert response.status_code == 200
    assert _text(response.text, "name") == "'Bo Z'"
    assert _text(response.text, "tags") == "['1', '2']"
    response = client.get("/query")
    assert _text(response.text, "name") == "None" and _text(response.text, "tags") == "[]"


def test_query_page_escapes_input(client: TestClient) -> None:
    response = client.get("/query", params={"name": "<script>alert(1)</script>"})
    assert "<script>alert" not in response.text


def test_post_page(client: TestClient) -> None:
    response = client.get("/post/42")
    assert _text(response.text, "postid") == "42"
    assert _text(response.text, "type") == "str"
    response = client.get("/post/42/x")
    assert response.status_code == 404
    assert _text(response.text, "error-title") == "My 404 page"


def test_form_pages(client: TestClient) -> None:
    assert client.get("/form").status_code == 200
    response = client.post("/form/submit", data={"name": "Bo"})
    assert response.status_code == 200
    assert _text(response.text, "result") == "Bo"
    response = client.get("/form/submit")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_upload_page_shows_name_type_size_and_preview(client: TestClient) -> None:
    assert client.get("/upload").status_code == 200
    png = _png()
    response = client.post("/upload", files={"filename": ("abc.png", png, "image/png")})
    assert response.status_code == 200
    assert _text(response.text, "filename") == "abc.png"
    assert _text(response.text, "content-type") == "image/png"
    assert _text(response.text, "size") == f"{len(png)} bytes"
    assert 'src="data:image/png;base64,' in response.text


def test_upload_page_without_preview_for_other_types(client: TestClient) -> None:
    response = client.post("/upload", files={"filename": ("notes.txt", b"hello", "text/plain")})
    assert _text(response.text, "size") == "5 bytes"
    assert 'id="preview"' not in response.text
    # an SVG is never inlined (it could carry script)
    response = client.post("/upload", files={"filename": ("x.svg", b"<svg/>", "image/svg+xml")})
    assert 'id="preview"' not in response.text


def test_upload_without_a_file_is_a_400(client: TestClient) -> None:
    response = client.post("/upload", data={"other": "x"})
    assert response.status_code == 400
    assert _text(response.text, "error") == "Choose a file first."


def test_templates_page_url_for(client: TestClient) -> None:
    response = client.get("/templates")
    assert response.status_code == 200
    assert _text(response.text, "name") == "Bo"
    assert _text(response.text, "home-url") == "http://testserver/"
    assert _text(response.text, "post-url") == "http://testserver/post/7"
    assert 'href="http://testserver/static/style.css"' in response.text


def test_static_css(client: TestClient) -> None:
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")


# --- 6-8 ---------------------------------------------------------------------------------------


def test_json_and_custom_responses(client: TestClient) -> None:
    response = client.get("/json")
    assert (response.content, response.headers["content-type"]) == (b'{"name":"Bo"}', "application/json")
    assert client.get("/responses").status_code == 200
    response = client.get("/responses/json")
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"name": "Bo", "langs": ["python", "sql"]}
    response = client.get("/responses/custom")
    assert (response.status_code, response.text, response.headers["x-extra-key"]) == (404, "gone", "value")
    response = client.get("/responses/created")
    assert (response.status_code, response.json(), response.headers["x-extra-key"]) == (
        201,
        {"created": True},
        "v2",
    )


def test_redirects(client: TestClient) -> None:
    assert client.get("/redirects").status_code == 200
    response = client.get("/redirects/303")
    assert (response.status_code, response.headers["location"]) == (303, "http://testserver/redirects/target")
    response = client.get("/redirects/default")
    assert (response.status_code, response.headers["location"]) == (307, "http://testserver/redirects/target")
    response = client.get("/redirects/default", follow_redirects=True)
    assert response.status_code == 200 and _text(response.text, "redirected") == "You were redirected here"


# --- 9-10, 13 ----------------------------------------------------------------------------------


def test_cookie_pages() -> None:
    # The cookie is Secure (as in the cheat-sheet), so the client only sends it back over https.
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        assert _text(client.get("/cookie").text, "cookie-value") == "None"
        response = client.post("/cookie/set", data={"value": "hello"})
        assert (response.status_code, response.headers["location"]) == (
            303,
            "https://testserver/cookie?set=1",
        )
        assert (
            response.headers["set-cookie"]
            == "mycookie=hello; HttpOnly; Max-Age=60; Path=/; SameSite=lax; Secure"
        )
        assert _text(client.get("/cookie").text, "cookie-value") == "'hello'"
        response = client.post("/cookie/delete")
        assert response.status_code == 303
        assert response.headers["set-cookie"].startswith('mycookie=""; expires=')
        assert _text(client.get("/cookie").text, "cookie-value") == "None"


def test_cookie_set_defaults_to_value(client: TestClient) -> None:
    response = client.post("/cookie/set", data={"value": "   "})
    assert response.headers["set-cookie"].startswith("mycookie=value;")


def test_login_account_logout(client: TestClient) -> None:
    response = client.get("/account")
    assert (response.status_code, response.headers["location"]) == (303, "http://testserver/signin")
    assert client.get("/signin").status_code == 200

    response = client.post("/signin", data={"username": "  "})
    assert response.status_code == 400
    assert _text(response.text, "error") == "Enter a name of 1 to 50 characters."
    assert client.post("/signin", data={"username": "x" * 51}).status_code == 400

    response = client.post("/signin", data={"username": "bo"})
    assert (response.status_code, response.headers["location"]) == (303, "http://testserver/account")
    page = client.get("/account")
    assert page.status_code == 200
    assert _text(page.text, "account-user") == "bo"
    assert _text(page.text, "who") == "bo"
    response = client.get("/account", headers={"x-requested-with": "XMLHttpRequest"})
    assert response.json() == {"user": "bo", "x-requested-with": "XMLHttpRequest"}
    response = client.post("/account")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"

    response = client.post("/logout")
    assert (response.status_code, response.headers["location"]) == (303, "http://testserver/")
    assert client.get("/account").status_code == 303
    assert client.get("/logout").status_code == 405  # logging out changes state: POST only


def test_user_name_is_escaped(client: TestClient) -> None:
    client.post("/signin", data={"username": "<b>x</b>"})
    assert "<b>x</b>" not in client.get("/account").text


# --- 11-12 -------------------------------------------------------------------------------------


def test_request_page(client: TestClient) -> None:
    response = client.get("/request?kw=hello", headers={"user-agent": "UA/1"})
    assert response.status_code == 200
    html = response.text
    assert "http://testserver/request?kw=hello" in html
    assert "UA/1" in html and "testclient" in html  # the user-agent header and the client host


def test_request_page_post_json() -> None:
    with TestClient(app, base_url="https://example.com:8080", client=("10.1.2.3", 53102)) as client:
        response = client.post("/request?kw=hello", json={"a": 1}, headers={"user-agent": "UA/1"})
    facts = response.json()
    assert facts["str(request.url)"] == "https://example.com:8080/request?kw=hello"
    assert facts["request.url.port"] == 8080 and facts["request.url.is_secure"] is True
    assert (facts["request.client.host"], facts["request.client.port"]) == ("10.1.2.3", 53102)
    assert facts["json"] == {"a": 1} and facts["body_length"] == len(b'{"a":1}')
    assert facts["request.scope['raw_path']"] == "/request"
    assert facts["request.method"] == "POST" and facts["request.scope['type']"] == "http"


def test_request_page_post_bad_json_is_a_400(client: TestClient) -> None:
    response = client.post("/request", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.text == "Send a JSON body."


def test_state_page(client: TestClient) -> None:
    html = client.get("/state").text
    assert _text(html, "dbconn") == "conn-1"
    assert float(_text(html, "start-time")) > 0
    assert _text(html, "saw-host") == "testserver"
    assert _text(html, "state-name") == "Bo"


# --- 14 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status_code"), [("/errors/403", 403), ("/errors/503", 503), ("/nope", 404)]
)
def test_custom_error_pages(client: TestClient, path: str, status_code: int) -> None:
    response = client.get(path)
    assert response.status_code == status_code
    assert _text(response.text, "error-title") == f"My {status_code} page"


def test_custom_500_page() -> None:
    assert TestClient(app).get("/errors").status_code == 200
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/errors/500")
    assert response.status_code == 500
    assert "My 500 page" in response.text
    with pytest.raises(RuntimeError, match="on purpose"):
        TestClient(app).get("/errors/500")


# --- 15-16 -------------------------------------------------------------------------------------


def test_background_file_is_deleted_after_the_response(client: TestClient) -> None:
    assert client.get("/background").status_code == 200
    response = client.post("/background/file")
    assert response.status_code == 200
    path = re.search(r"Wrote (\S+);", response.text)
    assert path
    assert not Path(path.group(1)).exists()
    log = client.get("/background").text
    assert f"background task deleted {path.group(1)}" in log
    assert f"wrote {path.group(1)}" in log


def test_background_tasks_run_in_order(client: TestClient) -> None:
    assert client.post("/background/tasks").status_code == 200
    log = client.get("/background").text
    first = log.index("task1 (async) says hello to John")
    second = log.index("task2 (sync, in a thread) would mail john@example.com")
    assert second < first  # the log is newest first


def test_middleware_page_and_hi(client: TestClient) -> None:
    assert client.get("/middleware").status_code == 200
    response = client.get("/hi")
    assert response.text == "hi"
    assert response.headers["x-author"] == "John"
    assert response.headers["x-saw-host"] == "testserver"


# --- the whole app -----------------------------------------------------------------------------


def test_every_get_page_answers(client: TestClient) -> None:
    """Each GET route (with sample parameters) renders without a server error."""
    seen = []
    routes: list[tuple[BaseRoute, str]] = [(route, getattr(route, "path", "")) for route in app.routes]
    for mount in app.routes:
        if isinstance(mount, Mount) and mount.path == "/beyond":
            routes += [(route, mount.path + getattr(route, "path", "")) for route in mount.routes]
    for route, full_path in routes:
        if isinstance(route, Route) and route.methods and "GET" in route.methods:
            path = full_path.replace("{postid}", "1")
            if path == "/errors/500":  # raises in the test client; covered by test_custom_500_page
                continue
            if path == "/":
                with pytest.warns(StarletteDeprecationWarning):
                    response = client.get(path)
            else:
                response = client.get(path)
            seen.append(path)
            expected = {
                "/errors/403": 403,
                "/errors/503": 503,
                "/account": 303,
                "/responses/custom": 404,
                "/responses/created": 201,
                "/redirects/303": 303,
                "/redirects/default": 307,
                "/favicon.ico": 301,
            }.get(path, 200)
            assert response.status_code == expected, path
        elif isinstance(route, Mount):
            assert route.path in ("/static", "/beyond")
    assert len(seen) >= 25
    assert {"/beyond/login", "/beyond/notes", "/beyond/compression"} <= set(seen)


def test_routes_command_on_the_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["routes", "examples.cheatsheet.app:app"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert ["GET,HEAD", "/", "home", "examples.cheatsheet.app.home"] in rows
    assert ["POST", "/form/submit", "form_submit", "examples.cheatsheet.app.form_submit"] in rows
    assert ["GET,HEAD", "/account", "account", "examples.cheatsheet.app.MyAccount"] in rows
    assert ["*", "/static/{path:path}", "static", "lyre.staticfiles.StaticFiles"] in rows


def test_behind_a_path_prefix() -> None:
    """Served with ``--root-path /demo``: every generated link carries the prefix."""
    with TestClient(app, root_path="/demo", follow_redirects=False) as client:
        page = client.get("/demo/templates")
        assert _text(page.text, "home-url") == "http://testserver/demo/"
        assert 'href="http://testserver/demo/static/style.css"' in page.text
        assert client.get("/demo/static/style.css").status_code == 200
        response = client.get("/demo/account")
        assert response.headers["location"] == "http://testserver/demo/signin"
    with TestClient(app, root_path="/demo", raise_server_exceptions=False) as client:
        assert 'href="http://testserver/demo/"' in client.get("/demo/errors/500").text


# --- demo fixes: labels, wrapping tables, cookie hint, error pages, WebSocket, favicon ----------


def test_request_page_labels_are_the_expressions(client: TestClient) -> None:
    html = client.get("/request?kw=hello").text
    labels = re.findall(r"<th><code>(.*?)</code></th>", html)
    assert unescape(labels[0]) == "str(request.url)"
    assert "request.url.scheme" in labels and "request.method" in labels
    assert not any(label.startswith("request.str(") for label in labels)


def test_request_page_tables_wrap_instead_of_overflowing(client: TestClient) -> None:
    html = client.get("/request", headers={"user-agent": "x" * 500}).text
    assert '<table id="facts" class="kv">' in html and '<table id="headers" class="kv">' in html
    css = client.get("/static/style.css").text
    assert "table.kv { width: 100%; table-layout: fixed; }" in css
    assert "overflow-wrap: anywhere" in css
    assert "@media (max-width: 40rem)" in css  # on a phone each row stacks name above value


@pytest.mark.parametrize("base_url", ["http://192.168.1.20:8000", "http://demo.example:8000"])
def test_cookie_page_explains_the_secure_cookie_over_plain_http(base_url: str) -> None:
    with TestClient(app, base_url=base_url) as client:
        html = client.get("/cookie").text
        hint = _text(html, "cookie-hint")
        assert "browsers keep a Secure cookie only over https (or on localhost)" in hint
        assert "http://localhost:8000/" in hint
        # Setting it: the browser (here the test client) does not send it back, and the page says so.
        page = client.post("/cookie/set", data={"value": "hello"})
        assert page.url.path == "/cookie" and page.url.query == b"set=1"
        assert _text(page.text, "cookie-value") == "None"
        assert "did not send it back" in _text(page.text, "cookie-lost")


@pytest.mark.parametrize(
    "base_url",
    ["http://localhost:8000", "http://127.0.0.1:8000", "http://[::1]:8000", "https://demo.example"],
)
def test_cookie_page_has_no_hint_where_the_cookie_works(base_url: str) -> None:
    with TestClient(app, base_url=base_url) as client:
        html = client.get("/cookie").text
    assert 'id="cookie-hint"' not in html and 'id="cookie-lost"' not in html


def test_405_page_is_styled_and_keeps_allow(client: TestClient) -> None:
    response = client.get("/form/submit")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert _text(response.text, "error-title") == "My 405 page"
    assert "style.css" in response.text and "GET" in response.text
    endpoint = client.post("/account")  # an HTTPEndpoint without `post`
    assert endpoint.status_code == 405 and _text(endpoint.text, "error-title") == "My 405 page"


def test_500_page_has_the_layout_of_the_others() -> None:
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/errors/500")
    assert response.status_code == 500
    html = response.text
    assert _text(html, "error-title") == "My 500 page"
    assert '<header><a class="brand"' in html and "<footer>" in html
    assert 'rel="stylesheet" href="http://testserver/static/style.css"' in html
    assert 'name="viewport"' in html and "favicon.svg" in html
    assert "RuntimeError" not in html and "on purpose" not in html  # no internals leak


def test_503_page_shows_its_detail(client: TestClient) -> None:
    response = client.get("/errors/503")
    assert response.status_code == 503
    assert _text(response.text, "error-detail") == "Down for maintenance"
    # A detail that only repeats the status phrase is not shown twice.
    assert 'id="error-detail"' not in client.get("/errors/403").text


def test_websocket_item(client: TestClient) -> None:
    page = client.get("/websocket")
    assert page.status_code == 200
    assert 'id="ws-status"' in page.text and 'new URL("ws://testserver/ws")' in page.text
    with client.websocket_connect("/ws") as websocket:
        assert websocket.receive_text() == "connected: send a message"
        websocket.send_text("hello")
        assert websocket.receive_text() == "echo: hello"
        websocket.send_text("again")
        assert websocket.receive_text() == "echo: again"
    home = client.get("/templates")  # any page: the home page is checked by the item-list test
    assert home.status_code == 200


def test_favicon(client: TestClient) -> None:
    page = client.get("/templates").text
    assert '<link rel="icon" href="http://testserver/static/favicon.svg" type="image/svg+xml">' in page
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.startswith("<svg")
    redirect = client.get("/favicon.ico")
    assert (redirect.status_code, redirect.headers["location"]) == (
        301,
        "http://testserver/static/favicon.svg",
    )


def test_cheatsheet_source_is_in_the_repository() -> None:
    sheet = REPO / "examples" / "cheatsheet" / "CHEATSHEET.md"
    text = sheet.read_text()
    for item in ITEMS:
        assert f"## {item['n']}. " in text, item["title"]
