"""Routing, lyre against Starlette: generated route tables (params, convertors, methods, Mount,
Host, redirect_slashes, root_path), requests aimed at them, and url_path_for round-trips."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.differential._harness import FAST, PKGS, Pkg, compare, header, make_scope

CONVERTORS = ["str", "int", "float", "path", "uuid"]
LITERALS = ["users", "items", "a", "b", "é", "x y", "v1.0"]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]
HOST_TEMPLATES = [
    "{sub}.example.com",
    "api.example.org",
    "example.com:8000",
    "example.com:http",
    "{a}.{b}.org",
]


@dataclass
class RouteSpec:
    """One ``Route``: its template pieces (literal str or ``(name, convertor)``), methods, name."""

    pieces: list[str | tuple[str, str]]
    trailing_slash: bool
    methods: list[str] | None
    name: str

    @property
    def template(self) -> str:
        parts = [p if isinstance(p, str) else f"{{{p[0]}:{p[1]}}}" for p in self.pieces]
        return "/" + "/".join(parts) + ("/" if self.trailing_slash and parts else "")


@dataclass
class Table:
    """A route table: plain routes, an optional Mount and an optional Host (each with routes)."""

    routes: list[RouteSpec]
    mount: tuple[str, list[RouteSpec]] | None = None
    host: tuple[str, list[RouteSpec]] | None = None
    redirect_slashes: bool = True
    names: list[str] = field(default_factory=list)


@st.composite
def route_specs(draw: st.DrawFn, name: str) -> RouteSpec:
    count = draw(st.integers(0, 3))
    pieces: list[str | tuple[str, str]] = []
    for i in range(count):
        if draw(st.booleans()):
            pieces.append(draw(st.sampled_from(LITERALS)))
        else:
            # ``path`` only last: anywhere else it swallows the rest (both agree, but it is dull).
            kinds = CONVERTORS if i == count - 1 else CONVERTORS[:-1] + ["uuid"]
            pieces.append((f"p{i}", draw(st.sampled_from(kinds))))
    methods = draw(st.none() | st.lists(st.sampled_from(METHODS), min_size=1, max_size=3, unique=True))
    return RouteSpec(pieces, draw(st.booleans()), methods, name)


@st.composite
def tables(draw: st.DrawFn) -> Table:
    n = draw(st.integers(1, 4))
    routes = [draw(route_specs(f"r{i}")) for i in range(n)]
    table = Table(routes, redirect_slashes=draw(st.booleans()))
    if draw(st.booleans()):
        prefix = "/" + draw(st.sampled_from(["m", "users", "api/v1", "{ver:int}"]))
        table.mount = (prefix, [draw(route_specs(f"mr{i}")) for i in range(draw(st.integers(1, 2)))])
    if draw(st.booleans()):
        table.host = (draw(st.sampled_from(HOST_TEMPLATES)), [draw(route_specs("hr0"))])
    return table


def param_value(draw: st.DrawFn, kind: str) -> str:
    """A path segment that the convertor accepts (as it appears in the decoded path)."""
    if kind == "int":
        return str(draw(st.integers(0, 10**6)))
    if kind == "float":
        return draw(st.sampled_from(["0", "1.5", "10", "3.25", "007.50"]))
    if kind == "uuid":
        return str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))
    seg = draw(st.sampled_from(LITERALS) | st.text("abcXYZ019-._~ é%:", min_size=1, max_size=6))
    if kind == "path":
        return seg + draw(st.sampled_from(["", "/x", "/a/b", "/"]))
    return seg


def fill(draw: st.DrawFn, spec: RouteSpec) -> str:
    parts = [p if isinstance(p, str) else param_value(draw, p[1]) for p in spec.pieces]
    return "/" + "/".join(parts) + ("/" if spec.trailing_slash and parts else "")


def build(pkg: Pkg, table: Table) -> Any:
    R, responses = pkg.routing, pkg.responses

    async def echo(request: Any) -> Any:
        params = {k: repr(v) for k, v in request.path_params.items()}
        route = request.scope.get("route")
        name = getattr(route, "name", None)
        try:
            own = str(request.url_for(name, **request.path_params)) if name else None
        except Exception as exc:
            own = type(exc).__name__
        return responses.JSONResponse(
            {
                "method": request.method,
                "params": params,
                "url": str(request.url),
                "base": str(request.base_url),
                "root_path": request.scope.get("root_path"),
                "name": name,
                "url_for": own,
            }
        )

    def routes(specs: list[RouteSpec]) -> list[Any]:
        return [R.Route(s.template, echo, methods=s.methods, name=s.name) for s in specs]

    items = routes(table.routes)
    if table.mount is not None:
        items.append(R.Mount(table.mount[0], routes=routes(table.mount[1]), name="m"))
    if table.host is not None:
        items.append(R.Host(table.host[0], app=R.Router(routes(table.host[1])), name="h"))
    app = pkg.app(items)
    app.router.redirect_slashes = table.redirect_slashes
    return app


@st.composite
def requests_for(draw: st.DrawFn, table: Table) -> dict[str, Any]:
    """A request aimed at one of the table's routes (sometimes off by a slash), or anywhere."""
    choice = draw(st.integers(0, 3))
    host = draw(
        st.sampled_from(["testserver", "a.example.com", "api.example.org:8000", "example.com", "x.y.org"])
    )
    if choice == 0 or (choice == 2 and table.mount is None) or (choice == 3 and table.host is None):
        path = fill(draw, draw(st.sampled_from(table.routes)))
    elif choice == 2 and table.mount is not None:
        prefix = table.mount[0].replace("{ver:int}", str(draw(st.integers(0, 9))))
        path = prefix + fill(draw, draw(st.sampled_from(table.mount[1])))
    elif choice == 3 and table.host is not None:
        path = fill(draw, table.host[1][0])
        host = draw(st.sampled_from(["a.example.com", "api.example.org", "example.com:8000", "b.c.org"]))
    else:
        path = "/" + "/".join(draw(st.lists(st.sampled_from(LITERALS + ["1", "2.5"]), max_size=3)))
    if draw(st.integers(0, 4)) == 0:
        path = path[:-1] if path.endswith("/") and len(path) > 1 else path + "/"
    root_path = draw(st.sampled_from(["", "", "/root", "/root/"]))
    if root_path and draw(st.booleans()):
        path = root_path.rstrip("/") + path
    return make_scope(
        method=draw(st.sampled_from([*METHODS, "HEAD", "OPTIONS"])),
        path=path,
        root_path=root_path,
        headers=[(b"host", host.encode())],
        scheme=draw(st.sampled_from(["http", "https"])),
    )


