"""lyre.routing and lyre.convertors: templates, matching, the route index, reverse URLs."""

from __future__ import annotations

import functools
import random
import uuid
from typing import Any

import pytest

from lyre.applications import Lyre
from lyre.convertors import CONVERTOR_TYPES, Convertor, register_url_convertor
from lyre.datastructures import URLPath
from lyre.requests import Request
from lyre.responses import JSONResponse, PlainTextResponse, Response
from lyre.routing import (
    BaseRoute,
    Host,
    Match,
    Mount,
    NoMatchFound,
    Route,
    Router,
    WebSocketRoute,
    compile_path,
    get_name,
    replace_params,
)
from lyre.testclient import TestClient
from lyre.types import Receive, Scope, Send


def echo(request: Request) -> Response:
    return JSONResponse(
        {
            "path_params": {k: str(v) for k, v in request.path_params.items()},
            "root_path": request.scope.get("root_path", ""),
            "app_root_path": request.scope.get("app_root_path"),
            "endpoint": get_name(request.scope["endpoint"]),
        }
    )


async def homepage(request: Request) -> Response:
    return PlainTextResponse("home")


# ---------------------------------------------------------------- templates and convertors


def test_compile_path_regex_and_format() -> None:
    regex, fmt, convs = compile_path("/u/{id:int}/{name}")
    assert regex.pattern == "^/u/(?P<id>[0-9]+)/(?P<name>[^/]+)$"
    assert fmt == "/u/{id}/{name}"
    assert set(convs) == {"id", "name"}


def test_compile_path_host_template_drops_port_and_ignores_case() -> None:
    regex, fmt, _ = compile_path("{sub}.ex.com:8000")
    assert regex.pattern == r"^(?P<sub>[^/]+)\.ex\.com$"
    assert fmt == "{sub}.ex.com:8000"
    assert regex.match("API.EX.COM")
    regex6, _, _ = compile_path("[::1]")
    assert regex6.match("[::1]")


def test_compile_path_errors() -> None:
    with pytest.raises(AssertionError, match="Unknown path convertor 'nope'"):
        compile_path("/{x:nope}")
    with pytest.raises(ValueError, match=r"^Duplicated param name id at path /\{id\}/\{id\}$"):
        compile_path("/{id}/{id}")
    with pytest.raises(ValueError, match=r"^Duplicated param names id, name at path "):
        compile_path("/{id}/{name}/{id}/{name}")


def test_literal_braces_are_text() -> None:
    regex, _, convs = compile_path("/a/{1x}")
    assert convs == {}
    assert regex.match("/a/{1x}")


def test_convertor_to_string() -> None:
    f = CONVERTOR_TYPES["float"]
    assert [f.to_string(v) for v in (1.5, 2.0, 0.1, 1e-7)] == [
        "1.5",
        "2",
        "0.10000000000000000555",
        "0.0000001",
    ]
    with pytest.raises(AssertionError, match="Negative floats are not supported"):
        f.to_string(-1.0)
    with pytest.raises(AssertionError, match="NaN values are not supported"):
        f.to_string(float("nan"))
    with pytest.raises(AssertionError, match="Infinite values are not supported"):
        f.to_string(float("inf"))
    with pytest.raises(AssertionError, match="Negative integers are not supported"):
        CONVERTOR_TYPES["int"].to_string(-1)
    with pytest.raises(AssertionError, match="May not contain path separators"):
        CONVERTOR_TYPES["str"].to_string("a/b")
    with pytest.raises(AssertionError, match="Must not be empty"):
        CONVERTOR_TYPES["str"].to_string("")
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert CONVERTOR_TYPES["uuid"].to_string(u) == str(u)


def test_replace_params_is_single_pass() -> None:
    convs = compile_path("/{a}/{b}")[2]
    params = {"a": "{b}", "b": "x", "extra": "1"}
    path, rest = replace_params("/{a}/{b}", convs, params)
    assert path == "/{b}/x"
    assert rest == {"extra": "1"}


def test_get_name() -> None:
    class C:
        def __call__(self) -> None: ...

    assert get_name(homepage) == "homepage"
    assert get_name(C()) == "C"
    assert get_name(functools.partial(homepage)) == "partial"


def test_no_match_found_message() -> None:
    assert str(NoMatchFound("broken", {"key": 1, "key2": 2})) == (
        'No route exists for name "broken" and params "key, key2".'
    )
    assert str(NoMatchFound("x", {})) == 'No route exists for name "x" and params "".'


