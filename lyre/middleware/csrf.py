"""``CSRFMiddleware``: cross-site request forgery protection by a signed double-submit cookie.

How it works:

* Every response to a safe request (``GET``, ``HEAD``, ``OPTIONS``, ``TRACE``) that came without a
  valid CSRF cookie sets one. The cookie's value *is* the token: a random nonce and its HMAC-SHA256
  signature under ``secret`` (stdlib ``hmac``; no extra dependency). The token of the current
  request is in ``scope["state"]["csrf_token"]`` (``request.state.csrf_token``) from the start, so
  the endpoint that sets the cookie can already render it into a form.
* An unsafe request (anything else) must send the same token back, in the ``X-CSRF-Token`` header
  (JavaScript) or the ``csrf_token`` field of an urlencoded or multipart form. The form is read
  ahead of the application without consuming it: what is read is buffered and replayed to the
  application's ``receive``; a multipart body is read only up to the end of the token's part.
  The buffer is bounded by the request body limit in force (lyre's, 16 MiB by default).
* Cross-site check (``check_origin=True``): an unsafe request whose ``Origin`` (or, lacking one,
  ``Referer``) names an origin other than the request's own (scheme, host and port) or one of
  ``trusted_origins`` is refused. A request with neither header is judged on the token alone.

Any failure answers ``403`` with a plain-text reason; nothing the client sends can cause a 500.
Tokens are compared with ``hmac.compare_digest``. WebSocket and lifespan scopes pass through.

Behind a TLS-terminating proxy, install ``ProxyHeadersMiddleware`` outside this middleware (or list
the public origin in ``trusted_origins``): otherwise the request's own origin is ``http://...``
while browsers send ``Origin: https://...``.
"""

from __future__ import annotations

import base64
import hmac
import html
import re
import secrets
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from lyre.datastructures import Secret
from lyre.formparsers import MAX_BOUNDARY_LENGTH, _parse_options, _require_multipart
from lyre.middleware.body_limit import DEFAULT_MAX_BODY_SIZE, MAX_BODY_SIZE_SCOPE_KEY
from lyre.requests import HTTPConnection, cookie_parser
from lyre.responses import PlainTextResponse
from lyre.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SAFE_METHODS", "CSRFMiddleware", "csrf_input", "csrf_token"]

#: Methods that must not change state: they get a token and are never checked.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

#: Scope keys the middleware publishes for the template helpers.
TOKEN_STATE_KEY = "csrf_token"
FIELD_SCOPE_KEY = "lyre.csrf_field_name"

# A token is ``<nonce>.<signature>``: 32 random bytes and a SHA-256 HMAC, both base64url unpadded.
_NONCE_BYTES = 32
_TOKEN_LENGTH = 43 + 1 + 43
# The largest form value or header considered as a token; anything longer is simply not a token.
_MAX_TOKEN_FIELD = 256
_VALID_CACHE_SIZE = 4096
_NOT_IN_COOKIE_NAME = frozenset('()<>@,;:\\"/[]?={} \t\r\n\x00')
_NOT_IN_ATTRIBUTE = frozenset(";\r\n\x00")
_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class _TokenSigner:
    """Makes and checks tokens; the key is derived from ``secret`` so it is never the session key."""

    __slots__ = ("_key", "_valid")

    def __init__(self, secret: str | bytes) -> None:
        raw = secret.encode("utf-8") if isinstance(secret, str) else secret
        if not raw:
            raise ValueError("CSRFMiddleware needs a non-empty secret")
        self._key = hmac.digest(raw, b"lyre.csrf.v1", "sha256")
        # Tokens already found valid (only those: nothing a client sends can enter unverified).
        self._valid: dict[str, None] = {}

    def _sign(self, nonce: str) -> str:
        return _b64(hmac.digest(self._key, nonce.encode("ascii"), "sha256"))

    def new_token(self) -> str:
        nonce = _b64(secrets.token_bytes(_NONCE_BYTES))
        return nonce + "." + self._sign(nonce)

    def is_valid(self, token: str) -> bool:
        if len(token) != _TOKEN_LENGTH or not token.isascii():
            return False
        # PERF (no bench cell): a returning client's cookie is checked from this cache, not by HMAC;
        # measured (with hmac.digest for the HMAC): 8.8 -> 3.9 µs per GET with a valid cookie.
        valid = self._valid
        if token in valid:
            return True
        nonce, dot, signature = token.partition(".")
        if not dot or not hmac.compare_digest(self._sign(nonce), signature):
            return False
        if len(valid) >= _VALID_CACHE_SIZE:
            valid.clear()
        valid[token] = None
        return True