@FAST
@given(st.data())
def test_route_tables(data: st.DataObject) -> None:
    """Same status, headers (Allow, Location, ...) and body for requests against generated tables."""
    table = data.draw(tables())
    for _ in range(3):
        scope = data.draw(requests_for(table))
        messages = compare(lambda pkg: build(pkg, table), scope)
        if messages and messages[0][1] == 307:
            assert header(messages, b"location")


@st.composite
def url_params(draw: st.DrawFn, spec: RouteSpec) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for piece in spec.pieces:
        if isinstance(piece, tuple):
            name, kind = piece
            if kind == "int":
                params[name] = draw(st.integers(0, 10**6))
            elif kind == "float":
                params[name] = draw(st.sampled_from([0.0, 1.5, 10.0, 3.25, 1e-7, 123456.789]))
            elif kind == "uuid":
                params[name] = uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))
            else:
                params[name] = param_value(draw, kind)
    if draw(st.integers(0, 5)) == 0:
        params["extra"] = "x"  # an unknown parameter: NoMatchFound in both
    if params and draw(st.integers(0, 5)) == 0:
        params.pop(next(iter(params)))  # a missing one
    return params


def _reverse(pkg: Pkg, table: Table, name: str, params: dict[str, Any]) -> str:
    app = build(pkg, table)
    try:
        return str(app.url_path_for(name, **params))
    except Exception as exc:
        return type(exc).__name__


@FAST
@given(st.data())
def test_url_path_for_round_trip(data: st.DataObject) -> None:
    """``url_path_for`` builds the same URL (or fails the same way), and requesting it routes back
    to the same route with the same parameters."""
    table = data.draw(tables())
    candidates = [(s.name, s) for s in table.routes]
    if table.mount is not None:
        candidates += [(f"m:{s.name}", s) for s in table.mount[1]]
    if table.host is not None:
        candidates += [(f"h:{s.name}", s) for s in table.host[1]]
    name, spec = data.draw(st.sampled_from(candidates))
    params = data.draw(url_params(spec))
    if name.startswith("m:") and table.mount is not None and "{ver:int}" in table.mount[0]:
        params["ver"] = data.draw(st.integers(0, 99))
    if name.startswith("h:") and table.host is not None:
        for var in ("sub", "a", "b"):
            if "{" + var + "}" in table.host[0]:
                params[var] = data.draw(st.sampled_from(["x", "api", "w-1"]))
    urls = [_reverse(pkg, table, name, dict(params)) for pkg in PKGS]
    assert urls[1] == urls[0]
    if urls[0].startswith("/"):
        from urllib.parse import unquote

        host = "testserver"
        if name.startswith("h:") and table.host is not None:
            host = table.host[0].format(**params) if "{" in table.host[0] else table.host[0]
        path = unquote(urls[0])
        compare(lambda pkg: build(pkg, table), make_scope(path=path, headers=[(b"host", host.encode())]))


@FAST
@given(
    root_path=st.sampled_from(["", "/", "/sub", "/sub/", "/a/b/"]),
    tail=st.sampled_from(["", "/", "//", "/x", "/x/", "/y", "/y/"]),
    redirect_slashes=st.booleans(),
)
def test_root_path_and_slashes(root_path: str, tail: str, redirect_slashes: bool) -> None:
    """Slash redirects and ``url_for`` under a ``root_path`` (with and without a trailing slash)."""
    table = Table(
        [
            RouteSpec([], False, None, "home"),
            RouteSpec(["x"], False, None, "x"),
            RouteSpec(["y"], True, None, "y"),
        ],
        redirect_slashes=redirect_slashes,
    )
    path = (root_path.rstrip("/") + tail) or "/"
    compare(lambda pkg: build(pkg, table), make_scope(path=path, root_path=root_path))
