"""WSGIMiddleware: deprecated on import; environ building; streaming; errors."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import Any

import pytest

from lyre.exceptions import StarletteDeprecationWarning
from lyre.testclient import TestClient


def load_wsgi() -> ModuleType:
    sys.modules.pop("lyre.middleware.wsgi", None)
    with pytest.warns(StarletteDeprecationWarning, match="a2wsgi"):
        return importlib.import_module("lyre.middleware.wsgi")


StartResponse = Callable[..., Any]


def hello_world(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    body = b"Hello World!\n"
    start_response("200 OK", [("Content-Type ", " text/plain "), ("Content-Length", str(len(body)))])
    return [body]


def echo_body(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def raise_exception(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    raise RuntimeError("Something went wrong")


def return_exc_info(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    try:
        raise RuntimeError("Something went wrong")
    except RuntimeError:
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"Internal Server Error"]


class Closing:
    closed = False

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        Closing.closed = True


def streaming(environ: dict[str, Any], start_response: StartResponse) -> Closing:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Closing(b"chunk%d;" % i for i in range(100))


def test_import_warns() -> None:
    module = load_wsgi()
    assert hasattr(module, "WSGIMiddleware")


def test_wsgi_get_and_headers() -> None:
    wsgi = load_wsgi()
    response = TestClient(wsgi.WSGIMiddleware(hello_world)).get("/")
    assert response.status_code == 200
    assert response.text == "Hello World!\n"
    assert response.headers["content-type"] == "text/plain"


def test_wsgi_post_body() -> None:
    wsgi = load_wsgi()
    response = TestClient(wsgi.WSGIMiddleware(echo_body)).post("/", json={"example": 123})
    assert response.text == '{"example":123}'


def test_wsgi_streams_and_closes_the_iterable() -> None:
    wsgi = load_wsgi()
    Closing.closed = False
    response = TestClient(wsgi.WSGIMiddleware(streaming), backend="trio").get("/")
    assert response.text == "".join(f"chunk{i};" for i in range(100))
    assert Closing.closed


def test_wsgi_exception_propagates() -> None:
    wsgi = load_wsgi()
    with pytest.raises(RuntimeError, match="Something went wrong"):
        TestClient(wsgi.WSGIMiddleware(raise_exception)).get("/")


def test_wsgi_exc_info_is_reraised_after_the_response() -> None:
    wsgi = load_wsgi()
    app = wsgi.WSGIMiddleware(return_exc_info)
    with pytest.raises(RuntimeError, match="Something went wrong"):
        TestClient(app).get("/")
    response = TestClient(app, raise_server_exceptions=False).get("/")
    assert (response.status_code, response.text) == (500, "Internal Server Error")


def test_build_environ() -> None:
    wsgi = load_wsgi()
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": "/sub/é/x",
        "root_path": "/sub/é",
        "query_string": b"a=123&b=456",
        "headers": [
            (b"host", b"www.example.org"),
            (b"content-type", b"application/json"),
            (b"content-length", b"18"),
            (b"accept", b"application/json"),
            (b"accept", b"text/plain"),
        ],
        "client": ("134.56.78.4", 1453),
        "server": ("www.example.org", 443),
    }
    environ = wsgi.build_environ(scope, b'{"example":"body"}')
    stream = environ.pop("wsgi.input")
    assert stream.read() == b'{"example":"body"}'
    assert environ == {
        "CONTENT_LENGTH": "18",
        "CONTENT_TYPE": "application/json",
        "HTTP_ACCEPT": "application/json,text/plain",
        "HTTP_HOST": "www.example.org",
        "PATH_INFO": "/x",
        "QUERY_STRING": "a=123&b=456",
        "REMOTE_ADDR": "134.56.78.4",
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "/sub/Ã©",
        "SERVER_NAME": "www.example.org",
        "SERVER_PORT": 443,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.errors": sys.stdout,
        "wsgi.multiprocess": True,
        "wsgi.multithread": True,
        "wsgi.run_once": False,
        "wsgi.url_scheme": "https",
        "wsgi.version": (1, 0),
    }


def test_build_environ_script_name_only_at_segment_boundary_and_defaults() -> None:
    wsgi = load_wsgi()
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "path": "/mntx/y",
        "root_path": "/mnt",
        "query_string": b"",
        "headers": [],
    }
    environ = wsgi.build_environ(scope, b"")
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/mnt", "/mntx/y")
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("localhost", 80)
    assert "REMOTE_ADDR" not in environ
    assert environ["wsgi.url_scheme"] == "http"


@pytest.mark.parametrize(
    ("root_path", "path", "expected"),
    [
        ("/svc/", "/svc/items/3", "items/3"),  # a trailing slash on the root is a boundary itself
        ("/svc/", "/svc/", ""),
        ("/svc", "/svc", ""),
        ("/svc", "/svc/", "/"),
        ("/svc", "/svcs", "/svcs"),
        ("/svc/", "/svc", "/svc"),  # shorter than the root path: not under it
        ("", "/a", "/a"),
    ],
)
def test_build_environ_path_info_after_root_path(root_path: str, path: str, expected: str) -> None:
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "path": path,
        "root_path": root_path,
        "query_string": b"",
        "headers": [],
    }
    environ = load_wsgi().build_environ(scope, b"")
    assert environ["PATH_INFO"] == expected
    assert environ["SCRIPT_NAME"] == root_path
