"""OpenAPI schema generation from endpoint docstrings (YAML after a ``---`` line).

``pyyaml`` is imported only when a docstring is parsed or a schema is rendered, so importing this
module never needs it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from lyre.requests import Request
from lyre.responses import Response
from lyre.routing import BaseRoute, Host, Mount, Route

__all__ = [
    "BaseRoute",
    "BaseSchemaGenerator",
    "EndpointInfo",
    "Host",
    "Mount",
    "OpenAPIResponse",
    "Request",
    "Response",
    "Route",
    "SchemaGenerator",
]

_CONVERTOR_RE = re.compile(r":\w+}")
# Stable output: methods in this order, unknown ones after them sorted (Route.methods is a set).
_METHOD_ORDER = {
    m: i for i, m in enumerate(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "QUERY"))
}
_CLASS_METHODS = ("get", "post", "put", "patch", "delete", "options", "query")


def _import_yaml(purpose: str) -> Any:
    try:
        import yaml
    except ImportError:
        raise AssertionError(f"`pyyaml` must be installed to use {purpose}.") from None
    return yaml


class OpenAPIResponse(Response):
    """A schema ``dict`` rendered as YAML with the OpenAPI media type."""

    media_type = "application/vnd.oai.openapi"

    def render(self, content: Any) -> bytes:
        yaml = _import_yaml("OpenAPIResponse")
        assert isinstance(content, dict), "The schema passed to OpenAPIResponse should be a dictionary."
        dumped: str = yaml.dump(content, default_flow_style=False)
        return dumped.encode("utf-8")


class EndpointInfo(NamedTuple):
    path: str
    http_method: str
    func: Callable[..., Any]


def _remove_converter(path: str) -> str:
    """``/users/{id:int}`` -> ``/users/{id}``."""
    return _CONVERTOR_RE.sub("}", path)


def _method_key(method: str) -> tuple[int, str]:
    return (_METHOD_ORDER.get(method, len(_METHOD_ORDER)), method)


class BaseSchemaGenerator:
    """Walks the routes and parses docstrings; subclasses build the schema (``get_schema``)."""

    def get_schema(self, routes: list[BaseRoute]) -> dict[str, Any]:
        raise NotImplementedError()  # pragma: no cover

    def get_endpoints(self, routes: list[BaseRoute]) -> list[EndpointInfo]:
        """Every documented (path, method, function) reachable through ``routes``, Mounts included."""
        endpoints: list[EndpointInfo] = []
        for route in routes:
            if isinstance(route, Mount | Host):
                sub_routes = route.routes or []
                prefix = _remove_converter(route.path) if isinstance(route, Mount) else ""
                for sub in self.get_endpoints(sub_routes):
                    endpoints.append(EndpointInfo(prefix + sub.path, sub.http_method, sub.func))
                continue
            if not isinstance(route, Route) or not route.include_in_schema:
                continue
            path = _remove_converter(route.path)
            endpoint = route.endpoint
            if inspect.isfunction(endpoint) or inspect.ismethod(endpoint):
                for method in sorted(route.methods or (), key=_method_key):
                    if method == "HEAD":
                        continue
                    endpoints.append(EndpointInfo(path, method.lower(), endpoint))
            else:
                for name in _CLASS_METHODS:
                    func = getattr(endpoint, name, None)
                    if func is not None:
                        endpoints.append(EndpointInfo(path, name, func))
        return endpoints

    def parse_docstring(self, func_or_method: Callable[..., Any]) -> dict[str, Any]:
        """The YAML after the last ``---`` of the docstring (or the whole docstring) as a dict."""
        docstring = func_or_method.__doc__
        if not docstring:
            return {}
        yaml = _import_yaml("parse_docstring")
        parsed = yaml.safe_load(docstring.split("---")[-1])
        if not isinstance(parsed, dict):
            return {}
        return parsed

    def OpenAPIResponse(self, request: Request) -> Response:  # name from the original API
        routes = request.app.routes
        schema = self.get_schema(routes=routes)
        return OpenAPIResponse(schema)


def _supports_query(openapi_version: Any) -> bool:
    """The QUERY method exists in OpenAPI from 3.2 on."""
    if not isinstance(openapi_version, str):
        return False
    parts: list[int] = []
    for piece in openapi_version.split(".")[:2]:
        digits = re.match(r"\d+", piece)
        if digits is None:
            return False
        parts.append(int(digits.group()))
    return tuple(parts) >= (3, 2)


class SchemaGenerator(BaseSchemaGenerator):
    """Builds ``base_schema`` + ``paths`` from the docstrings of the routed endpoints."""

    def __init__(self, base_schema: dict[str, Any]) -> None:
        self.base_schema = base_schema

    def get_schema(self, routes: list[BaseRoute]) -> dict[str, Any]:
        document = {**self.base_schema}
        paths = document.setdefault("paths", {})
        skip_query = not _supports_query(document.get("openapi"))
        for endpoint in self.get_endpoints(routes):
            if skip_query and endpoint.http_method == "query":
                continue
            operation = self.parse_docstring(endpoint.func)
            if operation:
                paths.setdefault(endpoint.path, {})[endpoint.http_method] = operation
        return document
