"""CSRFMiddleware: cookie issuance, header and form tokens (body replayed), origin check, helpers."""

from __future__ import annotations

import re
from typing import Any

import pytest

from lyre.applications import Lyre
from lyre.middleware import Middleware
from lyre.middleware.csrf import CSRFMiddleware, csrf_input, csrf_token
from lyre.requests import Request
from lyre.responses import JSONResponse, PlainTextResponse, Response
from lyre.routing import Route, WebSocketRoute
from lyre.testclient import TestClient
from lyre.websockets import WebSocket

SECRET = "test-secret-0123456789"


async def page(request: Request) -> Response:
    return PlainTextResponse(csrf_token(request))


async def form_page(request: Request) -> Response:
    return Response(str(csrf_input(request)), media_type="text/html")


async def submit(request: Request) -> Response:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    files = {k: (await v.read()).decode() for k, v in form.items() if not isinstance(v, str)}
    return JSONResponse({"fields": fields, "files": files})


async def raw(request: Request) -> Response:
    return PlainTextResponse(f"{request.method} {(await request.body()).decode()}")


async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("hi")
    await websocket.close()


def make_app(**options: Any) -> Lyre:
    return Lyre(
        routes=[
            Route("/", page, methods=["GET", "HEAD", "OPTIONS", "POST"]),
            Route("/form", form_page),
            Route("/submit", submit, methods=["POST"]),
            Route("/raw", raw, methods=["POST", "PUT", "DELETE", "PATCH"]),
            Route("/hook", raw, methods=["POST"]),
            Route("/hooks/{name}", raw, methods=["POST"]),
            WebSocketRoute("/ws", ws),
        ],
        middleware=[Middleware(CSRFMiddleware, secret=SECRET, **options)],
    )


@pytest.fixture
def client(anyio_backend: str) -> TestClient:
    return TestClient(make_app(), backend=anyio_backend)  # type: ignore[arg-type]


def prime(client: TestClient) -> str:
    response = client.get("/")
    assert response.status_code == 200
    return response.cookies["csrftoken"]


