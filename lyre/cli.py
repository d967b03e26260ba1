"""The ``lyre`` command line: ``lyre run [MODULE:APP]`` and ``lyre routes MODULE:APP``.

``lyre run`` serves an application through uvicorn (the ``full`` extra; the default) or, with
``--server granian``, through granian (the ``granian`` extra); ``lyre routes`` prints the route table
of an application or router. Both take the application as ``MODULE:ATTRIBUTE`` (the attribute may
be dotted, ``pkg.mod:holder.app``), importing the module with the current directory on
``sys.path`` as ``python -m`` and uvicorn do. ``lyre run`` without a target looks for ``app`` in
``main.py``, then in ``app.py``, of the current directory; ``--factory`` takes a callable returning the
application; ``--env-file`` loads ``KEY=VALUE`` lines into the environment before anything is imported
(variables already set win). Before serving it prints one line: lyre's version, the URL, the number of
workers and the server.

A FastAPI (or real-Starlette) application given without ``--as-starlette`` runs on the real Starlette;
both commands say so on stderr and suggest the flag.

Exit codes: ``0`` success, ``1`` a runtime failure (the server missing), ``2`` a usage error (bad
arguments, an option the chosen server does not have, a missing env file, or a ``MODULE:APP`` that
cannot be found: one line on stderr, no traceback; argument errors print the sub-command's usage).
An exception raised *while importing* the user's module is the user's bug, not a bad target, so it
propagates with its traceback.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DISCOVERY_MODULES",
    "TargetError",
    "discover_target",
    "load_env_file",
    "startup_line",
    "RouteRow",
    "build_parser",
    "build_run_config",
    "format_route_table",
    "iter_route_rows",
    "load_target",
    "main",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

# Display order of methods in the route table: the usual verbs first, anything else sorted after.
_METHOD_ORDER = {
    m: i for i, m in enumerate(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "QUERY"))
}
# The methods an HTTPEndpoint subclass can dispatch to (see endpoints.md).
_ENDPOINT_VERBS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "QUERY")


# Where ``lyre run`` without a target looks for an ``app`` attribute, in this order.
DISCOVERY_MODULES = ("main", "app")

# The servers ``lyre run --server`` can use; the first is the default (see docs/decisions.md,
# "Serving", for the measurement behind the choice).
_SERVERS = ("uvicorn", "granian")

# What to install for each server, named in the error when it is missing.
_SERVER_EXTRAS = {"uvicorn": "full", "granian": "granian"}


class TargetError(Exception):
    """A ``MODULE:APP`` argument that does not name an importable object (a usage error, exit 2)."""


def discover_target(directory: str | None = None) -> str:
    """The target ``lyre run`` uses when none is given: ``main:app``, else ``app:app``.

    A module is chosen when ``<name>.py`` exists in ``directory`` (default: the current directory) and
    defines ``app``; a file without it is passed over for the next one. Raises ``TargetError`` naming
    what was looked for when nothing fits.
    """
    folder = directory if directory is not None else os.getcwd()
    looked: list[str] = []
    for name in DISCOVERY_MODULES:
        if not os.path.isfile(os.path.join(folder, f"{name}.py")):
            looked.append(f"{name}.py (no such file)")
            continue
        try:
            load_target(f"{name}:app")
        except TargetError:
            looked.append(f"{name}.py (no 'app' in it)")
            continue
        return f"{name}:app"
    raise TargetError(
        "no MODULE:APP given and none found: looked for 'app' in "
        + ", ".join(looked)
        + f" in {folder}; give one, e.g. 'lyre run myproject.main:app'"
    )


def load_env_file(path: str) -> dict[str, str]:
    """Read ``KEY=VALUE`` lines from ``path`` into ``os.environ``; return the variables it set.

    Blank lines and ``#`` comments are skipped, an ``export`` prefix is allowed, and a value may be
    wrapped in single or double quotes (removed; in double quotes ``\\n`` is a newline). A variable
    already in the environment keeps its value, so the real environment overrides the file. Raises
    ``TargetError`` (a usage error) when the file cannot be read or a line is not ``KEY=VALUE``.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise TargetError(f"cannot read env file {path!r}: {exc.strerror or exc}") from None
    loaded: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise TargetError(f"{path}:{number}: expected KEY=VALUE, got {raw.strip()!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            quote, value = value[0], value[1:-1]
            if quote == '"':
                value = value.replace("\\n", "\n").replace('\\"', '"')
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if key not in os.environ:
            os.environ[key] = value
            loaded[key] = value
    return loaded


def _runs_on_real_starlette(app: Any) -> str | None:
    """``"FastAPI"``/``"Starlette"`` when ``app``'s class comes from that package (not through lyre)."""
    for cls in type(app).__mro__:
        top = (getattr(cls, "__module__", "") or "").partition(".")[0]
        if top == "fastapi":
            return "FastAPI"
        if top == "starlette":
            return "Starlette"
    return None


def _hint_alias(app: Any, target: str) -> None:
    kind = _runs_on_real_starlette(app)
    if kind is not None:
        print(
            f"lyre: note: {target!r} is a {kind} application and --as-starlette is off, so it runs on the "
            f"real Starlette, not on lyre; add --as-starlette to run it on lyre",
            file=sys.stderr,
        )


def load_target(target: str) -> Any:
    """Import ``MODULE:ATTR[.ATTR...]`` and return the object it names.

    The current working directory is put first on ``sys.path`` (once), so ``lyre run app:app`` works
    from a project folder when ``lyre`` is the console script. Raises ``TargetError`` with a one-line
    message when the string is malformed, the module does not exist, or the attribute is missing.
    """
    module_name, sep, attr_path = target.partition(":")
    if not sep or not module_name or not attr_path:
        raise TargetError(f"invalid target {target!r}: expected MODULE:APP, e.g. 'myproject.main:app'")
    if any(not part.isidentifier() for part in module_name.split(".")):
        raise TargetError(f"invalid module name {module_name!r} in target {target!r}")
    attrs = attr_path.split(".")
    if any(not part.isidentifier() for part in attrs):
        raise TargetError(f"invalid attribute name {attr_path!r} in target {target!r}")

    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only "the module itself (or a parent package) does not exist" is a bad target; a missing
        # dependency imported *by* the user's module is their bug and keeps its traceback.
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise TargetError(f"could not import module {module_name!r} (from target {target!r})") from None
        raise

    obj: Any = module
    for i, attr in enumerate(attrs):
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            owner = ".".join([module_name, *attrs[:i]]) if i else module_name
            raise TargetError(f"{owner!r} has no attribute {attr!r} (from target {target!r})") from None
    return obj


# ---------------------------------------------------------------------------------------------
# lyre routes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouteRow:
    """One line of the route table."""

    methods: str
    path: str
    name: str
    endpoint: str


def _describe_callable(obj: Any) -> str:
    """``module.qualname`` of an endpoint; partials are shown as ``partial(<inner>)``."""
    if isinstance(obj, functools.partial):
        return f"partial({_describe_callable(obj.func)})"
    target = obj if isinstance(obj, type) or hasattr(obj, "__qualname__") else type(obj)
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None) or getattr(target, "__name__", None) or repr(target)
    return f"{module}.{qualname}" if module and module != "builtins" else str(qualname)


