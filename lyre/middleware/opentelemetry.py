"""``OpenTelemetryMiddleware`` (experimental): one server span per HTTP request.

Needs ``opentelemetry-api``. Span names and attributes follow the HTTP semantic conventions the way
Starlette 1.10 emits them: the span is named after the method, renamed ``"<METHOD> <route>"`` with
``http.route`` once routing found a route.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

try:
    from opentelemetry import metrics, trace
    from opentelemetry import propagate as propagate
    from opentelemetry.propagate import extract
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised without the package installed
    raise ImportError(
        "The `opentelemetry-api` package is required to use `OpenTelemetryMiddleware`."
    ) from exc

from lyre.datastructures import URL
from lyre.routing import Mount
from lyre.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["URL", "Mount", "OpenTelemetryMiddleware"]

_GUARD_KEY = "starlette.opentelemetry"
_INSTRUMENTATION_NAME = "starlette"
_INSTRUMENTATION_VERSION = "1.10.0"
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class OpenTelemetryMiddleware:
    """Trace each ``http`` request as a ``SERVER`` span (once per request, even when nested)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        excluded_urls: str | Sequence[str] = (),
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.app = app
        if isinstance(excluded_urls, str):
            excluded_urls = [part.strip() for part in excluded_urls.split(",")]
        self.excluded_urls = [re.compile(pattern) for pattern in excluded_urls if pattern]
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self._cached: tuple[trace.TracerProvider, trace.Tracer] | None = None

    def _tracer(self) -> trace.Tracer | None:
        """The tracer to use for this request, or ``None`` when tracing would be a no-op.

        Decided per request from what the provider hands out (not from the provider's type), so a
        provider configured after the middleware stack was built is picked up. A ``ProxyTracer``
        means no global provider is set yet: its spans would not record, so nothing is traced.
        """
        provider = self.tracer_provider if self.tracer_provider is not None else trace.get_tracer_provider()
        cached = self._cached
        if cached is not None and cached[0] is provider:
            tracer = cached[1]
        else:
            tracer = provider.get_tracer(_INSTRUMENTATION_NAME, _INSTRUMENTATION_VERSION)
            # Holding the provider keeps the identity check sound (no reused id()).
            self._cached = (provider, tracer)
        if isinstance(tracer, trace.NoOpTracer | trace.ProxyTracer):
            return None
        return tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _GUARD_KEY in scope:
            await self.app(scope, receive, send)
            return
        # Marks the request as handled for nested instances (mounted apps copy the scope); removed
        # afterwards, so a scope that is served again is traced again.
        scope[_GUARD_KEY] = True
        try:
            await self._traced(scope, receive, send)
        finally:
            scope.pop(_GUARD_KEY, None)

    async def _traced(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracer = self._tracer()
        url = URL(scope=scope)
        if tracer is None or any(pattern.search(str(url)) for pattern in self.excluded_urls):
            await self.app(scope, receive, send)
            return

        headers: dict[str, str] = {}
        for name, value in scope.get("headers", ()):
            headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        method_original: str = scope["method"]
        method = method_original.upper()
        attributes: dict[str, Any] = {"http.request.method": method}
        if method != method_original:
            attributes["http.request.method_original"] = method_original
        attributes["url.path"] = scope["path"]
        attributes["url.scheme"] = scope.get("scheme", "http")
        query = scope.get("query_string", b"")
        if query:
            attributes["url.query"] = query.decode("latin-1")
        if url.hostname:
            attributes["server.address"] = url.hostname
        port = url.port if url.port is not None else _DEFAULT_PORTS.get(url.scheme)
        if port is not None:
            attributes["server.port"] = port
        if "http_version" in scope:
            attributes["network.protocol.version"] = scope["http_version"]
        client = scope.get("client")
        if client:
            attributes["client.address"] = client[0]
        if "user-agent" in headers:
            attributes["user_agent.original"] = headers["user-agent"]

        with tracer.start_as_current_span(
            method, context=extract(headers), kind=SpanKind.SERVER, attributes=attributes
        ) as span:

            async def send_wrapper(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = message["status"]
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_attribute("error.type", str(status))
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, send_wrapper)
            except BaseException as exc:
                span.set_attribute("error.type", type(exc).__qualname__)
                raise
            finally:
                route = scope.get("route")
                if route is not None:
                    root_path = scope.get("root_path", "")
                    path_format = getattr(route, "path_format", None)
                    if path_format is None or isinstance(route, Mount):
                        http_route = root_path or path_format or ""
                    else:
                        http_route = root_path + path_format
                    if http_route:
                        span.update_name(f"{method} {http_route}")
                        span.set_attribute("http.route", http_route)