def test_register_url_convertor() -> None:
    class Hex(Convertor[int]):
        regex = "[0-9a-f]+"

        def convert(self, value: str) -> int:
            return int(value, 16)

        def to_string(self, value: int) -> str:
            return f"{value:x}"

    register_url_convertor("hex", Hex())
    try:
        app = Router([Route("/h/{n:hex}", echo, name="h")])
        client = TestClient(app)
        assert client.get("/h/ff").json()["path_params"] == {"n": "255"}
        assert app.url_path_for("h", n=255) == "/h/ff"
    finally:
        del CONVERTOR_TYPES["hex"]


# ---------------------------------------------------------------- Route


def test_route_attributes_repr_eq() -> None:
    r = Route("/x", homepage)
    assert r.methods == {"GET", "HEAD"}
    assert r.name == "homepage"
    assert repr(r) == "Route(path='/x', name='homepage', methods=['GET', 'HEAD'])"
    assert r == Route("/x", homepage)
    assert r != Route("/y", homepage)
    with pytest.raises(TypeError):
        hash(r)
    with pytest.raises(AssertionError, match="Routed paths must start with '/'"):
        Route("x", homepage)


def test_class_endpoint_is_asgi_app_with_all_methods() -> None:
    class App:
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await PlainTextResponse(scope["method"])(scope, receive, send)

    r = Route("/a", App())
    assert r.methods is None
    client = TestClient(Router([r]))
    assert client.request("PATCH", "/a").text == "PATCH"


def test_matching_examples_table() -> None:
    app = Lyre(
        routes=[
            Route("/", homepage),
            Route("/e/{a}/{b:path}", echo),
            Route("/slash/", homepage),
            Route("/noslash", homepage),
            Mount("/sub", routes=[Route("/item/{id:int}", echo)]),
        ]
    )
    client = TestClient(app, follow_redirects=False)
    r = client.get("/e/1/a/b/c?q=1")
    assert r.status_code == 200
    assert r.json()["path_params"] == {"a": "1", "b": "a/b/c"}

    r = client.post("/")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD"
    assert r.text == "Method Not Allowed"

    r = client.head("/")
    assert r.status_code == 200
    assert r.headers["content-length"] == "4"
    assert r.content == b""

    assert client.options("/").status_code == 405

    r = client.get("/slash")
    assert r.status_code == 307
    assert r.headers["location"] == "http://testserver/slash/"
    r = client.get("/slash?x=1")
    assert r.headers["location"] == "http://testserver/slash/?x=1"
    r = client.get("/noslash/")
    assert r.headers["location"] == "http://testserver/noslash"
    r = client.get("/sub")
    assert r.status_code == 307
    assert r.headers["location"] == "http://testserver/sub/"

    r = client.get("/sub/item/5")
    assert r.status_code == 200
    assert r.json()["root_path"] == "/sub"
    assert r.json()["path_params"] == {"id": "5"}

    r = client.get("/nope")
    assert (r.status_code, r.text) == (404, "Not Found")
    assert client.get("/sub/item/abc").status_code == 404


def test_allow_header_order_is_stable() -> None:
    app = Router([Route("/a", homepage, methods=["post", "GET", "delete"])])
    r = TestClient(app).put("/a")
    assert r.status_code == 405
    assert r.headers["allow"] == "POST, GET, HEAD, DELETE"


def test_partial_match_then_later_full_match_wins() -> None:
    async def post_only(request: Request) -> Response:
        return PlainTextResponse("post")

    async def get_only(request: Request) -> Response:
        return PlainTextResponse("get")

    app = Router([Route("/x", post_only, methods=["POST"]), Route("/x", get_only, methods=["GET"])])
    client = TestClient(app)
    assert client.get("/x").text == "get"
    assert client.post("/x").text == "post"
    r = client.put("/x")
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"  # the first PARTIAL match answers


def test_declaration_order_first_full_match_wins() -> None:
    async def by_id(request: Request) -> Response:
        return PlainTextResponse("by_id")

    async def me(request: Request) -> Response:
        return PlainTextResponse("me")

    client = TestClient(Router([Route("/users/{id}", by_id), Route("/users/me", me)]))
    assert client.get("/users/me").text == "by_id"
    client = TestClient(Router([Route("/users/me", me), Route("/users/{id}", by_id)]))
    assert client.get("/users/me").text == "me"
    assert client.get("/users/7").text == "by_id"


def test_methods_empty_list_accepts_everything() -> None:
    r = Route("/a", homepage, methods=[])
    assert r.matches({"type": "http", "path": "/a", "method": "DELETE", "root_path": ""})[0] is Match.FULL