def _format_methods(methods: Any) -> str:
    return ",".join(sorted(methods, key=lambda m: (_METHOD_ORDER.get(m, len(_METHOD_ORDER)), m)))


def _endpoint_methods(endpoint: Any) -> str:
    """Methods for a route whose ``methods`` is ``None``: an HTTPEndpoint class tells us; else ``*``."""
    inner = endpoint
    while isinstance(inner, functools.partial):
        inner = inner.func
    if isinstance(inner, type):
        from lyre.endpoints import HTTPEndpoint

        if issubclass(inner, HTTPEndpoint):
            allowed = {v for v in _ENDPOINT_VERBS if getattr(inner, v.lower(), None) is not None}
            if "GET" in allowed:
                allowed.add("HEAD")
            return _format_methods(allowed) or "-"
    return "*"


def _join_path(prefix: str, path: str) -> str:
    if not prefix:
        return path
    return prefix.rstrip("/") + (path if path.startswith("/") else "/" + path)


def _join_name(prefix: str, name: str) -> str:
    return f"{prefix}:{name}" if prefix and name else (name or "")


def _child_routes(obj: Any) -> list[Any] | None:
    routes = getattr(obj, "routes", None)
    if routes is None:
        return None
    try:
        return list(routes)
    except TypeError:
        return None