def _origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL, lower-cased, default port dropped; ``None`` if unusable."""
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if not scheme or not host:
        return None
    if ":" in host:  # IPv6 literal
        host = "[" + host + "]"
    if port is not None and str(port) != _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def _own_origin(scope: Scope, host_header: str | None) -> str | None:
    scheme = scope.get("scheme", "http")
    if host_header:
        return _origin_of(f"{scheme}://{host_header}")
    server = scope.get("server")
    if server:
        host, port = server[0], server[1]
        return _origin_of(f"{scheme}://{host}:{port}" if port is not None else f"{scheme}://{host}")
    return None


class _Forbidden(Exception):
    def __init__(self, reason: str, status: int = 403) -> None:
        self.reason = reason
        self.status = status


class CSRFMiddleware:
    """Refuse unsafe requests that lack the CSRF token of the client's cookie, or come cross-site.

    ``secret``: signs the tokens (use a long random value, distinct from the session secret).
    ``exempt_paths``: paths never checked; a ``str`` matches ``scope["path"]`` exactly, a compiled
    ``re.Pattern`` must ``fullmatch`` it (e.g. ``re.compile(r"/webhooks/.*")``).
    ``trusted_origins``: other origins allowed to post, e.g. ``"https://admin.example.com"``.
    ``cookie_secure``: ``None`` (default) marks the cookie ``Secure`` on https requests only.
    ``max_body_size``: the most read ahead to find a form token when no lyre body limit is in force.
    """

    def __init__(
        self,
        app: ASGIApp,
        secret: str | bytes | Secret,
        *,
        cookie_name: str = "csrftoken",
        header_name: str = "X-CSRF-Token",
        field_name: str = "csrf_token",
        exempt_paths: Iterable[str | re.Pattern[str]] = (),
        trusted_origins: Iterable[str] = (),
        check_origin: bool = True,
        cookie_path: str = "/",
        cookie_domain: str | None = None,
        cookie_max_age: int | None = 365 * 24 * 60 * 60,
        cookie_secure: bool | None = None,
        cookie_httponly: bool = False,
        cookie_samesite: str = "lax",
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        self.app = app
        self._signer = _TokenSigner(str(secret) if isinstance(secret, Secret) else secret)
        self.cookie_name = cookie_name
        self.header_name = header_name.lower().encode("latin-1")
        self._header_label = header_name
        self.field_name = field_name
        self._field_bytes = field_name.encode("utf-8")
        exact: set[str] = set()
        self._exempt_patterns: list[re.Pattern[str]] = []
        for path in exempt_paths:
            if isinstance(path, str):
                exact.add(path)
            else:
                self._exempt_patterns.append(path)
        self._exempt_exact = frozenset(exact)
        trusted: set[str] = set()
        for origin in trusted_origins:
            normal = _origin_of(origin)
            if normal is None:
                raise ValueError(f"trusted origin {origin!r} is not of the form scheme://host[:port]")
            trusted.add(normal)
        self.trusted_origins = frozenset(trusted)
        self.check_origin = check_origin
        self.cookie_secure = cookie_secure
        self.max_body_size = max_body_size
        if not cookie_name or any(char in _NOT_IN_COOKIE_NAME for char in cookie_name):
            raise ValueError(f"cookie_name {cookie_name!r} is not a valid cookie name")
        for label, text in (("cookie_path", cookie_path), ("cookie_domain", cookie_domain)):
            if text is not None and any(char in _NOT_IN_ATTRIBUTE for char in text):
                raise ValueError(f"{label} {text!r} contains a character a cookie attribute cannot hold")
        samesite = cookie_samesite.lower()
        if samesite not in ("lax", "strict", "none"):
            raise ValueError("cookie_samesite must be 'lax', 'strict' or 'none'")
        attributes = f"; Path={cookie_path}"
        if cookie_domain:
            attributes += f"; Domain={cookie_domain}"
        if cookie_max_age is not None:
            attributes += f"; Max-Age={cookie_max_age}"
        if cookie_httponly:
            attributes += "; HttpOnly"
        attributes += f"; SameSite={samesite.capitalize()}"
        self._cookie_attributes = attributes

    # -- request handling ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie_token: str | None = None
        header_token: str | None = None
        origin: str | None = None
        referer: str | None = None
        host: str | None = None
        content_type = ""
        cookies: list[bytes] = []
        header_name = self.header_name
        for name, value in scope.get("headers", ()):
            if name == b"cookie":
                cookies.append(value)
            elif name == header_name:
                header_token = value.decode("latin-1").strip()
            elif name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"referer":
                referer = value.decode("latin-1")
            elif name == b"host":
                host = value.decode("latin-1")
            elif name == b"content-type" and not content_type:
                content_type = value.decode("latin-1")
        if cookies:
            found = cookie_parser(b"; ".join(cookies).decode("latin-1")).get(self.cookie_name)
            if found is not None and self._signer.is_valid(found):
                cookie_token = found

        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        scope[FIELD_SCOPE_KEY] = self.field_name

        if scope.get("method", "GET") in SAFE_METHODS or self._is_exempt(scope.get("path", "")):
            if cookie_token is not None:
                state[TOKEN_STATE_KEY] = cookie_token
                await self.app(scope, receive, send)
                return
            token = state[TOKEN_STATE_KEY] = self._signer.new_token()
            await self.app(scope, receive, self._cookie_setter(scope, send, token))
            return

        try:
            if self.check_origin:
                self._check_origin(scope, origin, referer, host)
            if cookie_token is None:
                raise _Forbidden(
                    f"CSRF check failed: the {self.cookie_name} cookie is missing or invalid "
                    "(load a page of this site first)."
                )
            if header_token is not None:
                submitted: str | None = header_token
            else:
                submitted, receive = await self._form_token(scope, receive, content_type)
            if submitted is None:
                raise _Forbidden(
                    f"CSRF check failed: token missing (send it in the {self._header_label} header "
                    f"or the {self.field_name} form field)."
                )
            if not self._signer.is_valid(submitted):
                raise _Forbidden("CSRF check failed: the token is invalid.")
            if not hmac.compare_digest(submitted, cookie_token):
                raise _Forbidden("CSRF check failed: the token does not match the cookie.")
        except _Forbidden as refusal:
            await PlainTextResponse(refusal.reason, status_code=refusal.status)(scope, receive, send)
            return
        state[TOKEN_STATE_KEY] = cookie_token
        await self.app(scope, receive, send)

    def _is_exempt(self, path: str) -> bool:
        if path in self._exempt_exact:
            return True
        for pattern in self._exempt_patterns:
            if pattern.fullmatch(path):
                return True
        return False

    def _check_origin(self, scope: Scope, origin: str | None, referer: str | None, host: str | None) -> None:
        claimed = origin if origin is not None else referer
        if claimed is None:
            return
        source = _origin_of(claimed) if claimed != "null" else None
        if source is not None and (source == _own_origin(scope, host) or source in self.trusted_origins):
            return
        what = "Origin" if origin is not None else "Referer"
        shown = claimed if len(claimed) <= 200 else claimed[:200] + "..."
        raise _Forbidden(f"CSRF check failed: the request comes from another origin ({what}: {shown}).")

    def _cookie_setter(self, scope: Scope, send: Send, token: str) -> Send:
        secure = self.cookie_secure
        if secure is None:
            secure = scope.get("scheme") == "https"
        cookie = f"{self.cookie_name}={token}{self._cookie_attributes}"
        if secure:
            cookie += "; Secure"
        header = (b"set-cookie", cookie.encode("latin-1"))

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers")
                message = {**message, "headers": [*(headers or ()), header]}
            await send(message)

        return send_with_cookie

    # -- reading the token from a form -----------------------------------------------------------

    async def _form_token(
        self, scope: Scope, receive: Receive, content_type: str
    ) -> tuple[str | None, Receive]:
        """The form's token field (``None`` if absent) and the ``receive`` that replays what was read."""
        kind, _, params = content_type.partition(";")
        kind = kind.strip().lower()
        if kind == "application/x-www-form-urlencoded":
            finder: _UrlencodedFinder | _MultipartFinder = _UrlencodedFinder(self._field_bytes)
        elif kind == "multipart/form-data":
            try:
                finder = _MultipartFinder(params, self._field_bytes)
            except (ValueError, ImportError):
                return None, receive
        else:
            return None, receive

        limit = self.max_body_size
        in_force = scope.get(MAX_BODY_SIZE_SCOPE_KEY)
        if isinstance(in_force, int) and in_force < limit:
            limit = in_force
        read: list[Message] = []
        size = 0
        while True:
            message = await receive()
            read.append(message)
            if message["type"] != "http.request":
                break
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                raise _Forbidden("Content Too Large", 413)
            if body and finder.feed(body):
                break
            if not message.get("more_body", False):
                finder.finish()
                break
        return finder.token(), _replaying(read, receive)


