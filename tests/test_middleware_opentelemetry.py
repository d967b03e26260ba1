"""OpenTelemetryMiddleware: span names, attributes, route naming, exclusions, missing package."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Status, StatusCode

from lyre.applications import Lyre
from lyre.middleware import Middleware
from lyre.middleware.opentelemetry import OpenTelemetryMiddleware
from lyre.requests import Request
from lyre.responses import PlainTextResponse, Response
from lyre.routing import Mount, Route
from lyre.testclient import TestClient

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class RecordedSpan(trace.Span):
    def __init__(
        self, name: str, context: Context | None, kind: trace.SpanKind, attributes: dict[str, Any]
    ) -> None:
        self.name = name
        self.parent = trace.get_current_span(context).get_span_context() if context is not None else None
        self.kind = kind
        self.attributes = dict(attributes)
        self.status: Status | None = None
        self.ended = False

    def end(self, end_time: int | None = None) -> None:
        self.ended = True

    def get_span_context(self) -> trace.SpanContext:
        return trace.INVALID_SPAN_CONTEXT

    def set_attributes(self, attributes: Any) -> None:
        self.attributes.update(attributes)

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def add_event(self, name: str, attributes: Any = None, timestamp: int | None = None) -> None:
        pass  # pragma: no cover

    def update_name(self, name: str) -> None:
        self.name = name

    def is_recording(self) -> bool:
        return True

    def set_status(self, status: Any, description: str | None = None) -> None:
        self.status = status

    def record_exception(
        self,
        exception: BaseException,
        attributes: Any = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        pass  # pragma: no cover


class RecordingTracer(trace.Tracer):
    def __init__(self, spans: list[RecordedSpan]) -> None:
        self.spans = spans

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: Any = None,
        links: Any = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        span = RecordedSpan(name, context, kind, attributes or {})
        self.spans.append(span)
        return span

    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: Any = None,
        **kwargs: Any,
    ) -> Iterator[trace.Span]:
        span = self.start_span(name, context, kind, attributes)
        try:
            yield span
        except BaseException:
            span.set_status(Status(StatusCode.ERROR))
            raise
        finally:
            span.end()


class RecordingProvider(trace.TracerProvider):
    def __init__(self) -> None:
        self.spans: list[RecordedSpan] = []
        self.names: list[tuple[str, str | None]] = []

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> trace.Tracer:
        self.names.append((instrumenting_module_name, instrumenting_library_version))
        return RecordingTracer(self.spans)


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


async def boom(request: Request) -> Response:
    raise ValueError("x")


async def unavailable(request: Request) -> Response:
    return PlainTextResponse("e", status_code=503)


def make_client(provider: trace.TracerProvider, **options: Any) -> TestClient:
    app = Lyre(
        routes=[
            Route("/u/{id:int}", ok),
            Route("/boom", boom),
            Route("/err", unavailable),
            Mount("/m", routes=[Route("/x/{y}", ok)]),
        ],
        middleware=[Middleware(OpenTelemetryMiddleware, tracer_provider=provider, **options)],
    )
    return TestClient(app, raise_server_exceptions=False)


def test_span_for_a_matched_route() -> None:
    provider = RecordingProvider()
    make_client(provider).get("/u/3?a=1", headers={"user-agent": "UA", "traceparent": TRACEPARENT})
    (span,) = provider.spans
    assert span.name == "GET /u/{id}"
    assert span.kind == trace.SpanKind.SERVER
    assert span.ended
    assert span.parent is not None and format(span.parent.span_id, "x") == "b7ad6b7169203331"
    assert span.attributes == {
        "http.request.method": "GET",
        "url.path": "/u/3",
        "url.scheme": "http",
        "url.query": "a=1",
        "server.address": "testserver",
        "server.port": 80,
        "network.protocol.version": "1.1",
        "client.address": "testclient",
        "user_agent.original": "UA",
        "http.response.status_code": 200,
        "http.route": "/u/{id}",
    }
    assert provider.names == [("starlette", "1.10.0")]


def test_mounted_route_and_unmatched_path() -> None:
    provider = RecordingProvider()
    client = make_client(provider)
    client.get("/m/x/2")
    client.get("/nope")
    mounted, missing = provider.spans
    assert (mounted.name, mounted.attributes["http.route"]) == ("GET /m/x/{y}", "/m/x/{y}")
    assert missing.name == "GET"
    assert "http.route" not in missing.attributes
    assert missing.attributes["http.response.status_code"] == 404


def test_server_errors_and_exceptions() -> None:
    provider = RecordingProvider()
    client = make_client(provider)
    client.get("/err")
    client.get("/boom")
    unavailable_span, boom_span = provider.spans
    assert unavailable_span.attributes["error.type"] == "503"
    assert unavailable_span.status is not None and unavailable_span.status.status_code == StatusCode.ERROR
    assert boom_span.attributes["error.type"] == "ValueError"
    assert boom_span.name == "GET /boom"


def test_method_original_and_excluded_urls() -> None:
    provider = RecordingProvider()
    middleware = OpenTelemetryMiddleware(ok_app, tracer_provider=provider, excluded_urls="health, /skip")
    client = TestClient(middleware)
    client.get("/healthz")
    client.get("/x/skip/y")
    client.request("Get", "/u")
    assert len(provider.spans) == 1
    assert provider.spans[0].attributes["http.request.method"] in ("GET",)
    assert OpenTelemetryMiddleware(ok_app, excluded_urls=["a", "b"]).excluded_urls[1].pattern == "b"


async def ok_app(scope: Any, receive: Any, send: Any) -> None:
    await PlainTextResponse("ok")(scope, receive, send)


@pytest.mark.anyio
async def test_lowercase_method_is_normalised() -> None:
    provider = RecordingProvider()
    middleware = OpenTelemetryMiddleware(ok_app, tracer_provider=provider)
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    def scope() -> dict[str, Any]:
        return {
            "type": "http",
            "method": "get",
            "path": "/",
            "query_string": b"",
            "headers": [],
            "scheme": "http",
        }

    await middleware(scope(), receive, send)
    assert provider.spans[0].attributes["http.request.method"] == "GET"
    assert provider.spans[0].attributes["http.request.method_original"] == "get"
    # Nested middlewares trace the request only once.
    await OpenTelemetryMiddleware(middleware, tracer_provider=provider)(scope(), receive, send)
    assert len(provider.spans) == 2


def test_noop_provider_traces_nothing() -> None:
    response = make_client(trace.NoOpTracerProvider()).get("/u/1")
    assert response.text == "ok"


def test_missing_package_gives_a_clear_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "lyre.middleware.opentelemetry")
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(
        ImportError, match=r"^The `opentelemetry-api` package is required to use `OpenTelemetryMiddleware`\.$"
    ):
        importlib.import_module("lyre.middleware.opentelemetry")


@pytest.mark.anyio
async def test_same_scope_served_twice_is_traced_twice() -> None:
    provider = RecordingProvider()
    middleware = OpenTelemetryMiddleware(ok_app, tracer_provider=provider)
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": []}

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        pass

    await middleware(scope, receive, send)
    await middleware(scope, receive, send)
    assert len(provider.spans) == 2
    assert "starlette.opentelemetry" not in scope  # the nesting marker does not outlive the request
    # Without server/client/http_version in the scope, those attributes are simply absent.
    attributes = provider.spans[1].attributes
    assert "server.address" not in attributes and "client.address" not in attributes
    assert "network.protocol.version" not in attributes


def test_tracer_is_chosen_per_request_not_at_build_time(monkeypatch: pytest.MonkeyPatch) -> None:
    current: list[trace.TracerProvider] = [trace.NoOpTracerProvider()]
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: current[0])
    app = Lyre(routes=[Route("/u/{id:int}", ok)], middleware=[Middleware(OpenTelemetryMiddleware)])
    client = TestClient(app)
    assert client.get("/u/1").text == "ok"  # no-op provider: nothing to record
    recording = RecordingProvider()
    current[0] = recording  # configured after the stack was built and used
    assert client.get("/u/2").text == "ok"
    assert [span.name for span in recording.spans] == ["GET /u/{id}"]


def test_proxy_tracer_provider_resolving_to_a_real_tracer_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    recording = RecordingProvider()
    proxy = trace.ProxyTracerProvider()
    monkeypatch.setattr(proxy, "get_tracer", recording.get_tracer)
    assert make_client(proxy).get("/u/3").text == "ok"
    assert [span.name for span in recording.spans] == ["GET /u/{id}"]
    # An untouched proxy (no global provider configured) hands out a ProxyTracer: nothing traced.
    assert make_client(trace.ProxyTracerProvider()).get("/u/4").text == "ok"