def iter_route_rows(
    routes: Sequence[Any], path_prefix: str = "", name_prefix: str = ""
) -> Iterator[RouteRow]:
    """Flatten a route list into table rows, descending into mounts and hosts.

    Nested routes show the full path (mount prefix + route path) and the full reverse-lookup name
    (``"mount:child"``, as ``url_for`` takes it; a mount without a name adds nothing). A mounted app
    without routes (e.g. ``StaticFiles``) is one row, ``* <prefix>/{path:path}``. Host routes put
    the host in front of the path, as ``//{host}/path``.
    """
    from lyre.routing import Host, Mount, Route, WebSocketRoute

    for route in routes:
        if isinstance(route, Route):
            methods = _format_methods(route.methods) if route.methods else _endpoint_methods(route.endpoint)
            yield RouteRow(
                methods,
                _join_path(path_prefix, route.path),
                _join_name(name_prefix, route.name),
                _describe_callable(route.endpoint),
            )
        elif isinstance(route, WebSocketRoute):
            yield RouteRow(
                "WS",
                _join_path(path_prefix, route.path),
                _join_name(name_prefix, route.name),
                _describe_callable(route.endpoint),
            )
        elif isinstance(route, Mount):
            mount_path = _join_path(path_prefix, route.path)
            mount_name = _join_name(name_prefix, route.name or "")
            children = _child_routes(route)
            if children:
                # A nameless mount's children are reachable by their own names (see routing.md).
                yield from iter_route_rows(children, mount_path, mount_name if route.name else name_prefix)
            else:
                yield RouteRow(
                    "*", _join_path(mount_path, "/{path:path}"), mount_name, _describe_callable(route.app)
                )
        elif isinstance(route, Host):
            host_prefix = "//" + route.host
            host_name = _join_name(name_prefix, route.name or "")
            children = _child_routes(route)
            if children:
                yield from iter_route_rows(children, host_prefix, host_name if route.name else name_prefix)
            else:
                yield RouteRow("*", host_prefix + "/", host_name, _describe_callable(route.app))
        else:
            yield RouteRow(
                "?",
                str(getattr(route, "path", "")),
                str(getattr(route, "name", "") or ""),
                _describe_callable(route),
            )


def _find_routes(app: Any) -> list[Any]:
    """The route list of an application, a router, or an app wrapped in middleware (``.app`` chain)."""
    seen: set[int] = set()
    obj = app
    while obj is not None and id(obj) not in seen:
        seen.add(id(obj))
        routes = _child_routes(obj)
        if routes is not None:
            return routes
        obj = getattr(obj, "app", None)
    raise TargetError(f"{_describe_callable(app)} has no routes: expected a lyre application or Router")


_HEADERS = RouteRow("METHODS", "PATH", "NAME", "ENDPOINT")


def format_route_table(rows: Sequence[RouteRow]) -> str:
    """Render rows as an aligned, left-justified table with a header and a dashed rule."""
    table = [_HEADERS, *rows]
    widths = [max(len(getattr(r, f)) for r in table) for f in ("methods", "path", "name")]
    lines = []
    for i, row in enumerate(table):
        cells = (row.methods, row.path, row.name)
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + "  " + row.endpoint)
        if i == 0:
            lines.append("  ".join("-" * w for w in [*widths, len(_HEADERS.endpoint)]))
    return "\n".join(line.rstrip() for line in lines) + "\n"