def test_safe_request_sets_cookie_and_endpoint_sees_same_token(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    token = response.cookies["csrftoken"]
    assert response.text == token
    header = response.headers["set-cookie"]
    assert "Path=/" in header and "SameSite=Lax" in header and "Max-Age=" in header
    assert "HttpOnly" not in header and "Secure" not in header


def test_valid_cookie_is_kept_not_reissued(client: TestClient) -> None:
    token = prime(client)
    response = client.get("/")
    assert "set-cookie" not in response.headers
    assert response.text == token


def test_head_and_options_issue_cookie(client: TestClient) -> None:
    assert "csrftoken" in client.head("/").cookies
    client.cookies.clear()
    assert "csrftoken" in client.options("/").cookies


def test_forged_cookie_is_replaced(client: TestClient) -> None:
    client.cookies.set("csrftoken", "a" * 43 + "." + "b" * 43)
    response = client.get("/")
    assert response.cookies["csrftoken"] != "a" * 43 + "." + "b" * 43
    assert response.text == response.cookies["csrftoken"]


def test_https_cookie_is_secure(anyio_backend: str) -> None:
    client = TestClient(make_app(), base_url="https://testserver", backend=anyio_backend)  # type: ignore[arg-type]
    assert "Secure" in client.get("/").headers["set-cookie"]


def test_cookie_options(anyio_backend: str) -> None:
    app = make_app(cookie_name="xsrf", cookie_httponly=True, cookie_samesite="strict", cookie_max_age=None)
    client = TestClient(app, backend=anyio_backend)  # type: ignore[arg-type]
    header = client.get("/").headers["set-cookie"]
    assert header.startswith("xsrf=")
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Max-Age" not in header


def test_post_without_cookie_is_403(client: TestClient) -> None:
    response = client.post("/raw", content=b"x")
    assert response.status_code == 403
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert "csrftoken cookie is missing" in response.text


def test_post_without_token_is_403(client: TestClient) -> None:
    prime(client)
    response = client.post("/raw", content=b"x")
    assert response.status_code == 403
    assert "token missing" in response.text and "X-CSRF-Token" in response.text


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_header_token_passes_and_body_reaches_app(client: TestClient, method: str) -> None:
    token = prime(client)
    response = client.request(method, "/raw", content=b"payload", headers={"X-CSRF-Token": token})
    assert response.status_code == 200
    assert response.text == f"{method} payload"


def test_header_token_mismatch_is_403(client: TestClient) -> None:
    prime(client)
    other = TestClient(make_app()).get("/").cookies["csrftoken"]  # valid signature, another client
    response = client.post("/raw", headers={"X-CSRF-Token": other})
    assert response.status_code == 403
    assert "does not match" in response.text


def test_token_signed_with_another_secret_is_403(client: TestClient) -> None:
    prime(client)
    app = Lyre(routes=[Route("/", page)], middleware=[Middleware(CSRFMiddleware, secret="other")])
    foreign = TestClient(app).get("/").text
    response = client.post("/raw", headers={"X-CSRF-Token": foreign})
    assert response.status_code == 403
    assert "invalid" in response.text


def test_garbage_token_is_403(client: TestClient) -> None:
    prime(client)
    for bad in ["", "x", "é" * 100, "a.b", "x" * 10_000]:
        response = client.post("/raw", headers={b"X-CSRF-Token": bad.encode("utf-8")})
        assert response.status_code == 403


def test_urlencoded_form_token_and_fields_reach_endpoint(client: TestClient) -> None:
    token = prime(client)
    response = client.post("/submit", data={"name": "Ada", "csrf_token": token, "z": "1"})
    assert response.status_code == 200
    assert response.json()["fields"] == {"name": "Ada", "csrf_token": token, "z": "1"}


def test_urlencoded_form_wrong_token(client: TestClient) -> None:
    token = prime(client)
    last = "B" if token.endswith("A") else "A"  # always a different token
    response = client.post("/submit", data={"csrf_token": token[:-1] + last})
    assert response.status_code == 403


def test_multipart_form_token_body_replayed(client: TestClient) -> None:
    token = prime(client)
    files = {"upload": ("a.txt", b"file content" * 1000, "text/plain")}
    response = client.post("/submit", data={"csrf_token": token, "title": "t"}, files=files)
    assert response.status_code == 200
    body = response.json()
    assert body["fields"] == {"csrf_token": token, "title": "t"}
    assert body["files"] == {"upload": "file content" * 1000}


def test_multipart_token_after_file(client: TestClient) -> None:
    token = prime(client)
    files = {"upload": ("a.txt", b"data", "text/plain")}
    # httpx puts data fields first; build the body by hand with the token last.
    boundary = "XyZ"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="upload"; filename="a.txt"\r\n\r\ndata\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    del files
    response = client.post(
        "/submit", content=body, headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 200
    assert response.json()["files"] == {"upload": "data"}


def test_multipart_file_named_like_token_is_not_token(client: TestClient) -> None:
    token = prime(client)
    files = {"csrf_token": ("t.txt", token.encode(), "text/plain")}
    assert client.post("/submit", files=files).status_code == 403


def test_malformed_multipart_is_403_not_500(client: TestClient) -> None:
    prime(client)
    for content_type in [
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=a",
    ]:
        response = client.post(
            "/submit", content=b"garbage\r\n--a\r\nbroken", headers={"content-type": content_type}
        )
        assert response.status_code == 403


def test_other_content_type_needs_header(client: TestClient) -> None:
    token = prime(client)
    response = client.post("/raw", json={"csrf_token": token})
    assert response.status_code == 403


def test_form_over_body_limit_is_413(anyio_backend: str) -> None:
    app = make_app()
    app.max_body_size = 1000  # type: ignore[attr-defined]
    client = TestClient(app, backend=anyio_backend)  # type: ignore[arg-type]
    token = prime(client)
    response = client.post("/submit", data={"csrf_token": token, "big": "x" * 5000})
    assert response.status_code == 413


def test_own_max_body_size_without_lyre_limit(anyio_backend: str) -> None:
    inner = Lyre(routes=[Route("/", page, methods=["GET", "POST"])], max_body_size=None)
    app = CSRFMiddleware(inner, SECRET, max_body_size=100)
    client = TestClient(app, backend=anyio_backend)  # type: ignore[arg-type]
    token = client.get("/").text
    response = client.post("/", data={"big": "x" * 500, "csrf_token": token})
    assert response.status_code == 413


def test_exempt_paths(anyio_backend: str) -> None:
    app = make_app(exempt_paths=["/hook", re.compile(r"/hooks/.+")])
    client = TestClient(app, backend=anyio_backend)  # type: ignore[arg-type]
    assert client.post("/hook", content=b"a").text == "POST a"
    assert client.post("/hooks/github", content=b"b").text == "POST b"
    assert client.post("/raw", content=b"c").status_code == 403


def test_cross_origin_is_403_even_with_token(client: TestClient) -> None:
    token = prime(client)
    headers = {"X-CSRF-Token": token, "Origin": "https://evil.example"}
    response = client.post("/raw", headers=headers)
    assert response.status_code == 403
    assert "another origin (Origin: https://evil.example)" in response.text


def test_same_origin_passes(client: TestClient) -> None:
    token = prime(client)
    for origin in ["http://testserver", "HTTP://TestServer:80"]:
        response = client.post("/raw", headers={"X-CSRF-Token": token, "Origin": origin})
        assert response.status_code == 200, origin


def test_other_port_or_scheme_is_cross_origin(client: TestClient) -> None:
    token = prime(client)
    for origin in ["https://testserver", "http://testserver:8080", "null", "garbage", "http://[::1"]:
        response = client.post("/raw", headers={"X-CSRF-Token": token, "Origin": origin})
        assert response.status_code == 403, origin


def test_referer_used_without_origin(client: TestClient) -> None:
    token = prime(client)
    ok = client.post("/raw", headers={"X-CSRF-Token": token, "Referer": "http://testserver/form?x=1"})
    assert ok.status_code == 200
    bad = client.post("/raw", headers={"X-CSRF-Token": token, "Referer": "http://evil.example/"})
    assert bad.status_code == 403 and "Referer" in bad.text


def test_trusted_origin(anyio_backend: str) -> None:
    client = TestClient(make_app(trusted_origins=["https://admin.example:8443"]), backend=anyio_backend)  # type: ignore[arg-type]
    token = prime(client)
    response = client.post("/raw", headers={"X-CSRF-Token": token, "Origin": "https://admin.example:8443"})
    assert response.status_code == 200


def test_check_origin_off(anyio_backend: str) -> None:
    client = TestClient(make_app(check_origin=False), backend=anyio_backend)  # type: ignore[arg-type]
    token = prime(client)
    response = client.post("/raw", headers={"X-CSRF-Token": token, "Origin": "https://evil.example"})
    assert response.status_code == 200


def test_bad_configuration() -> None:
    with pytest.raises(ValueError):
        CSRFMiddleware(make_app(), "")
    with pytest.raises(ValueError):
        CSRFMiddleware(make_app(), SECRET, trusted_origins=["example.com"])
    with pytest.raises(ValueError):
        CSRFMiddleware(make_app(), SECRET, cookie_samesite="sometimes")
    for name in ["", "a;b", "a=b", "a b", "a\r\nSet-Cookie: x"]:
        with pytest.raises(ValueError, match="cookie_name"):
            CSRFMiddleware(make_app(), SECRET, cookie_name=name)
    with pytest.raises(ValueError, match="cookie_path"):
        CSRFMiddleware(make_app(), SECRET, cookie_path="/; Domain=evil")
    with pytest.raises(ValueError, match="cookie_domain"):
        CSRFMiddleware(make_app(), SECRET, cookie_domain="a\nb")
    CSRFMiddleware(
        make_app(), SECRET, cookie_name="__Host-csrf", cookie_path="/app", cookie_domain="example.com"
    )


def test_websocket_passes_through(client: TestClient) -> None:
    with client.websocket_connect("/ws") as websocket:
        assert websocket.receive_text() == "hi"


def test_csrf_input_is_escaped_markup(client: TestClient) -> None:
    response = client.get("/form")
    token = response.cookies["csrftoken"]
    assert response.text == f'<input type="hidden" name="csrf_token" value="{token}">'


def test_helpers_without_middleware_raise() -> None:
    request = Request({"type": "http", "method": "GET", "headers": [], "path": "/"})
    with pytest.raises(RuntimeError, match="CSRFMiddleware"):
        csrf_token(request)


def test_jinja2_template_helper(tmp_path: Any, anyio_backend: str) -> None:
    from lyre.templating import Jinja2Templates

    (tmp_path / "f.html").write_text("<form>{{ csrf_input(request) }}</form>")
    templates = Jinja2Templates(directory=str(tmp_path))
    templates.env.globals["csrf_input"] = csrf_input

    async def view(request: Request) -> Response:
        return templates.TemplateResponse(request, "f.html")

    app = Lyre(routes=[Route("/", view)], middleware=[Middleware(CSRFMiddleware, secret=SECRET)])
    response = TestClient(app, backend=anyio_backend).get("/")  # type: ignore[arg-type]
    token = response.cookies["csrftoken"]
    assert response.text == f'<form><input type="hidden" name="csrf_token" value="{token}"></form>'


def test_hostile_headers_give_403_never_500(client: TestClient) -> None:
    import random

    token = prime(client)
    rng = random.Random(17)
    pieces = [
        "http",
        "://",
        "[",
        "]",
        ":",
        "99999",
        "evil",
        ".",
        "/",
        "%",
        "\xff",
        " ",
        "null",
        "testserver",
        "@",
    ]
    for _ in range(200):
        value = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8))).encode("latin-1")
        for name in (b"origin", b"referer"):
            response = client.post("/raw", headers={b"x-csrf-token": token.encode(), name: value})
            assert response.status_code in (200, 403)
        response = client.post("/raw", headers={b"x-csrf-token": value, b"cookie": b"csrftoken=" + value})
        assert response.status_code == 403


def test_form_with_percent_encoded_and_repeated_fields(client: TestClient) -> None:
    token = prime(client)
    body = f"csrf%5Ftoken={token}&csrf_token=other".encode()
    response = client.post(
        "/submit", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 200  # the first field of that name is the one checked
    bad = f"csrf_token=%ZZ&x={token}".encode()
    assert (
        client.post(
            "/submit", content=bad, headers={"content-type": "application/x-www-form-urlencoded"}
        ).status_code
        == 403
    )
