"""status, exceptions, _utils, concurrency, background and Middleware."""

from __future__ import annotations

import functools
import threading

import pytest

from lyre import status
from lyre._utils import get_route_path, is_async_callable, parse_host_header
from lyre.background import BackgroundTask, BackgroundTasks
from lyre.concurrency import iterate_in_threadpool, run_in_threadpool, run_until_first_complete
from lyre.exceptions import HTTPException, StarletteDeprecationWarning, WebSocketException
from lyre.middleware import Middleware


def test_status_constants_and_deprecated_names() -> None:
    assert status.HTTP_200_OK == 200
    assert status.HTTP_413_CONTENT_TOO_LARGE == 413
    assert len(status.__all__) == 78
    with pytest.warns(StarletteDeprecationWarning, match="'HTTP_422_UNPROCESSABLE_ENTITY' is deprecated"):
        assert status.HTTP_422_UNPROCESSABLE_ENTITY == 422
    with pytest.raises(AttributeError, match="module 'starlette.status' has no attribute 'NOPE'"):
        status.NOPE  # noqa: B018
    assert "HTTP_413_REQUEST_ENTITY_TOO_LARGE" in dir(status)


def test_http_exception() -> None:
    exc = HTTPException(404)
    assert exc.detail == "Not Found"
    assert str(exc) == "404: Not Found"
    assert repr(exc) == "HTTPException(status_code=404, detail='Not Found')"
    assert HTTPException(418).detail == "I'm a Teapot"
    assert HTTPException(599).detail == ""

    class Mine(HTTPException):
        pass

    assert repr(Mine(400, "bad")) == "Mine(status_code=400, detail='bad')"


def test_websocket_exception() -> None:
    exc = WebSocketException(1008, "policy")
    assert str(exc) == "1008: policy"
    assert repr(exc) == "WebSocketException(code=1008, reason='policy')"
    assert WebSocketException(1000).reason == ""
    assert issubclass(StarletteDeprecationWarning, UserWarning)


def test_is_async_callable() -> None:
    async def coro() -> None: ...

    def sync() -> None: ...

    class AsyncCall:
        async def __call__(self) -> None: ...

    async def agen():  # type: ignore[no-untyped-def]
        yield 1

    assert is_async_callable(coro)
    assert is_async_callable(functools.partial(functools.partial(coro)))
    assert is_async_callable(AsyncCall())
    assert not is_async_callable(sync)
    assert not is_async_callable(agen)


def test_is_async_callable_recognises_async_mocks() -> None:
    from unittest import mock

    async def handler(x: int) -> int:
        return x

    def plain(x: int) -> int:
        return x

    assert is_async_callable(mock.create_autospec(handler))
    assert is_async_callable(functools.partial(mock.create_autospec(handler), 1))
    assert is_async_callable(mock.AsyncMock())
    assert not is_async_callable(mock.create_autospec(plain))
    assert not is_async_callable(mock.MagicMock())
    assert not is_async_callable(mock.Mock())
    assert not is_async_callable(object())


@pytest.mark.parametrize(
    ("path", "root", "expected"),
    [
        ("/a/b", "", "/a/b"),
        ("/api/x", "/api", "/x"),
        ("/api", "/api", ""),
        ("/apiv2", "/api", "/apiv2"),
        ("/other", "/api", "/other"),
    ],
)
def test_get_route_path(path: str, root: str, expected: str) -> None:
    assert get_route_path({"path": path, "root_path": root}) == expected


@pytest.mark.parametrize(
    ("value", "authority"),
    [
        ("example.com", "example.com"),
        ("Example.com:8080", "Example.com:8080"),
        ("[::1]:8000", "[::1]:8000"),
        ("a.com:00080", "a.com:00080"),
        ("bad host/x", None),
        ("a.com:99999", "a.com:99999"),  # parses; ``is_valid_port`` says the port is out of range
        ("[zz::1]", None),
        ("", None),
        (None, None),
        ("evil.com/@x", None),
    ],
)
def test_parse_host_header(value: str | None, authority: str | None) -> None:
    parsed = parse_host_header(value)
    assert (parsed.authority if parsed else None) == authority


@pytest.mark.parametrize(
    ("value", "host", "valid_port"),
    [
        ("a.com:99999", "a.com", False),
        ("a.com:65536", "a.com", False),
        ("[::1]:1000000", "[::1]", False),
        ("a.com:0065535", "a.com", True),
        ("a.com", "a.com", True),
    ],
)
def test_parse_host_header_keeps_the_host_of_an_out_of_range_port(
    value: str, host: str, valid_port: bool
) -> None:
    parsed = parse_host_header(value)
    assert parsed is not None
    assert (parsed.host, parsed.is_valid_port) == (host, valid_port)


def test_middleware_record() -> None:
    class SessionMiddleware:
        pass

    m = Middleware(SessionMiddleware, 1, secret_key="k")  # type: ignore[arg-type]
    cls, args, kwargs = m
    assert (cls, args, kwargs) == (SessionMiddleware, (1,), {"secret_key": "k"})
    assert repr(m) == "Middleware(SessionMiddleware, 1, secret_key='k')"


@pytest.mark.anyio
async def test_threadpool_helpers() -> None:
    main = threading.get_ident()
    assert await run_in_threadpool(threading.get_ident) != main

    def add(a: int, b: int = 0) -> int:
        return a + b

    assert await run_in_threadpool(add, 1, b=2) == 3
    got = [item async for item in iterate_in_threadpool(iter([1, 2, 3]))]
    assert got == [1, 2, 3]


@pytest.mark.anyio
async def test_background_tasks_run_in_order_sync_and_async() -> None:
    seen: list[str] = []

    async def a(name: str) -> None:
        seen.append(f"a:{name}")

    def b(name: str) -> None:
        seen.append(f"b:{name}")

    tasks = BackgroundTasks([BackgroundTask(a, "x")])
    tasks.add_task(b, name="John")
    tasks.add_task(a, name="Z")
    await tasks()
    assert seen == ["a:x", "b:John", "a:Z"]


@pytest.mark.anyio
async def test_run_until_first_complete_warns_and_cancels() -> None:
    import anyio

    done: list[str] = []

    async def fast() -> None:
        done.append("fast")

    async def slow() -> None:
        await anyio.sleep(10)
        done.append("slow")

    with pytest.warns(StarletteDeprecationWarning, match="run_until_first_complete is deprecated"):
        await run_until_first_complete((fast, {}), (slow, {}))
    assert done == ["fast"]