# ---------------------------------------------------------------------------------------------
# argument parsing and lyre run
# ---------------------------------------------------------------------------------------------


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {value!r}: expected an integer 0-65535")
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {value!r}: expected an integer 0-65535")
    return port


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"invalid value {value!r}: expected a positive integer")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The ``lyre`` argument parser (sub-commands ``run`` and ``routes``)."""
    from lyre import __version__

    parser = argparse.ArgumentParser(prog="lyre", description="lyre: a fast, safe-by-default ASGI framework.")
    parser.add_argument("--version", action="version", version=f"lyre {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser(
        "run",
        help="serve an application with uvicorn (or granian)",
        description="Serve MODULE:APP with uvicorn (default) or granian (--server granian).",
    )
    parser.set_defaults(subparser=None)
    run.set_defaults(subparser=run)
    run.add_argument(
        "target",
        metavar="MODULE:APP",
        nargs="?",
        default=None,
        help="the application, e.g. myproject.main:app (default: 'app' from main.py or app.py)",
    )
    run.add_argument(
        "--factory",
        action="store_true",
        help="MODULE:APP names a function that takes no argument and returns the application",
    )
    run.add_argument(
        "--env-file",
        metavar="PATH",
        default=None,
        help="load KEY=VALUE lines into the environment first (variables already set are kept)",
    )
    run.add_argument(
        "--server",
        choices=_SERVERS,
        default=_SERVERS[0],
        help="the ASGI server: uvicorn (the 'full' extra) or granian (the 'granian' extra; "
        "no --proxy-headers, --forwarded-allow-ips or --log-level trace) (default: %(default)s)",
    )
    run.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    run.add_argument("--port", type=_port, default=8000, help="port to bind (default: %(default)s)")
    run.add_argument("--reload", action="store_true", help="restart when source files change (development)")
    run.add_argument("--workers", type=_positive_int, default=None, help="number of worker processes")
    run.add_argument(
        "--root-path", default="", help="ASGI root_path when served behind a path-prefixing proxy"
    )
    run.add_argument(
        "--proxy-headers",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="trust X-Forwarded-For/-Proto from --forwarded-allow-ips (default: off)",
    )
    run.add_argument(
        "--forwarded-allow-ips",
        default=None,
        help="comma-separated proxy addresses trusted with --proxy-headers (uvicorn default: 127.0.0.1)",
    )
    run.add_argument(
        "--as-starlette",
        action="store_true",
        help="alias 'starlette' to lyre before importing the app (runs FastAPI and Starlette apps on lyre)",
    )
    run.add_argument(
        "--log-level",
        choices=("critical", "error", "warning", "info", "debug", "trace"),
        default=None,
        help="the server's log level (default: info; 'trace' is uvicorn's only)",
    )

    routes = sub.add_parser(
        "routes", help="print the route table", description="Print the routes of MODULE:APP."
    )
    routes.set_defaults(subparser=routes)
    routes.add_argument("target", metavar="MODULE:APP", help="the application, e.g. myproject.main:app")
    routes.add_argument(
        "--as-starlette", action="store_true", help="alias 'starlette' to lyre before importing the app"
    )
    return parser


def build_run_config(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` from parsed ``lyre run`` arguments.

    ``app`` is the import string (uvicorn imports it; needed anyway for ``--reload``/``--workers``)
    and ``app_dir`` the current directory, so the console script finds project modules.
    """
    config: dict[str, Any] = {
        "app": args.target,
        "host": args.host,
        "port": args.port,
        "reload": args.reload,
        "workers": args.workers,
        "root_path": args.root_path,
        "proxy_headers": args.proxy_headers,
        "app_dir": os.getcwd(),
    }
    if getattr(args, "as_starlette", False) and (args.reload or (args.workers or 1) > 1):
        # Reloader/worker processes import the app by string: go through a module that turns the
        # alias on first (it reads the real target from the environment, inherited by children).
        config["app"] = _aliased_target(args)
    if args.forwarded_allow_ips is not None:
        config["forwarded_allow_ips"] = args.forwarded_allow_ips
    if args.log_level is not None:
        config["log_level"] = args.log_level
    if getattr(args, "factory", False):
        config["factory"] = True
    return config