def test_path_params_are_converted() -> None:
    seen: dict[str, Any] = {}

    async def ep(request: Request) -> Response:
        seen.update(request.path_params)
        return PlainTextResponse("ok")

    app = Router([Route("/i/{a:int}/{b:float}/{c:uuid}", ep)])
    u = "12345678-1234-5678-1234-567812345678"
    assert TestClient(app).get(f"/i/3/2.5/{u}").status_code == 200
    assert seen == {"a": 3, "b": 2.5, "c": uuid.UUID(u)}
    assert TestClient(app).get(f"/i/-3/2.5/{u}").status_code == 404


# ---------------------------------------------------------------- Mount and Host


def test_mount_scope_and_params() -> None:
    app = Router([Mount("/m/{tenant}", routes=[Route("/x", echo)])])
    data = TestClient(app).get("/m/acme/x").json()
    assert data["root_path"] == "/m/acme"
    assert data["path_params"] == {"tenant": "acme"}
    assert data["app_root_path"] == ""


def test_mount_validation_and_repr() -> None:
    with pytest.raises(AssertionError, match="Either 'app=...', or 'routes=' must be specified"):
        Mount("/x")
    with pytest.raises(AssertionError, match="Routed paths must start with '/'"):
        Mount("x", routes=[])
    m = Mount("/sub/", routes=[])
    assert m.path == "/sub"
    assert repr(m).startswith("Mount(path='/sub', name='', app=")
    assert Mount("", routes=[]).path == ""


def test_url_path_for_routes_mounts_and_hosts() -> None:
    async def ep(request: Request) -> Response:
        return PlainTextResponse("x")

    inner = Router([Route("/p/{id:int}", ep, name="p")])
    app = Router(
        [
            Route("/", ep, name="home"),
            Route("/item/{id:int}", ep, name="item"),
            Mount(
                "/sub",
                name="sub",
                routes=[
                    Route("/item/{id}", ep, name="item"),
                    Mount("/deep", name="d", routes=[Route("/z", ep, name="z")]),
                ],
            ),
            Mount("/static", app=ep, name="static"),  # type: ignore[arg-type]
            Host("{sub}.ex.com", name="h", app=inner),
            WebSocketRoute("/ws", ep, name="ws"),
        ]
    )
    assert app.url_path_for("home") == "/"
    assert app.url_path_for("item", id=3) == "/item/3"
    assert app.url_path_for("sub:item", id=3) == "/sub/item/3"
    assert app.url_path_for("sub:d:z") == "/sub/deep/z"
    assert app.url_path_for("static", path="/css/a.css") == "/static/css/a.css"
    url = app.url_path_for("h:p", sub="api", id=3)
    assert url == "/p/3"
    assert url.host == "api.ex.com"
    assert str(url.make_absolute_url("https://example.org")) == "https://api.ex.com/p/3"
    ws = app.url_path_for("ws")
    assert isinstance(ws, URLPath)
    assert ws.protocol == "websocket"
    with pytest.raises(NoMatchFound):
        app.url_path_for("item")
    with pytest.raises(NoMatchFound):
        app.url_path_for("item", id=1, extra=2)
    with pytest.raises(ValueError, match="invalid literal for int"):
        app.url_path_for("item", id="x")


def test_host_routing() -> None:
    api = Router([Route("/", echo)])
    app = Router([Host("{sub}.example.org", app=api, name="h"), Route("/", homepage)])
    client = TestClient(app, base_url="http://API.example.org")
    data = client.get("/").json()
    assert data["path_params"] == {"sub": "api"}
    assert TestClient(app, base_url="http://other.org").get("/").text == "home"
    assert TestClient(app).get("/", headers={"host": "bad host"}).text == "home"
    with pytest.raises(AssertionError, match="Host must not start with '/'"):
        Host("/x", app=api)


# ---------------------------------------------------------------- the index


def test_index_notices_appended_and_replaced_routes() -> None:
    router = Router([Route("/a", homepage)])
    client = TestClient(router)
    assert client.get("/b").status_code == 404
    router.routes.append(Route("/b", homepage))
    assert client.get("/b").status_code == 200
    router.routes.insert(0, Route("/b", echo))
    assert client.get("/b").json()["endpoint"] == "echo"
    del router.routes[0]
    assert client.get("/b").text == "home"
    router.routes = [Route("/c", homepage)]
    assert client.get("/b").status_code == 404
    assert client.get("/c").status_code == 200
    router.routes.clear()
    assert client.get("/c").status_code == 404
    router.add_route("/d", homepage)
    router.mount("/e", app=Router([Route("/f", homepage)]))
    assert client.get("/d").status_code == 200
    assert client.get("/e/f").status_code == 200


