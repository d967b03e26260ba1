"""``HTTPSRedirectMiddleware``: redirect ``http``/``ws`` requests to ``https``/``wss``.

lyre decision: the redirect target is built from a single, valid ``Host`` header (or the server
address when it is missing or invalid); a request with repeated ``Host`` headers gets
``400 Invalid host header`` instead of a redirect. The ``Location`` is always absolute with that
authority, so ``//evil.com``-style paths stay paths on this host.
"""

from __future__ import annotations

from lyre.datastructures import URL
from lyre.responses import PlainTextResponse, RedirectResponse, Response
from lyre.types import ASGIApp, Receive, Scope, Send

__all__ = ["HTTPSRedirectMiddleware"]

_SECURE = {"http": "https", "ws": "wss"}


class HTTPSRedirectMiddleware:
    """307-redirect plain-text schemes to their secure counterpart; secure ones pass through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        secure = _SECURE.get(scope.get("scheme", "http")) if scope["type"] in ("http", "websocket") else None
        if secure is None:
            await self.app(scope, receive, send)
            return
        response: Response
        hosts = sum(1 for name, _ in scope.get("headers", ()) if name == b"host")
        url = URL(scope=scope)
        if hosts > 1 or not url.netloc:
            response = PlainTextResponse("Invalid host header", status_code=400)
        else:
            hostname = url.hostname or ""
            if ":" in hostname:
                hostname = f"[{hostname}]"  # an IPv6 literal keeps its brackets
            netloc = hostname if url.port in (80, 443) else url.netloc
            # The authority is always present, so a "//evil.com" path stays a path on this host.
            redirect = url.replace(scheme=secure, netloc=netloc)
            response = RedirectResponse(redirect, status_code=307)
        await response(scope, receive, send)