def _aliased_target(args: argparse.Namespace) -> str:
    """The import string of the application for a server process that imports it by name.

    With ``--as-starlette`` that is lyre's alias entry point, which turns the alias on and then
    imports the real target, read from the environment (inherited by worker processes).
    """
    from lyre.compat import ALIASED_TARGET_ENV

    os.environ[ALIASED_TARGET_ENV] = args.target
    return "lyre.compat.aliased_app:app"


# Where --proxy-headers users are sent when they ask granian for it.
_PROXY_ADVICE = (
    "granian does not read X-Forwarded-* headers; serve with --server uvicorn, or add "
    "lyre.middleware.proxyheaders.ProxyHeadersMiddleware to the application (see docs/concepts/proxies.md)"
)


def _granian_unsupported(args: argparse.Namespace) -> list[str]:
    """One message per ``lyre run`` option given that granian has no equivalent for (empty: none)."""
    problems = []
    if args.proxy_headers:
        problems.append(f"--proxy-headers is not available with --server granian: {_PROXY_ADVICE}")
    if args.forwarded_allow_ips is not None:
        problems.append(f"--forwarded-allow-ips is not available with --server granian: {_PROXY_ADVICE}")
    if args.log_level == "trace":
        problems.append(
            "--log-level trace is not available with --server granian (its most detailed level is "
            "debug); use --log-level debug"
        )
    return problems


def _granian_config(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for granian's server from parsed ``lyre run`` arguments.

    Plain values: ``interface``, ``log_level`` and ``working_dir`` become granian's types when
    serving. ``target`` is the import string granian's worker processes load (through
    ``_load_granian_app``, which also applies ``--factory`` and ``--root-path``); the access log is
    on at the ``info`` and ``debug`` levels, as uvicorn's is (it logs at ``info``).
    """
    level = args.log_level or "info"
    return {
        "target": _aliased_target(args) if getattr(args, "as_starlette", False) else args.target,
        "address": args.host,
        "port": args.port,
        "interface": "asgi",
        "workers": args.workers or 1,
        "reload": args.reload,
        "working_dir": os.getcwd(),
        "log_level": level,
        "log_access": level in ("info", "debug"),
    }


class _RootPath:
    """``--root-path`` as uvicorn applies it: ``root_path`` set, and prefixed to ``path`` and ``raw_path``.

    granian's own prefix option sets ``root_path`` only, leaving ``path`` without it, so that
    ``request.url`` (and redirects built from it) would lose the prefix; this keeps both servers
    giving the application the same scope.
    """

    def __init__(self, app: Any, root_path: str) -> None:
        self.app = app
        self.root_path = root_path
        self.raw_root_path = root_path.encode("ascii")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope["root_path"] = self.root_path
            scope["path"] = self.root_path + scope["path"]
            raw_path = scope.get("raw_path")
            if raw_path is not None:
                scope["raw_path"] = self.raw_root_path + raw_path
        await self.app(scope, receive, send)


def _load_granian_app(target: str, factory: bool = False, root_path: str = "") -> Any:
    """The application for one of granian's worker processes: ``target`` imported as ``lyre run``
    imports it (the current directory on ``sys.path``), called when it is a factory, and wrapped
    to apply ``root_path`` as uvicorn does."""
    app = load_target(target)
    if factory:
        app = app()
    if root_path:
        app = _RootPath(app, root_path)
    return app


def startup_line(args: argparse.Namespace, server: str) -> str:
    """``lyre 0.1.0 serving main:app at http://127.0.0.1:8000 (1 worker, uvicorn 0.30.0)``."""
    from lyre import __version__

    host = args.host
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    url = f"http://{shown}:{args.port}{args.root_path or ''}"
    workers = args.workers or 1
    details = [f"{workers} worker" + ("s" if workers != 1 else "")]
    if args.reload:
        details.append("reload on")
    details.append(server)
    what = f"{args.target} (factory)" if getattr(args, "factory", False) else args.target
    return f"lyre {__version__} serving {what} at {url} ({', '.join(details)})"


