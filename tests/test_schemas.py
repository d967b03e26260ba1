"""lyre.schemas: endpoint discovery, docstring parsing, and the OpenAPI YAML response."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import yaml

from lyre.applications import Lyre
from lyre.endpoints import HTTPEndpoint
from lyre.requests import Request
from lyre.responses import PlainTextResponse, Response
from lyre.routing import Host, Mount, Route, WebSocketRoute
from lyre.schemas import EndpointInfo, OpenAPIResponse, SchemaGenerator
from lyre.testclient import TestClient
from lyre.websockets import WebSocket


async def list_users(request: Request) -> Response:
    """Lists users.
    ---
    responses:
      200:
        description: ok
    """
    return PlainTextResponse("users")  # pragma: no cover


async def undocumented(request: Request) -> Response:
    return PlainTextResponse("x")  # pragma: no cover


async def plain_doc(request: Request) -> Response:
    """Just prose, no YAML mapping."""
    return PlainTextResponse("x")  # pragma: no cover


class UserEndpoint(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        """
        responses:
          200:
            description: one user
        """
        return PlainTextResponse("u")  # pragma: no cover

    async def post(self, request: Request) -> Response:
        """Creates a user (no YAML)."""
        return PlainTextResponse("u")  # pragma: no cover

    async def query(self, request: Request) -> Response:
        """
        summary: search users
        """
        return PlainTextResponse("q")  # pragma: no cover


async def ws(websocket: WebSocket) -> None:
    """summary: not in the schema"""  # pragma: no cover


def openapi(request: Request) -> Response:
    return schemas.OpenAPIResponse(request=request)


schemas = SchemaGenerator({"openapi": "3.0.0", "info": {"title": "Example API", "version": "1.0"}})

ROUTES = [
    Route("/users/{id:int}", list_users, methods=["GET", "POST"]),
    Route("/u", UserEndpoint),
    Mount(
        "/m/{tenant:str}",
        routes=[Route("/x", list_users), Route("/hidden", list_users, include_in_schema=False)],
    ),
    Host("api.example.com", app=Lyre(routes=[Route("/on-host", list_users)])),
    Route("/undocumented", undocumented),
    Route("/prose", plain_doc),
    WebSocketRoute("/ws", ws),
    Route("/schema", openapi, include_in_schema=False),
]


def test_get_endpoints() -> None:
    endpoints = schemas.get_endpoints(ROUTES)
    as_tuples = {(e.path, e.http_method, e.func.__qualname__) for e in endpoints}
    assert as_tuples == {
        ("/users/{id}", "get", "list_users"),
        ("/users/{id}", "post", "list_users"),
        ("/u", "get", "UserEndpoint.get"),
        ("/u", "post", "UserEndpoint.post"),
        ("/u", "query", "UserEndpoint.query"),
        ("/m/{tenant}/x", "get", "list_users"),
        ("/on-host", "get", "list_users"),
        ("/undocumented", "get", "undocumented"),
        ("/prose", "get", "plain_doc"),
    }
    assert all(isinstance(e, EndpointInfo) for e in endpoints)
    path, method, func = endpoints[0]
    assert (path, method, func) == ("/users/{id}", "get", list_users)  # GET before POST


def test_schema() -> None:
    schema = schemas.get_schema(ROUTES)
    assert schema["openapi"] == "3.0.0"
    assert schema["info"] == {"title": "Example API", "version": "1.0"}
    documented = {"responses": {200: {"description": "ok"}}}
    assert schema["paths"] == {
        "/users/{id}": {"get": documented, "post": documented},
        "/u": {"get": {"responses": {200: {"description": "one user"}}}},
        "/m/{tenant}/x": {"get": documented},
        "/on-host": {"get": documented},
    }


def test_query_method_needs_openapi_3_2() -> None:
    for version, expected in (
        ("3.1.0", False),
        ("3.2.0", True),
        ("3.10", True),
        ("4.0", True),
        (None, False),
    ):
        base: dict[str, Any] = {"info": {}} if version is None else {"openapi": version}
        schema = SchemaGenerator(base).get_schema([Route("/u", UserEndpoint)])
        assert ("query" in schema["paths"]["/u"]) is expected, version
    assert SchemaGenerator({"openapi": "3.2.0"}).get_schema([Route("/u", UserEndpoint)])["paths"]["/u"][
        "query"
    ] == {"summary": "search users"}


def test_base_schema_is_not_mutated() -> None:
    base: dict[str, object] = {"openapi": "3.0.0"}
    SchemaGenerator(base).get_schema(ROUTES)
    assert base == {"openapi": "3.0.0"}


def test_parse_docstring() -> None:
    assert schemas.parse_docstring(undocumented) == {}
    assert schemas.parse_docstring(plain_doc) == {}

    def two_separators() -> None:
        """intro
        ---
        a: 1
        ---
        b: 2
        """

    assert schemas.parse_docstring(two_separators) == {"b": 2}


def test_openapi_response_endpoint(anyio_backend: str) -> None:
    app = Lyre(routes=ROUTES)
    response = TestClient(app, backend=anyio_backend).get("/schema")  # type: ignore[arg-type]
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.oai.openapi"
    assert yaml.safe_load(response.text) == schemas.get_schema(ROUTES)
    assert response.text.startswith("info:\n  title: Example API\n")  # keys sorted, block style


def test_openapi_response_requires_a_dict() -> None:
    with pytest.raises(AssertionError, match="The schema passed to OpenAPIResponse should be a dictionary."):
        OpenAPIResponse(["not", "a", "dict"])
    assert OpenAPIResponse({"b": 1, "a": {"c": 2}}).body == b"a:\n  c: 2\nb: 1\n"


def test_import_does_not_need_yaml() -> None:
    code = (
        "import sys; sys.modules['yaml'] = None\n"
        "import lyre.schemas as s\n"
        "try:\n"
        "    s.SchemaGenerator({}).parse_docstring(lambda: None)\n"
        "    s.OpenAPIResponse({})\n"
        "except AssertionError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "`pyyaml` must be installed to use OpenAPIResponse."
