"""``TrustedHostMiddleware``: reject requests whose ``Host`` header is not one of ours.

lyre decisions (safer by default): a request with more than one ``Host`` header is answered
``400 Invalid host header`` (RFC 9112 requires it; which copy a proxy would honour is undefined), and
the ``www.`` redirect is built from the validated host only, so it never leaves our domain. As in
Starlette, the port is ignored when checking the host (``api:65536`` passes when ``api`` is allowed).
"""

from __future__ import annotations

from collections.abc import Sequence

from lyre._utils import parse_host_header
from lyre.datastructures import URL, Headers
from lyre.responses import PlainTextResponse, RedirectResponse, Response
from lyre.types import ASGIApp, Receive, Scope, Send

__all__ = ["ENFORCE_DOMAIN_WILDCARD", "Headers", "TrustedHostMiddleware"]

ENFORCE_DOMAIN_WILDCARD = "Domain wildcard patterns must be like '*.example.com'."


def _single_host_header(scope: Scope) -> str | None:
    """The ``Host`` header value, or ``None`` when it is missing or repeated."""
    found: bytes | None = None
    for name, value in scope.get("headers", ()):
        if name == b"host":
            if found is not None:
                return None
            found = value
    return None if found is None else found.decode("latin-1")


def _is_valid_pattern(pattern: str) -> bool:
    """``*`` may only stand alone or open a ``*.domain`` pattern."""
    if not pattern.startswith("*"):
        return "*" not in pattern
    return pattern == "*" or (pattern.startswith("*.") and "*" not in pattern[1:])


class TrustedHostMiddleware:
    """Allow only requests for ``allowed_hosts`` (exact names or ``*.domain`` patterns)."""

    def __init__(
        self,
        app: ASGIApp,
        allowed_hosts: Sequence[str] | None = None,
        www_redirect: bool = True,
    ) -> None:
        patterns = ["*"] if allowed_hosts is None else [host.lower() for host in allowed_hosts]
        for pattern in patterns:
            assert _is_valid_pattern(pattern), ENFORCE_DOMAIN_WILDCARD
        self.app, self.www_redirect = app, www_redirect
        self.allowed_hosts = patterns
        self.allow_any = "*" in patterns
        # PERF (no cell: not in the bench apps): exact names in a set, wildcards as ".suffix"es;
        # measured: 0.08-0.19 µs vs 0.48 µs per check, 3 patterns (2.5-6.4x).
        self._exact = frozenset(p for p in patterns if p[:1] != "*")
        self._suffixes = tuple(p[1:] for p in patterns if p[:2] == "*.")

    def _is_allowed(self, host: str) -> bool:
        return host in self._exact or (bool(self._suffixes) and host.endswith(self._suffixes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.allow_any or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        parsed = parse_host_header(_single_host_header(scope))
        if parsed is not None:
            host = parsed.host.lower()
            if self._is_allowed(host):
                await self.app(scope, receive, send)
                return
            response: Response
            # The redirect is built from the Host header, so only from one that makes a valid URL
            # (an out-of-range port is ignored when checking the host, not copied into a Location).
            if self.www_redirect and parsed.is_valid_port and "www." + host in self._exact:
                url = URL(scope=scope)
                redirect_url = url.replace(netloc="www." + url.netloc)
                response = RedirectResponse(url=str(redirect_url))
                await response(scope, receive, send)
                return
        response = PlainTextResponse("Invalid host header", status_code=400)
        await response(scope, receive, send)