def _error(message: str) -> None:
    print(f"lyre: error: {message}", file=sys.stderr)


def _alias_if_asked(args: argparse.Namespace) -> None:
    if getattr(args, "as_starlette", False):
        import lyre.compat.starlette  # noqa: F401


def _cmd_routes(args: argparse.Namespace) -> int:
    _alias_if_asked(args)
    app = load_target(args.target)
    if not args.as_starlette:
        _hint_alias(app, args.target)
    rows = list(iter_route_rows(_find_routes(app)))
    sys.stdout.write(format_route_table(rows))
    return EXIT_OK


def _import_server(name: str) -> Any:
    """The server's module, or ``None`` after saying on stderr which extra installs it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        flag = "" if name == _SERVERS[0] else f" --server {name}"
        _error(
            f"'lyre run{flag}' needs {name}, which is not installed; install it with: "
            f"pip install 'lyre-asgi[{_SERVER_EXTRAS[name]}]'"
        )
        return None


def _serve_granian(args: argparse.Namespace) -> None:
    from pathlib import Path

    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    config = _granian_config(args)
    config["interface"] = Interfaces(config["interface"])
    config["log_level"] = LogLevels(config["log_level"])
    config["working_dir"] = Path(config["working_dir"])
    if config["reload"]:
        # Like uvicorn's reloader, restart on Python source changes only: granian's default
        # filter reacts to any file written under the directory (a log file, an upload, ...).
        from watchfiles import PythonFilter

        config["reload_filter"] = PythonFilter
        # granian forks its workers from this process, which has imported the application already
        # (to check the target): a forked worker would serve the old code after a change. Spawned
        # workers import it afresh.
        import multiprocessing

        multiprocessing.set_start_method("spawn", force=True)
    # A module-level function and plain arguments: picklable, for workers that are spawned rather
    # than forked.
    loader = functools.partial(_load_granian_app, factory=bool(args.factory), root_path=args.root_path)
    Server(**config).serve(target_loader=loader)


def _cmd_run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.reload and args.workers is not None and args.workers > 1:
        parser.error("--reload and --workers cannot be used together")
    if args.factory and args.target is None:
        parser.error("--factory needs the factory as MODULE:FUNCTION (nothing is discovered for it)")
    problems = _granian_unsupported(args) if args.server == "granian" else []
    if problems:
        parser.error(problems[0])
    server = _import_server(args.server)
    if server is None:
        return EXIT_FAILURE
    if args.server == "granian" and args.reload and importlib.util.find_spec("watchfiles") is None:
        _error(
            "--reload with --server granian needs watchfiles, which is not installed; install it "
            "with: pip install 'lyre-asgi[granian]'"
        )
        return EXIT_FAILURE
    # The env file first: the application may read its settings at import time.
    if args.env_file is not None:
        load_env_file(args.env_file)
    # Import the target here first so a bad MODULE:APP is one clear line (exit 2), not a server
    # traceback in a worker process.
    _alias_if_asked(args)
    if args.target is None:
        args.target = discover_target()
    app = load_target(args.target)
    if not callable(app):
        kind = "an application factory" if args.factory else "an ASGI application"
        raise TargetError(f"{args.target!r} is not {kind} (a {type(app).__name__} is not callable)")
    if not args.as_starlette and not args.factory:
        _hint_alias(app, args.target)
    label = f"{args.server} {getattr(server, '__version__', '')}".rstrip()
    print(startup_line(args, label), file=sys.stderr, flush=True)
    if args.server == "granian":
        _serve_granian(args)
    else:
        server.run(**build_run_config(args))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lyre`` console script and of ``python -m lyre``; returns the exit code."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # Reported by the sub-command's parser, so the usage shown is that of `lyre run`/`lyre routes`.
        (args.subparser or parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        if args.command == "routes":
            return _cmd_routes(args)
        return _cmd_run(args, args.subparser or parser)
    except TargetError as exc:
        _error(str(exc))
        return EXIT_USAGE
