"""lyre's own public API, pinned: the names of ``lyre`` itself and the ``__all__`` of every public module.

``tests/test_public_names.py`` checks that lyre offers every name Starlette 1.10 does; this file pins
what lyre declares public (its top-level convenience names, ``lyre.cli``, ``lyre.compat``, the limits it
adds, ...), so a name is never added, renamed or dropped by accident. After a deliberate change, update
``PUBLIC`` below (and say so in CHANGELOG.md). Private modules (``lyre._*``) and ``lyre.types`` (type
aliases only) are not pinned; a module without ``__all__`` is pinned by its public, non-module globals.
"""

from __future__ import annotations

import json
import subprocess
import sys

# module -> its public names, sorted.
PUBLIC: dict[str, list[str]] = {
    "lyre": [
        "HTMLResponse",
        "HTTPException",
        "JSONResponse",
        "Lyre",
        "Mount",
        "PlainTextResponse",
        "RedirectResponse",
        "Request",
        "Response",
        "Route",
        "Router",
        "Starlette",
        "__version__",
    ],
    "lyre.applications": [
        "ASGIApp",
        "BaseRoute",
        "DEFAULT_MAX_BODY_SIZE",
        "ExceptionHandler",
        "ExceptionMiddleware",
        "Lifespan",
        "Lyre",
        "MAX_REQUEST_HEADERS",
        "Middleware",
        "Receive",
        "Request",
        "RequestBodyLimitMiddleware",
        "Response",
        "Router",
        "Scope",
        "Send",
        "ServerErrorMiddleware",
        "Starlette",
        "State",
        "URLPath",
    ],
    "lyre.authentication": [
        "AuthCredentials",
        "AuthenticationBackend",
        "AuthenticationError",
        "BaseUser",
        "HTTPConnection",
        "HTTPException",
        "RedirectResponse",
        "Request",
        "SimpleUser",
        "UnauthenticatedUser",
        "WebSocket",
        "has_required_scope",
        "is_async_callable",
        "requires",
    ],
    "lyre.background": ["BackgroundTask", "BackgroundTasks"],
    "lyre.cli": [
        "DISCOVERY_MODULES",
        "RouteRow",
        "TargetError",
        "build_parser",
        "build_run_config",
        "discover_target",
        "format_route_table",
        "iter_route_rows",
        "load_env_file",
        "load_target",
        "main",
        "startup_line",
    ],
    "lyre.compat": ["ALIASED_TARGET_ENV", "STARLETTE_API_VERSION"],
    "lyre.compat.starlette": ["AliasFinder", "install", "installed", "uninstall"],
    "lyre.concurrency": ["iterate_in_threadpool", "run_in_threadpool", "run_until_first_complete"],
    "lyre.config": ["Config", "Environ", "EnvironError", "environ", "undefined"],
    "lyre.convertors": [
        "CONVERTOR_TYPES",
        "Convertor",
        "FloatConvertor",
        "IntegerConvertor",
        "PathConvertor",
        "StringConvertor",
        "UUIDConvertor",
        "register_url_convertor",
    ],
    "lyre.datastructures": [
        "Address",
        "CommaSeparatedStrings",
        "FormData",
        "Headers",
        "ImmutableMultiDict",
        "MAX_QUERY_PAIRS",
        "MultiDict",
        "MutableHeaders",
        "QueryParams",
        "Scope",
        "Secret",
        "State",
        "URL",
        "URLPath",
        "UploadFile",
        "parse_host_header",
        "run_in_threadpool",
    ],
    "lyre.endpoints": [
        "HTTPEndpoint",
        "HTTPException",
        "Message",
        "PlainTextResponse",
        "Receive",
        "Request",
        "Response",
        "Scope",
        "Send",
        "WebSocket",
        "WebSocketEndpoint",
        "is_async_callable",
        "run_in_threadpool",
        "status",
    ],
    "lyre.exceptions": ["HTTPException", "StarletteDeprecationWarning", "WebSocketException"],
    "lyre.flash": ["MAX_PENDING", "SESSION_KEY", "flash", "flash_context", "get_flashed_messages"],
    "lyre.formparsers": [
        "FormMessage",
        "FormParser",
        "MultiPartException",
        "MultiPartParser",
        "MultipartPart",
    ],
    "lyre.middleware": ["Middleware"],
    "lyre.middleware.authentication": [
        "AuthCredentials",
        "AuthenticationBackend",
        "AuthenticationError",
        "AuthenticationMiddleware",
        "HTTPConnection",
        "UnauthenticatedUser",
    ],
    "lyre.middleware.base": [
        "AsyncContentStream",
        "BaseHTTPMiddleware",
        "BodyStreamGenerator",
        "DispatchFunction",
        "RequestResponseEndpoint",
        "create_collapsing_task_group",
    ],
    "lyre.middleware.body_limit": [
        "DEFAULT_MAX_BODY_SIZE",
        "Headers",
        "MAX_BODY_SIZE_SCOPE_KEY",
        "RequestBodyLimitMiddleware",
        "RequestBodyLimitResponder",
    ],
    "lyre.middleware.compression": [
        "CompressionMiddleware",
        "DEFAULT_BROTLI_QUALITY",
        "DEFAULT_EXCLUDED_CONTENT_TYPES",
        "DEFAULT_GZIP_LEVEL",
        "DEFAULT_PREFERENCE",
        "DEFAULT_ZSTD_LEVEL",
        "available_codings",
        "negotiate",
    ],
    "lyre.middleware.cors": ["ALL_METHODS", "CORSMiddleware", "SAFELISTED_HEADERS"],
    "lyre.middleware.csrf": ["CSRFMiddleware", "SAFE_METHODS", "csrf_input", "csrf_token"],
    "lyre.middleware.errors": [
        "CENTER_LINE",
        "ExceptionHandler",
        "FRAME_TEMPLATE",
        "HTMLResponse",
        "JS",
        "LINE",
        "Message",
        "PlainTextResponse",
        "Request",
        "Response",
        "STYLES",
        "ServerErrorMiddleware",
        "TEMPLATE",
        "is_async_callable",
        "run_in_threadpool",
    ],
    "lyre.middleware.exceptions": [
        "ExceptionHandler",
        "ExceptionHandlers",
        "ExceptionMiddleware",
        "HTTPException",
        "PlainTextResponse",
        "Request",
        "Response",
        "StatusHandlers",
        "WebSocket",
        "WebSocketException",
        "wrap_app_handling_exceptions",
    ],
    "lyre.middleware.gzip": [
        "DEFAULT_EXCLUDED_CONTENT_TYPES",
        "GZipMiddleware",
        "GZipResponder",
        "IdentityResponder",
        "unattached_send",
    ],
    "lyre.middleware.httpsredirect": ["HTTPSRedirectMiddleware"],
    "lyre.middleware.opentelemetry": ["Mount", "OpenTelemetryMiddleware", "URL"],
    "lyre.middleware.proxyheaders": ["MAX_HEADER_LENGTH", "MAX_HOPS", "ProxyHeadersMiddleware"],
    "lyre.middleware.sessions": ["HTTPConnection", "MutableHeaders", "Session", "SessionMiddleware"],
    "lyre.middleware.trustedhost": ["ENFORCE_DOMAIN_WILDCARD", "Headers", "TrustedHostMiddleware"],
    "lyre.middleware.wsgi": [
        "StarletteDeprecationWarning",
        "WSGIMiddleware",
        "WSGIResponder",
        "build_environ",
    ],
    "lyre.requests": [
        "ClientDisconnect",
        "HTTPConnection",
        "MalformedFormError",
        "MalformedJSONError",
        "Request",
        "SERVER_PUSH_HEADERS_TO_COPY",
        "cookie_parser",
        "empty_receive",
        "empty_send",
    ],
    "lyre.responses": [
        "AsyncContentStream",
        "Content",
        "ContentStream",
        "FileResponse",
        "HTMLResponse",
        "JSONResponse",
        "MalformedRangeHeader",
        "PlainTextResponse",
        "RangeNotSatisfiable",
        "RedirectResponse",
        "Response",
        "StreamingResponse",
        "SyncContentStream",
    ],
    "lyre.routing": [
        "ASGIApp",
        "BaseRoute",
        "CONVERTOR_TYPES",
        "Convertor",
        "HTTPException",
        "Headers",
        "Host",
        "Lifespan",
        "Match",
        "Middleware",
        "Mount",
        "NoMatchFound",
        "PARAM_FORMAT_REGEX",
        "PARAM_REGEX",
        "PlainTextResponse",
        "Receive",
        "RedirectResponse",
        "Request",
        "RequestBodyLimitMiddleware",
        "Response",
        "Route",
        "Router",
        "Scope",
        "Send",
        "StarletteDeprecationWarning",
        "URL",
        "URLPath",
        "WebSocket",
        "WebSocketClose",
        "WebSocketRoute",
        "compile_path",
        "get_name",
        "get_route_path",
        "is_async_callable",
        "parse_host_header",
        "replace_params",
        "request_response",
        "run_in_threadpool",
        "websocket_session",
        "wrap_app_handling_exceptions",
    ],
    "lyre.sessions": [
        "FileStore",
        "MemoryStore",
        "RedisStore",
        "SessionStore",
        "SessionStoreUnavailable",
        "new_session_id",
        "rotate",
    ],
    "lyre.schemas": [
        "BaseRoute",
        "BaseSchemaGenerator",
        "EndpointInfo",
        "Host",
        "Mount",
        "OpenAPIResponse",
        "Request",
        "Response",
        "Route",
        "SchemaGenerator",
    ],
    "lyre.staticfiles": ["NotModifiedResponse", "PathLike", "StaticFiles"],
    "lyre.status": [
        "HTTP_100_CONTINUE",
        "HTTP_101_SWITCHING_PROTOCOLS",
        "HTTP_102_PROCESSING",
        "HTTP_103_EARLY_HINTS",
        "HTTP_200_OK",
        "HTTP_201_CREATED",
        "HTTP_202_ACCEPTED",
        "HTTP_203_NON_AUTHORITATIVE_INFORMATION",
        "HTTP_204_NO_CONTENT",
        "HTTP_205_RESET_CONTENT",
        "HTTP_206_PARTIAL_CONTENT",
        "HTTP_207_MULTI_STATUS",
        "HTTP_208_ALREADY_REPORTED",
        "HTTP_226_IM_USED",
        "HTTP_300_MULTIPLE_CHOICES",
        "HTTP_301_MOVED_PERMANENTLY",
        "HTTP_302_FOUND",
        "HTTP_303_SEE_OTHER",
        "HTTP_304_NOT_MODIFIED",
        "HTTP_305_USE_PROXY",
        "HTTP_306_RESERVED",
        "HTTP_307_TEMPORARY_REDIRECT",
        "HTTP_308_PERMANENT_REDIRECT",
        "HTTP_400_BAD_REQUEST",
        "HTTP_401_UNAUTHORIZED",
        "HTTP_402_PAYMENT_REQUIRED",
        "HTTP_403_FORBIDDEN",
        "HTTP_404_NOT_FOUND",
        "HTTP_405_METHOD_NOT_ALLOWED",
        "HTTP_406_NOT_ACCEPTABLE",
        "HTTP_407_PROXY_AUTHENTICATION_REQUIRED",
        "HTTP_408_REQUEST_TIMEOUT",
        "HTTP_409_CONFLICT",
        "HTTP_410_GONE",
        "HTTP_411_LENGTH_REQUIRED",
        "HTTP_412_PRECONDITION_FAILED",
        "HTTP_413_CONTENT_TOO_LARGE",
        "HTTP_414_URI_TOO_LONG",
        "HTTP_415_UNSUPPORTED_MEDIA_TYPE",
        "HTTP_416_RANGE_NOT_SATISFIABLE",
        "HTTP_417_EXPECTATION_FAILED",
        "HTTP_418_IM_A_TEAPOT",
        "HTTP_421_MISDIRECTED_REQUEST",
        "HTTP_422_UNPROCESSABLE_CONTENT",
        "HTTP_423_LOCKED",
        "HTTP_424_FAILED_DEPENDENCY",
        "HTTP_425_TOO_EARLY",
        "HTTP_426_UPGRADE_REQUIRED",
        "HTTP_428_PRECONDITION_REQUIRED",
        "HTTP_429_TOO_MANY_REQUESTS",
        "HTTP_431_REQUEST_HEADER_FIELDS_TOO_LARGE",
        "HTTP_451_UNAVAILABLE_FOR_LEGAL_REASONS",
        "HTTP_500_INTERNAL_SERVER_ERROR",
        "HTTP_501_NOT_IMPLEMENTED",
        "HTTP_502_BAD_GATEWAY",
        "HTTP_503_SERVICE_UNAVAILABLE",
        "HTTP_504_GATEWAY_TIMEOUT",
        "HTTP_505_HTTP_VERSION_NOT_SUPPORTED",
        "HTTP_506_VARIANT_ALSO_NEGOTIATES",
        "HTTP_507_INSUFFICIENT_STORAGE",
        "HTTP_508_LOOP_DETECTED",
        "HTTP_510_NOT_EXTENDED",
        "HTTP_511_NETWORK_AUTHENTICATION_REQUIRED",
        "WS_1000_NORMAL_CLOSURE",
        "WS_1001_GOING_AWAY",
        "WS_1002_PROTOCOL_ERROR",
        "WS_1003_UNSUPPORTED_DATA",
        "WS_1005_NO_STATUS_RCVD",
        "WS_1006_ABNORMAL_CLOSURE",
        "WS_1007_INVALID_FRAME_PAYLOAD_DATA",
        "WS_1008_POLICY_VIOLATION",
        "WS_1009_MESSAGE_TOO_BIG",
        "WS_1010_MANDATORY_EXT",
        "WS_1011_INTERNAL_ERROR",
        "WS_1012_SERVICE_RESTART",
        "WS_1013_TRY_AGAIN_LATER",
        "WS_1014_BAD_GATEWAY",
        "WS_1015_TLS_HANDSHAKE",
    ],
    "lyre.templating": ["Jinja2Templates", "pass_context"],
    "lyre.testclient": [
        "ASGI2App",
        "ASGI3App",
        "ASGIInstance",
        "TestClient",
        "WebSocketDenialResponse",
        "WebSocketTestSession",
    ],
    "lyre.websockets": [
        "HTTPConnection",
        "Message",
        "Receive",
        "Response",
        "Scope",
        "Send",
        "StateT",
        "WebSocket",
        "WebSocketClose",
        "WebSocketDisconnect",
        "WebSocketDisconnected",
        "WebSocketState",
    ],
}

