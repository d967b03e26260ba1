"""BaseHTTPMiddleware's two tiers agree: the same-task tier (below exactly lyre's own dispatch,
a plain route) and the general one (the app in a task of its own, ``LYRE_FUSION=0`` or any other
stack below). Each case runs on both tiers, on asyncio and trio, and compares what a user sees:
every ASGI message, the order of events, context variables, errors.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from lyre import _same_task
from lyre.applications import Lyre
from lyre.background import BackgroundTask
from lyre.middleware import Middleware
from lyre.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from lyre.requests import Request
from lyre.responses import PlainTextResponse, Response, StreamingResponse
from lyre.routing import Route
from lyre.types import Message, Receive, Scope, Send

var: contextvars.ContextVar[str] = contextvars.ContextVar("same_task_var", default="unset")


@pytest.fixture(params=["same-task", "general"])
def tier(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LYRE_FUSION", "1" if request.param == "same-task" else "0")
    return str(request.param)


class Recorder:
    """A fake server that records every message and event in one list."""

    def __init__(self, body: bytes = b"", spec_version: str = "2.4") -> None:
        self.events: list[Any] = []
        self.body = body
        self.spec_version = spec_version

    async def receive(self) -> Message:
        if self.body is not None:
            body, self.body = self.body, None  # type: ignore[assignment]
            return {"type": "http.request", "body": body, "more_body": False}
        await anyio.sleep(3600)
        return {"type": "http.disconnect"}  # pragma: no cover

    async def send(self, message: Message) -> None:
        self.events.append(dict(message))

    async def run(self, app: Any, path: str = "/", method: str = "GET") -> list[Any]:
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": self.spec_version},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"test")],
            "server": ("test", 80),
            "client": ("127.0.0.1", 5000),
        }
        await app(scope, self.receive, self.send)
        return self.events


def app_with(endpoint: Any, dispatch: Any = None, **kwargs: Any) -> Lyre:
    async def passthrough(request: Request, call_next: RequestResponseEndpoint) -> Response:
        return await call_next(request)

    return Lyre(
        routes=[Route("/", endpoint, methods=["GET", "POST"])],
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=dispatch or passthrough)],
        **kwargs,
    )


def test_the_tier_is_chosen_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse("x")

    monkeypatch.setenv("LYRE_FUSION", "1")
    app = app_with(endpoint)
    app.middleware_stack = app.build_middleware_stack()
    chosen: list[bool] = []
    real = _same_task.drive

    def spy(coro: Any, context: Any) -> Any:
        chosen.append(True)
        return real(coro, context)

    monkeypatch.setattr(_same_task, "drive", spy)
    anyio.run(Recorder().run, app)
    assert chosen, "the same-task tier was not used below lyre's own dispatch"
    chosen.clear()
    monkeypatch.setenv("LYRE_FUSION", "0")
    anyio.run(Recorder().run, app_with(endpoint))
    assert not chosen


@pytest.mark.anyio
async def test_plain_response_and_background_after_it(tier: str) -> None:
    recorder = Recorder()

    async def later() -> None:
        recorder.events.append("background")

    async def endpoint(request: Request) -> Response:
        return PlainTextResponse("hello", background=BackgroundTask(later))

    async def dispatch(request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers["x-seen"] = "1"
        recorder.events.append("dispatch returns")
        return response

    events = await recorder.run(app_with(endpoint, dispatch))
    assert events[0] == "dispatch returns"
    assert events[1]["type"] == "http.response.start"
    assert (b"x-seen", b"1") in events[1]["headers"]
    bodies = [e for e in events if isinstance(e, dict) and e["type"] == "http.response.body"]
    assert b"".join(e["body"] for e in bodies) == b"hello"
    assert events[-1] == "background"  # only once the client has the whole response
    assert events[-2] == {"type": "http.response.body", "body": b"", "more_body": False}


@pytest.mark.anyio
@pytest.mark.parametrize("spec_version", ["2.3", "2.4"])  # before 2.4: a disconnect listener task
async def test_streaming_response_leaves_the_task(tier: str, spec_version: str) -> None:
    async def endpoint(request: Request) -> Response:
        async def parts() -> AsyncIterator[bytes]:
            for part in (b"a", b"b", b"c"):
                await anyio.sleep(0)
                yield part

        return StreamingResponse(parts())

    events = await Recorder(spec_version=spec_version).run(app_with(endpoint))
    chunks = [e["body"] for e in events if e["type"] == "http.response.body" and e["body"]]
    assert chunks == [b"a", b"b", b"c"]
    assert events[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


class SendsFromAChildTask(Response):
    """A response whose messages come from a task it starts (like sse-starlette's)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def child() -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"from a child", "more_body": False})

        async with anyio.create_task_group() as group:
            group.start_soon(child)


@pytest.mark.anyio
async def test_a_response_sending_from_a_child_task(tier: str) -> None:
    async def endpoint(request: Request) -> Response:
        return SendsFromAChildTask()

    events = await Recorder().run(app_with(endpoint))
    assert events[0]["status"] == 200
    assert b"".join(e.get("body", b"") for e in events[1:]) == b"from a child"


@pytest.mark.anyio
async def test_a_handler_response_that_streams(tier: str) -> None:
    async def endpoint(request: Request) -> Response:
        raise LookupError("missing")

    async def on_lookup(request: Request, exc: Exception) -> Response:
        async def parts() -> AsyncIterator[bytes]:
            yield b"handled: "
            yield str(exc).encode()

        return StreamingResponse(parts(), status_code=404)

    events = await Recorder().run(app_with(endpoint, exception_handlers={LookupError: on_lookup}))
    assert events[0]["status"] == 404
    assert b"".join(e.get("body", b"") for e in events[1:]) == b"handled: missing"


@pytest.mark.anyio
async def test_context_variables_flow_down_not_up(tier: str) -> None:
    seen: dict[str, str] = {}

    async def background() -> None:
        seen["background"] = var.get()

    async def endpoint(request: Request) -> Response:
        seen["endpoint"] = var.get()
        var.set("endpoint")
        return PlainTextResponse("x", background=BackgroundTask(background))

    async def dispatch(request: Request, call_next: RequestResponseEndpoint) -> Response:
        var.set("dispatch")
        response = await call_next(request)
        seen["after"] = var.get()
        return response

    await Recorder().run(app_with(endpoint, dispatch))
    assert seen == {"endpoint": "dispatch", "after": "dispatch", "background": "endpoint"}


@pytest.mark.anyio
async def test_endpoint_error_is_raised_from_call_next(tier: str) -> None:
    caught: list[BaseException] = []

    async def endpoint(request: Request) -> Response:
        raise KeyError("boom")

    async def dispatch(request: Request, call_next: RequestResponseEndpoint) -> Response:
        try:
            return await call_next(request)
        except KeyError as exc:
            caught.append(exc)
            return PlainTextResponse("recovered", status_code=503)

    events = await Recorder().run(app_with(endpoint, dispatch))
    assert events[0]["status"] == 503
    assert len(caught) == 1 and caught[0].args == ("boom",)
    assert caught[0].__cause__ is None and caught[0].__suppress_context__


@pytest.mark.anyio
async def test_replaced_response_still_runs_the_apps_background(tier: str) -> None:
    ran: list[str] = []

    async def later() -> None:
        ran.append("background")

    async def endpoint(request: Request) -> Response:
        return PlainTextResponse("original", background=BackgroundTask(later))

    async def dispatch(request: Request, call_next: RequestResponseEndpoint) -> Response:
        await call_next(request)
        return PlainTextResponse("replaced")

    events = await Recorder().run(app_with(endpoint, dispatch))
    assert b"".join(e.get("body", b"") for e in events[1:]) == b"replaced"
    assert ran == ["background"]


@pytest.mark.anyio
async def test_dispatch_error_after_call_next_stops_the_app(tier: str) -> None:
    ran: list[str] = []

    async def later() -> None:
        ran.append("background")  # pragma: no cover - the app is stopped before it

    async def endpoint(request: Request) -> Response:
        return PlainTextResponse("x", background=BackgroundTask(later))

    async def dispatch(request: Request, call_next: RequestResponseEndpoint) -> Response:
        await call_next(request)
        raise ValueError("dispatch failed")

    with pytest.raises(ValueError, match="dispatch failed"):
        await Recorder().run(app_with(endpoint, dispatch))
    await anyio.sleep(0.01)
    assert ran == []


@pytest.mark.anyio
async def test_body_read_by_dispatch_reaches_the_endpoint(tier: str) -> None:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse((await request.body()).decode())

    async def dispatch(request: Request, call_next: RequestResponseEndpoint) -> Response:
        assert await request.body() == b"payload"
        return await call_next(request)

    events = await Recorder(b"payload").run(app_with(endpoint, dispatch), method="POST")
    assert b"".join(e.get("body", b"") for e in events[1:]) == b"payload"


@pytest.mark.anyio
async def test_concurrent_requests_finish_responses_before_backgrounds(tier: str) -> None:
    events: list[Any] = []

    async def later() -> None:
        events.append("background")
        await anyio.sleep(0)

    async def endpoint(request: Request) -> Response:
        return PlainTextResponse("x", background=BackgroundTask(later))

    app = app_with(endpoint)
    recorders = [Recorder(), Recorder()]
    for recorder in recorders:
        recorder.events = events
    async with anyio.create_task_group() as group:
        for recorder in recorders:
            group.start_soon(recorder.run, app)
    finals = [i for i, e in enumerate(events) if isinstance(e, dict) and e.get("more_body") is False]
    backgrounds = [i for i, e in enumerate(events) if e == "background"]
    assert len(finals) == 2 and len(backgrounds) == 2
    assert max(finals) < min(backgrounds)


class FailsBeforeSending(Response):
    """A response (not sending like ``Response``) that fails before its first message."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await anyio.sleep(0)
        raise LookupError("gone")


@pytest.mark.anyio
async def test_a_failing_response_then_a_streaming_handler_response(tier: str) -> None:
    async def endpoint(request: Request) -> Response:
        return FailsBeforeSending()

    async def on_lookup(request: Request, exc: Exception) -> Response:
        async def parts() -> AsyncIterator[bytes]:
            yield b"handled: "
            await anyio.sleep(0)
            yield str(exc).encode()

        return StreamingResponse(parts(), status_code=410)

    events = await Recorder().run(app_with(endpoint, exception_handlers={LookupError: on_lookup}))
    assert events[0]["status"] == 410
    assert b"".join(e.get("body", b"") for e in events[1:]) == b"handled: gone"
