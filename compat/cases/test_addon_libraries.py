"""Two Starlette add-on libraries, used through their documented API, on lyre via the alias.

``sse-starlette`` (Server-Sent Events responses) and ``starlette-context`` (request-scoped context
middleware and plugins). Run by ``tests/test_addons.py`` in a child pytest with
``-p lyre_compat_plugin``; the same cases pass on the real Starlette (checked when written).
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sse_starlette import EventSourceResponse, JSONServerSentEvent, ServerSentEvent
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette_context import context, plugins, request_cycle_context
from starlette_context.errors import ContextDoesNotExistError
from starlette_context.middleware import ContextMiddleware, RawContextMiddleware

import lyre


def test_addons_run_on_lyre_modules() -> None:
    import sse_starlette.sse
    import starlette.responses

    assert starlette.responses.__name__ == "lyre.responses"
    assert issubclass(EventSourceResponse, lyre.responses.Response)
    assert sse_starlette.sse.Response is lyre.responses.Response
    real = [
        n
        for n, m in sys.modules.items()
        if n.split(".")[0] == "starlette" and not m.__name__.startswith("lyre")
    ]
    assert real == []


# --- sse-starlette -----------------------------------------------------------------------------


def parse_events(body: str) -> list[dict[str, str]]:
    events = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        event: dict[str, str] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                event.setdefault("comment", line[1:].strip())
                continue
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            event[key] = event[key] + "\n" + value if key in event else value
        events.append(event)
    return events


async def dict_events(request: Request) -> EventSourceResponse:
    count = int(request.query_params.get("n", "3"))

    async def generate() -> AsyncIterator[dict[str, Any]]:
        for i in range(count):
            yield {"event": "tick", "id": str(i), "data": f"message {i}"}

    return EventSourceResponse(generate())


async def object_events(request: Request) -> EventSourceResponse:
    async def generate() -> AsyncIterator[ServerSentEvent]:
        yield ServerSentEvent(data="line one\nline two", event="multi", retry=1500)
        yield JSONServerSentEvent(data={"answer": 42})
        yield ServerSentEvent(comment="just a comment")

    return EventSourceResponse(generate(), headers={"X-Custom": "yes"})


def sync_events(request: Request) -> EventSourceResponse:
    def generate() -> Iterator[str]:
        yield "first"
        yield "second"

    return EventSourceResponse(generate(), sep="\n")


sse_app = Starlette(
    routes=[
        Route("/events", dict_events),
        Route("/objects", object_events),
        Route("/sync", sync_events),
    ]
)


def test_sse_dict_events() -> None:
    with TestClient(sse_app) as client, client.stream("GET", "/events?n=3") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["x-accel-buffering"] == "no"
        assert (
            "no-cache" in response.headers["cache-control"] or "no-store" in response.headers["cache-control"]
        )
        body = response.read().decode()
    assert "\r\n" in body
    assert parse_events(body) == [{"event": "tick", "id": str(i), "data": f"message {i}"} for i in range(3)]


def test_sse_event_objects_and_custom_headers() -> None:
    with TestClient(sse_app) as client:
        response = client.get("/objects")
    assert response.headers["x-custom"] == "yes"
    events = parse_events(response.text)
    assert events[0] == {"event": "multi", "data": "line one\nline two", "retry": "1500"}
    assert json.loads(events[1]["data"]) == {"answer": 42}
    assert events[2] == {"comment": "just a comment"}


def test_sse_sync_iterator_and_separator() -> None:
    with TestClient(sse_app) as client:
        response = client.get("/sync")
    assert response.status_code == 200
    assert "\r\n" not in response.text
    assert response.text == "data: first\n\ndata: second\n\n"


def test_sse_on_fastapi_route() -> None:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/stream")
    async def stream() -> EventSourceResponse:
        async def generate() -> AsyncIterator[dict[str, str]]:
            yield {"data": "from fastapi"}

        return EventSourceResponse(generate())

    with TestClient(app) as client:
        response = client.get("/stream")
    assert response.status_code == 200
    assert parse_events(response.text) == [{"data": "from fastapi"}]


# --- starlette-context -------------------------------------------------------------------------


async def show_context(request: Request) -> JSONResponse:
    context["visited"] = True
    return JSONResponse(dict(context.data))


def context_app(middleware_class: type) -> Starlette:
    return Starlette(
        routes=[Route("/", show_context)],
        middleware=[
            Middleware(
                middleware_class,
                plugins=(
                    plugins.RequestIdPlugin(),
                    plugins.CorrelationIdPlugin(validate=True),
                    plugins.UserAgentPlugin(),
                    plugins.ForwardedForPlugin(),
                ),
            )
        ],
    )


@pytest.mark.parametrize("middleware_class", [ContextMiddleware, RawContextMiddleware])
def test_context_plugins_fill_context_and_headers(middleware_class: type) -> None:
    correlation = uuid.uuid4().hex
    with TestClient(context_app(middleware_class)) as client:
        response = client.get(
            "/",
            headers={
                "X-Correlation-ID": correlation,
                "User-Agent": "lyre-test",
                "X-Forwarded-For": "1.2.3.4",
            },
        )
    assert response.status_code == 200
    data = response.json()
    assert data["X-Correlation-ID"] == correlation
    assert data["User-Agent"] == "lyre-test"
    assert data["X-Forwarded-For"] == "1.2.3.4"
    assert data["visited"] is True
    request_id = data["X-Request-ID"]
    assert uuid.UUID(request_id)
    assert response.headers["x-request-id"] == request_id
    assert response.headers["x-correlation-id"] == correlation


@pytest.mark.parametrize("middleware_class", [ContextMiddleware, RawContextMiddleware])
def test_context_plugin_rejects_invalid_uuid(middleware_class: type) -> None:
    with TestClient(context_app(middleware_class)) as client:
        response = client.get("/", headers={"X-Correlation-ID": "not-a-uuid"})
    assert response.status_code == 400


@pytest.mark.parametrize("middleware_class", [ContextMiddleware, RawContextMiddleware])
def test_context_is_per_request(middleware_class: type) -> None:
    with TestClient(context_app(middleware_class)) as client:
        first = client.get("/").json()["X-Request-ID"]
        second = client.get("/").json()["X-Request-ID"]
    assert first != second


def test_context_outside_request_raises() -> None:
    assert not context.exists()
    with pytest.raises(ContextDoesNotExistError):
        context["x"] = 1
    with request_cycle_context({"user": "ada"}):
        assert context["user"] == "ada"


def test_context_on_fastapi_app() -> None:
    from fastapi import FastAPI

    app = FastAPI()
    app.add_middleware(RawContextMiddleware, plugins=(plugins.RequestIdPlugin(),))

    @app.get("/whoami")
    def whoami() -> dict[str, Any]:
        return {"request_id": context["X-Request-ID"]}

    request_id = uuid.uuid4().hex
    with TestClient(app) as client:
        response = client.get("/whoami", headers={"X-Request-ID": request_id})
        assert client.get("/whoami", headers={"X-Request-ID": "abc"}).status_code == 400
    assert response.json() == {"request_id": request_id}
    assert response.headers["x-request-id"] == request_id