def _replaying(read: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that returns the messages already read, then reads on."""
    pending = read[::-1]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay


def _as_token(raw: bytes | bytearray) -> str | None:
    if len(raw) > _MAX_TOKEN_FIELD:
        return None
    try:
        return bytes(raw).decode("ascii").strip()
    except UnicodeDecodeError:
        return None


class _UrlencodedFinder:
    """Buffers an urlencoded body (already bounded by the caller) and finds the field at the end."""

    __slots__ = ("_body", "_name", "_value")

    def __init__(self, name: bytes) -> None:
        self._name = name
        self._body = bytearray()
        self._value: str | None = None

    def feed(self, chunk: bytes) -> bool:
        self._body += chunk
        return False

    def finish(self) -> None:
        name = self._name
        for field in bytes(self._body).split(b"&"):
            key, _, value = field.partition(b"=")
            if unquote_plus(key.decode("latin-1"), encoding="latin-1").encode("latin-1") != name:
                continue
            if len(value) > _MAX_TOKEN_FIELD * 3:
                return
            self._value = unquote_plus(value.decode("latin-1"), encoding="latin-1")
            if len(self._value) > _MAX_TOKEN_FIELD or not self._value.isascii():
                self._value = None
            return

    def token(self) -> str | None:
        return self._value


class _MultipartFinder:
    """Streams a multipart body through python-multipart until the token's part has ended."""

    __slots__ = (
        "_capturing",
        "_done",
        "_header_field",
        "_header_value",
        "_headers",
        "_name",
        "_parser",
        "_value",
    )

    def __init__(self, params: str, name: bytes) -> None:
        _, options = _parse_options("multipart/form-data;" + params)
        boundary = options.get("boundary")
        if not boundary or len(boundary) > MAX_BOUNDARY_LENGTH:
            raise ValueError("bad boundary")
        self._name = name.decode("utf-8")
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._capturing = False
        self._done = False
        self._value = bytearray()
        callbacks: dict[str, Any] = {
            "on_part_begin": self._part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }
        multipart = _require_multipart()
        self._parser = multipart.MultipartParser(boundary.encode("latin-1"), callbacks)

    def _part_begin(self) -> None:
        self._headers = {}

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        if len(self._header_value) < 4096:
            self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field = bytearray()
        self._header_value = bytearray()

    def _headers_finished(self) -> None:
        disposition = self._headers.get(b"content-disposition", b"").decode("latin-1")
        _, options = _parse_options(disposition)
        self._capturing = options.get("name") == self._name and "filename" not in options

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._capturing and len(self._value) <= _MAX_TOKEN_FIELD:
            self._value += data[start:end]

    def _part_end(self) -> None:
        if self._capturing:
            self._done = True
            self._capturing = False

    def feed(self, chunk: bytes) -> bool:
        """Parse a chunk; ``True`` once the token's part is complete (no need to read further)."""
        if self._done:
            return True
        try:
            self._parser.write(chunk)
        except Exception:  # python-multipart's ParseError: a malformed body has no token
            self._done = False
            self._value = bytearray()
            return True
        return self._done

    def finish(self) -> None:
        return None

    def token(self) -> str | None:
        return _as_token(self._value) if self._done else None


# -- template helpers ----------------------------------------------------------------------------


def csrf_token(request: HTTPConnection) -> str:
    """The CSRF token of this request, for a form field or a ``X-CSRF-Token`` header.

    Raises ``RuntimeError`` when ``CSRFMiddleware`` does not wrap the application.
    """
    state = request.scope.get("state") or {}
    token = state.get(TOKEN_STATE_KEY)
    if token is None:
        raise RuntimeError("csrf_token() needs CSRFMiddleware installed around the application")
    return str(token)


def csrf_input(request: HTTPConnection) -> Any:
    """The hidden ``<input>`` carrying the token, as HTML-safe markup (``markupsafe.Markup`` if installed).

    Register it for Jinja2 with ``templates.env.globals["csrf_input"] = csrf_input`` and write
    ``{{ csrf_input(request) }}`` inside a ``<form>``.
    """
    token = csrf_token(request)
    field = str(request.scope.get(FIELD_SCOPE_KEY, "csrf_token"))
    markup = f'<input type="hidden" name="{html.escape(field)}" value="{html.escape(token)}">'
    try:
        from markupsafe import Markup
    except ImportError:  # pragma: no cover - markupsafe comes with jinja2
        return _HTML(markup)
    return Markup(markup)


class _HTML(str):
    """A ``str`` that template engines treat as already-escaped HTML."""

    def __html__(self) -> str:
        return str(self)