# Computed in a child process: importing every module includes ``lyre.compat.starlette``, which turns
# the ``starlette`` -> ``lyre`` alias on, and ``lyre.middleware.wsgi``, which warns on import.
_LIST_PUBLIC_NAMES = """
import importlib, json, pkgutil, types, warnings
warnings.simplefilter("ignore")
import lyre
names = {}
for info in pkgutil.walk_packages(lyre.__path__, "lyre."):
    parts = info.name.split(".")
    if any(p.startswith("_") for p in parts) or info.name in ("lyre.types", "lyre.compat.aliased_app"):
        continue
    module = importlib.import_module(info.name)
    public = getattr(module, "__all__", None)
    if public is None:
        public = [
            n for n, v in vars(module).items() if not n.startswith("_") and not isinstance(v, types.ModuleType)
        ]
    names[info.name] = sorted(public)
names["lyre"] = sorted(lyre.__all__)
print(json.dumps(names))
"""


def _current_public_names() -> dict[str, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", _LIST_PUBLIC_NAMES], capture_output=True, text=True, timeout=120, check=True
    )
    names: dict[str, list[str]] = json.loads(result.stdout)
    return names


def test_public_names_are_pinned() -> None:
    current = _current_public_names()
    assert sorted(current) == sorted(PUBLIC), "a public module was added or removed"
    for module, names in PUBLIC.items():
        added = sorted(set(current[module]) - set(names))
        removed = sorted(set(names) - set(current[module]))
        assert not added and not removed, f"{module}: added {added}, removed {removed}"


def test_top_level_names_resolve_to_their_modules() -> None:
    import lyre
    from lyre import applications, exceptions, requests, responses, routing

    assert lyre.Lyre is applications.Lyre and lyre.Starlette is applications.Starlette
    assert lyre.Request is requests.Request and lyre.HTTPException is exceptions.HTTPException
    assert lyre.JSONResponse is responses.JSONResponse and lyre.Router is routing.Router
    for name in lyre.__all__:
        assert name in dir(lyre)
        assert getattr(lyre, name) is not None


def test_version_has_one_source() -> None:
    from importlib.metadata import version

    import lyre

    assert version("lyre-asgi") == lyre.__version__
