"""``CORSMiddleware``: answer CORS preflights and add CORS headers to responses.

lyre decision -- ``allow_origins=["*"]`` together with ``allow_credentials=True``: Starlette echoes
*any* request origin back with ``Access-Control-Allow-Credentials: true``, which lets every site on
the internet make credentialed (cookie-carrying) requests and read the answers. lyre does not: with
that configuration

* origins you trust explicitly -- other entries of ``allow_origins`` or a match of
  ``allow_origin_regex`` -- get their origin echoed with ``Access-Control-Allow-Credentials: true``;
* every other origin gets ``Access-Control-Allow-Origin: *`` and **no** credentials header, so
  public, credential-less cross-origin requests keep working while browsers refuse to expose
  credentialed responses to arbitrary sites.

Set the class attribute ``CORSMiddleware.reflect_any_origin_with_credentials = True`` (or on a
subclass) to get Starlette's behaviour back.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection

from lyre.datastructures import Headers, MutableHeaders
from lyre.responses import PlainTextResponse, Response
from lyre.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ALL_METHODS", "SAFELISTED_HEADERS", "CORSMiddleware"]

ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY")
SAFELISTED_HEADERS = {"Accept", "Accept-Language", "Content-Language", "Content-Type"}

# Origins, methods or header names as given by the user (any iterable container of strings).
_Names = Collection[str]

_UNSAFE_ORIGIN = re.compile(r"[\x00-\x1f\x7f]")

_PREFLIGHT_VARY = (
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, "
    "Access-Control-Request-Private-Network"
)


def _header_dict(*pairs: tuple[str, str] | None) -> dict[str, str]:
    """The given ``(name, value)`` pairs, in order, skipping the ``None`` placeholders."""
    return {pair[0]: pair[1] for pair in pairs if pair is not None}


class CORSMiddleware:
    """Cross-Origin Resource Sharing for ``http`` scopes (other scopes pass through)."""

    #: Opt back into Starlette's "echo any origin with credentials" for ``["*"]`` + credentials.
    reflect_any_origin_with_credentials = False

    def __init__(
        self,
        app: ASGIApp,
        allow_origins: _Names = (),
        allow_methods: _Names = ("GET",),
        allow_headers: _Names = (),
        allow_credentials: bool = False,
        allow_origin_regex: str | None = None,
        allow_private_network: bool = False,
        expose_headers: _Names = (),
        max_age: int = 600,
    ) -> None:
        methods = ALL_METHODS if "*" in allow_methods else allow_methods
        any_origin = "*" in allow_origins
        any_header = "*" in allow_headers
        # A preflight names the origin itself unless every origin is allowed without credentials.
        echo_origin = allow_credentials or not any_origin
        header_names = sorted(SAFELISTED_HEADERS.union(allow_headers))

        simple_headers = _header_dict(
            ("Access-Control-Allow-Origin", "*") if any_origin else None,
            ("Access-Control-Allow-Credentials", "true") if allow_credentials else None,
            ("Access-Control-Expose-Headers", ", ".join(expose_headers)) if expose_headers else None,
        )
        preflight_headers = _header_dict(
            ("Vary", _PREFLIGHT_VARY),
            None if echo_origin else ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Methods", ", ".join(methods)),
            ("Access-Control-Max-Age", str(max_age)),
            ("Access-Control-Allow-Headers", ", ".join(header_names))
            if header_names and not any_header
            else None,
            ("Access-Control-Allow-Credentials", "true") if allow_credentials else None,
        )

        self.app = app
        self.simple_headers, self.preflight_headers = simple_headers, preflight_headers
        self.allow_origins, self.allow_all_origins = allow_origins, any_origin
        self.allow_origin_regex = None if allow_origin_regex is None else re.compile(allow_origin_regex)
        self.preflight_explicit_allow_origin = echo_origin
        self.allow_methods = methods
        self.allow_headers, self.allow_all_headers = [name.lower() for name in header_names], any_header
        self.allow_credentials, self.allow_private_network = allow_credentials, allow_private_network
        # lyre: "*" + credentials only echoes explicitly trusted origins (see the module docstring).
        self._guard_wildcard = any_origin and allow_credentials
        self._explicit_origins = frozenset(o for o in allow_origins if o != "*")
        # Headers for an untrusted origin under the wildcard guard: "*" and no credentials.
        self._wildcard_simple_headers = {
            k: v for k, v in simple_headers.items() if k != "Access-Control-Allow-Credentials"
        }
        self._wildcard_simple_headers["Access-Control-Allow-Origin"] = "*"
        self._wildcard_preflight_headers = {
            k: v for k, v in preflight_headers.items() if k != "Access-Control-Allow-Credentials"
        }
        self._is_trusted = functools.lru_cache(maxsize=512)(self._trusted_origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        method = scope["method"]
        headers = Headers(scope=scope)
        origin = headers.get("origin")

        if method == "OPTIONS" and origin is not None and "access-control-request-method" in headers:
            response = self.preflight_response(request_headers=headers)
            await response(scope, receive, send)
            return

        await self.simple_response(scope, receive, send, request_headers=headers)

    def _trusted_origin(self, origin: str) -> bool:
        if origin in self._explicit_origins:
            return True
        regex = self.allow_origin_regex
        return regex is not None and regex.fullmatch(origin) is not None

    def _wildcard_only(self, origin: str) -> bool:
        """True when lyre answers ``*`` without credentials instead of echoing ``origin``."""
        return (
            self._guard_wildcard
            and not self.reflect_any_origin_with_credentials
            and not self._is_trusted(origin)
        )

    def is_allowed_origin(self, origin: str) -> bool:
        if _UNSAFE_ORIGIN.search(origin) is not None:
            # lyre: an origin that could not be echoed in a header is never allowed (no 500).
            return False
        if self.allow_all_origins:
            return True
        return self._is_trusted(origin)  # type: ignore[no-any-return]

    def preflight_response(self, request_headers: Headers) -> Response:
        requested_origin = request_headers["origin"]
        requested_method = request_headers["access-control-request-method"]
        requested_headers = request_headers.get("access-control-request-headers")
        requested_private_network = request_headers.get("access-control-request-private-network")

        wildcard_only = self._wildcard_only(requested_origin)
        headers = dict(self._wildcard_preflight_headers if wildcard_only else self.preflight_headers)
        failures: list[str] = []

        if not self.is_allowed_origin(origin=requested_origin):
            failures.append("origin")
        elif wildcard_only:
            headers["Access-Control-Allow-Origin"] = "*"
        elif self.preflight_explicit_allow_origin:
            # Credentials or an explicit origin list: name the origin itself.
            headers["Access-Control-Allow-Origin"] = requested_origin

        if requested_method not in self.allow_methods:
            failures.append("method")

        if requested_headers is not None:
            if self.allow_all_headers:
                headers["Access-Control-Allow-Headers"] = requested_headers
            elif any(name.strip().lower() not in self.allow_headers for name in requested_headers.split(",")):
                failures.append("headers")

        if requested_private_network is not None:
            if self.allow_private_network:
                headers["Access-Control-Allow-Private-Network"] = "true"
            else:
                failures.append("private-network")

        if failures:
            return PlainTextResponse(
                "Disallowed CORS " + ", ".join(failures), status_code=400, headers=headers
            )
        return PlainTextResponse("OK", status_code=200, headers=headers)

    async def simple_response(
        self, scope: Scope, receive: Receive, send: Send, request_headers: Headers
    ) -> None:
        async def send_with_cors(message: Message) -> None:
            await self.send(message, send, request_headers)

        await self.app(scope, receive, send_with_cors)

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        if message["type"] != "http.response.start":
            await send(message)
            return
        headers = MutableHeaders(scope=message)
        origin = request_headers.get("origin")
        if origin is not None:
            wildcard_only = self._wildcard_only(origin)
            for name, value in (
                self._wildcard_simple_headers if wildcard_only else self.simple_headers
            ).items():
                headers[name] = value
            if not wildcard_only and self.is_allowed_origin(origin):
                if self.allow_all_origins:
                    if self.allow_credentials:
                        # Credentials cannot be combined with "*": the origin is echoed
                        # (only for trusted origins, or when the opt-out is set -- see above).
                        headers["Access-Control-Allow-Origin"] = origin
                else:
                    headers["Access-Control-Allow-Origin"] = origin
        headers.add_vary_header("Origin")
        await send(message)

    @staticmethod
    def allow_explicit_origin(headers: MutableHeaders, origin: str) -> None:
        headers["Access-Control-Allow-Origin"] = origin
        headers.add_vary_header("Origin")