class _PrefixRoute(BaseRoute):
    """A custom route the index cannot reason about: matches any path starting with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            return Match.FULL, {"endpoint": self}
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse(f"custom:{self.prefix}")(scope, receive, send)


def _linear_dispatch(routes: list[BaseRoute], scope: Scope) -> tuple[str, BaseRoute | None]:
    partial = None
    for route in routes:
        match, _ = route.matches(dict(scope))
        if match is Match.FULL:
            return "full", route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return ("partial", partial) if partial is not None else ("none", None)


def test_index_agrees_with_linear_scan_on_random_route_tables() -> None:
    """The compiled index must pick exactly the route a first-match scan would pick."""
    rng = random.Random(1234)
    literals = ["a", "b", "users", "me", "x1", ""]
    templates = ["{p}", "{n:int}", "{rest:path}", "pre{p}", "{f:float}"]

    def make_path() -> str:
        parts = []
        for _ in range(rng.randint(0, 3)):
            parts.append(rng.choice(literals) if rng.random() < 0.6 else rng.choice(templates))
        path = "/" + "/".join(parts)
        # Avoid duplicate parameter names within one template.
        counter = iter(range(100))
        out = []
        for seg in path.split("/"):
            for name in ("p", "n", "rest", "f"):
                seg = seg.replace("{" + name, "{" + name + str(next(counter)))
            out.append(seg)
        return "/".join(out)

    def make_request_path() -> str:
        parts = [rng.choice(literals + ["42", "3.5", "prefoo", "zz"]) for _ in range(rng.randint(0, 4))]
        return "/" + "/".join(parts)

    for _ in range(60):
        routes: list[BaseRoute] = []
        for _ in range(rng.randint(1, 25)):
            kind = rng.random()
            if kind < 0.65:
                methods = rng.choice([None, ["GET"], ["POST"]])
                routes.append(Route(make_path(), homepage, methods=methods))
            elif kind < 0.85:
                mount_path = make_path().rstrip("/")
                if "{rest" in mount_path:
                    mount_path = "/m"
                routes.append(Mount(mount_path, routes=[]))
            else:
                routes.append(_PrefixRoute("/" + rng.choice(literals)))
        router = Router(routes)
        for _ in range(40):
            path = make_request_path()
            scope = {"type": "http", "path": path, "root_path": "", "method": rng.choice(["GET", "POST"])}
            candidates = router._route_index().candidates(path)
            expected_kind, expected_route = _linear_dispatch(routes, scope)
            got_kind, got_route = _linear_dispatch(list(candidates), scope)
            assert (got_kind, got_route) == (expected_kind, expected_route), (path, routes)


def test_fifty_routes_last_one() -> None:
    routes = [Route(f"/r{i}/{{id}}", echo, name=f"r{i}") for i in range(50)]
    client = TestClient(Router(routes))
    assert client.get("/r49/7").json()["endpoint"] == "echo"
    assert client.get("/r50/7").status_code == 404


def test_route_alone_is_an_asgi_app() -> None:
    client = TestClient(Route("/a", homepage))
    assert client.get("/a").text == "home"
    r = client.get("/b")
    assert (r.status_code, r.text) == (404, "Not Found")
    r = client.post("/a")
    assert (r.status_code, r.text) == (405, "Method Not Allowed")


def test_root_path_routing() -> None:
    app = Lyre(routes=[Route("/x", echo), Mount("/m", routes=[Route("/y", echo)])])
    client = TestClient(app, root_path="/api")
    assert client.get("/api/x").status_code == 200
    assert client.get("/api/m/y").json()["root_path"] == "/api/m"
    # A path without the prefix still matches top-level routes, but not mounted ones.
    assert client.get("/x").status_code == 200
    assert client.get("/m/y").status_code == 404


@pytest.mark.parametrize(
    ("template", "regex"),
    [
        ("example.com:http", r"^example\.com$"),
        ("a:b:c", r"^a:b$"),
        ("{sub}.ex.com:8000", r"^(?P<sub>[^/]+)\.ex\.com$"),
        ("[::1]", r"^\[::1\]$"),
    ],
)
def test_host_template_port_part_is_never_matched(template: str, regex: str) -> None:
    from lyre.routing import compile_path

    compiled, fmt, _ = compile_path(template)
    assert compiled.pattern == regex
    assert fmt == template  # the format keeps the template as written
