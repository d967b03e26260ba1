"""The ``lyre`` command line: ``routes`` table, target errors, ``run`` argument handling."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lyre import cli
from lyre.__main__ import main as dunder_main

REPO = Path(__file__).resolve().parent.parent

APP_SOURCE = """
from lyre.applications import Starlette
from lyre.endpoints import HTTPEndpoint
from lyre.middleware import Middleware
from lyre.middleware.gzip import GZipMiddleware
from lyre.responses import PlainTextResponse
from lyre.routing import Host, Mount, Route, Router, WebSocketRoute


async def home(request):
    return PlainTextResponse("home")


async def item(request):
    return PlainTextResponse("item")


async def users(request):
    return PlainTextResponse("users")


async def deep(request):
    return PlainTextResponse("deep")


async def ws(websocket):
    await websocket.accept()


class Things(HTTPEndpoint):
    async def get(self, request):
        return PlainTextResponse("things")

    async def post(self, request):
        return PlainTextResponse("made")


async def raw_asgi(scope, receive, send):
    pass


routes = [
    Route("/", home, name="home"),
    Route("/items/{id:int}", item, methods=["post", "GET", "DELETE"]),
    Route("/things", Things),
    WebSocketRoute("/ws", ws),
    Mount(
        "/api",
        routes=[
            Route("/users", users, name="users"),
            Mount("/v2", routes=[Route("/deep/{x}", deep)], name="v2"),
        ],
        name="api",
    ),
    Mount("/plain", routes=[Route("/p", users, name="p")]),
    Mount("/raw", app=raw_asgi, name="raw"),
    Host("{sub}.example.com", app=Router([Route("/h", home, name="h")]), name="sub"),
    Mount("/gz", routes=[Route("/g", users, name="g")], name="gz", middleware=[Middleware(GZipMiddleware)]),
    Mount("/subapp", app=Starlette(routes=[Route("/s", item, name="s")]), name="subapp"),
]
app = Router(routes)


class Holder:
    inner = app


not_an_app = "hello"
"""


@pytest.fixture
def target_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A uniquely named module holding ``app`` in a temporary directory, made the cwd."""
    name = f"clitarget_{uuid.uuid4().hex[:12]}"
    (tmp_path / f"{name}.py").write_text(APP_SOURCE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield name
    sys.modules.pop(name, None)


def test_routes_table(target_module: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["routes", f"{target_module}:app"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["METHODS", "PATH", "NAME", "ENDPOINT"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    rows = [line.split() for line in lines[2:]]
    m = target_module
    assert rows == [
        ["GET,HEAD", "/", "home", f"{m}.home"],
        ["GET,HEAD,POST,DELETE", "/items/{id:int}", "item", f"{m}.item"],
        ["GET,HEAD,POST", "/things", "Things", f"{m}.Things"],
        ["WS", "/ws", "ws", f"{m}.ws"],
        ["GET,HEAD", "/api/users", "api:users", f"{m}.users"],
        ["GET,HEAD", "/api/v2/deep/{x}", "api:v2:deep", f"{m}.deep"],
        ["GET,HEAD", "/plain/p", "p", f"{m}.users"],
        ["*", "/raw/{path:path}", "raw", f"{m}.raw_asgi"],
        ["GET,HEAD", "//{sub}.example.com/h", "sub:h", f"{m}.home"],
        ["GET,HEAD", "/gz/g", "gz:g", f"{m}.users"],
        ["GET,HEAD", "/subapp/s", "subapp:s", f"{m}.item"],
    ]


def test_routes_table_is_aligned(target_module: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["routes", f"{target_module}:app"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0]
    starts = [header.index(col) for col in ("PATH", "NAME", "ENDPOINT")]
    for line in lines[2:]:
        for start in starts:
            # every column starts at the header's column, after at least two spaces of padding
            assert line[start - 2 : start] == "  " and line[start] != " ", line
        assert line == line.rstrip()


def test_route_names_resolve_with_url_path_for(
    target_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The NAME column is what ``url_path_for`` takes, nested mounts included."""
    assert cli.main(["routes", f"{target_module}:app"]) == 0
    app = sys.modules[target_module].app
    assert app.url_path_for("api:v2:deep", x="1") == "/api/v2/deep/1"
    assert app.url_path_for("p") == "/plain/p"
    assert app.url_path_for("api:users") == "/api/users"


def test_routes_of_a_starlette_app_and_dotted_attribute(
    target_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["routes", f"{target_module}:Holder.inner"]) == 0
    assert "/api/v2/deep/{x}" in capsys.readouterr().out


def test_routes_through_wrapping_middleware(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"cliwrapped_{uuid.uuid4().hex[:12]}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            from lyre.responses import PlainTextResponse
            from lyre.routing import Route, Router

            async def home(request):
                return PlainTextResponse("home")

            class Wrapper:
                def __init__(self, app):
                    self.app = app

                async def __call__(self, scope, receive, send):
                    await self.app(scope, receive, send)

            app = Wrapper(Router([Route("/", home)]))
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        assert cli.main(["routes", f"{name}:app"]) == 0
    finally:
        sys.modules.pop(name, None)
    assert capsys.readouterr().out.splitlines()[2].split() == ["GET,HEAD", "/", "home", f"{name}.home"]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nocolon", "invalid target 'nocolon': expected MODULE:APP"),
        ("mod:", "invalid target 'mod:': expected MODULE:APP"),
        (":app", "invalid target ':app': expected MODULE:APP"),
        ("bad-name:app", "invalid module name 'bad-name'"),
        ("mod:a-b", "invalid attribute name 'a-b'"),
        ("no_such_module_lyre_xyz:app", "could not import module 'no_such_module_lyre_xyz'"),
        ("no_such_pkg_lyre_xyz.sub:app", "could not import module 'no_such_pkg_lyre_xyz.sub'"),
    ],
)
@pytest.mark.parametrize("command", ["routes", "run"])
def test_bad_target_is_one_line_exit_2(
    command: str,
    target: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert cli.main([command, target]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("lyre: error: ")
    assert message in err


def test_missing_attribute(target_module: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["routes", f"{target_module}:nope"]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"lyre: error: '{target_module}' has no attribute 'nope' (from target '{target_module}:nope')\n"
    )
    assert cli.main(["routes", f"{target_module}:Holder.nope"]) == 2
    assert f"'{target_module}.Holder' has no attribute 'nope'" in capsys.readouterr().err


def test_routes_of_something_without_routes(target_module: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["routes", f"{target_module}:not_an_app"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no routes" in err


def test_error_inside_user_module_keeps_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module that fails while importing is the user's bug: its exception propagates."""
    broken = f"clibroken_{uuid.uuid4().hex[:12]}"
    needs_dep = f"clineedsdep_{uuid.uuid4().hex[:12]}"
    (tmp_path / f"{broken}.py").write_text("raise RuntimeError('boom in module')\n")
    (tmp_path / f"{needs_dep}.py").write_text("import no_such_dependency_lyre_xyz\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    with pytest.raises(RuntimeError, match="boom in module"):
        cli.main(["routes", f"{broken}:app"])
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_lyre_xyz"):
        cli.main(["routes", f"{needs_dep}:app"])


# ----------------------------------------------------------------------------------------------
# lyre run: argument parsing and uvicorn configuration (nothing is served here)
# ----------------------------------------------------------------------------------------------


def test_run_defaults() -> None:
    args = cli.build_parser().parse_args(["run", "pkg.mod:app"])
    config = cli.build_run_config(args)
    assert config.pop("app_dir")
    assert config == {
        "app": "pkg.mod:app",
        "host": "127.0.0.1",
        "port": 8000,
        "reload": False,
        "workers": None,
        "root_path": "",
        "proxy_headers": False,
    }


def test_run_all_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = cli.build_parser().parse_args(
        [
            "run",
            "pkg.mod:app",
            "--host",
            "0.0.0.0",
            "--port",
            "9001",
            "--workers",
            "3",
            "--root-path",
            "/api",
            "--proxy-headers",
            "--forwarded-allow-ips",
            "10.0.0.1,10.0.0.2",
            "--log-level",
            "debug",
        ]
    )
    assert cli.build_run_config(args) == {
        "app": "pkg.mod:app",
        "host": "0.0.0.0",
        "port": 9001,
        "reload": False,
        "workers": 3,
        "root_path": "/api",
        "proxy_headers": True,
        "app_dir": str(tmp_path),
        "forwarded_allow_ips": "10.0.0.1,10.0.0.2",
        "log_level": "debug",
    }
    reload_args = cli.build_parser().parse_args(["run", "m:app", "--reload", "--no-proxy-headers"])
    assert cli.build_run_config(reload_args)["reload"] is True
    assert cli.build_run_config(reload_args)["proxy_headers"] is False


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "m:app", "--port", "http"], "invalid port 'http'"),
        (["run", "m:app", "--port", "70000"], "invalid port '70000'"),
        (["run", "m:app", "--workers", "0"], "invalid value '0'"),
        (["run", "--factory", "--port"], "argument --port: expected one argument"),
        (["routes"], "the following arguments are required: MODULE:APP"),
        ([], "the following arguments are required: COMMAND"),
        (["serve", "m:app"], "invalid choice: 'serve'"),
        (["run", "m:app", "--reload", "--workers", "2"], "--reload and --workers cannot be used together"),
        (["run", "m:app", "--server", "hypercorn"], "argument --server: invalid choice: 'hypercorn'"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", _FakeUvicorn())
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


class _FakeUvicorn:
    """Stands in for the uvicorn module: records ``run(**kwargs)`` instead of serving."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def run(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


def test_run_hands_the_config_to_uvicorn(target_module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeUvicorn()
    monkeypatch.setitem(sys.modules, "uvicorn", fake)
    assert cli.main(["run", f"{target_module}:app", "--port", "8123", "--root-path", "/x"]) == 0
    [call] = fake.calls
    assert call["app"] == f"{target_module}:app"
    assert call["port"] == 8123 and call["host"] == "127.0.0.1" and call["root_path"] == "/x"


def test_run_checks_the_target_before_serving(
    target_module: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = _FakeUvicorn()
    monkeypatch.setitem(sys.modules, "uvicorn", fake)
    assert cli.main(["run", f"{target_module}:missing"]) == 2
    assert cli.main(["run", f"{target_module}:not_an_app"]) == 2
    err = capsys.readouterr().err
    assert "has no attribute 'missing'" in err
    assert f"'{target_module}:not_an_app' is not an ASGI application (a str is not callable)" in err
    assert fake.calls == []


def test_run_without_uvicorn_names_the_full_extra(
    target_module: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # makes `import uvicorn` raise ImportError
    assert cli.main(["run", f"{target_module}:app"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "uvicorn" in err and "pip install 'lyre-asgi[full]'" in err


# ----------------------------------------------------------------------------------------------
# lyre run --server granian: configuration, unsupported options, the missing extra
# ----------------------------------------------------------------------------------------------


def test_granian_config_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = cli.build_parser().parse_args(["run", "pkg.mod:app", "--server", "granian"])
    assert cli._granian_config(args) == {
        "target": "pkg.mod:app",
        "address": "127.0.0.1",
        "port": 8000,
        "interface": "asgi",
        "workers": 1,
        "reload": False,
        "working_dir": str(tmp_path),
        "log_level": "info",
        "log_access": True,  # as uvicorn's access log, which it writes at the info level
    }


def test_granian_config_all_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["run", "pkg.mod:app", "--server", "granian", "--host", "0.0.0.0", "--port", "9001"]
    args = cli.build_parser().parse_args([*argv, "--workers", "3", "--log-level", "warning"])
    config = cli._granian_config(args)
    assert (config["address"], config["port"], config["workers"]) == ("0.0.0.0", 9001, 3)
    assert (config["log_level"], config["log_access"]) == ("warning", False)
    reload_args = cli.build_parser().parse_args(["run", "m:app", "--server", "granian", "--reload"])
    assert cli._granian_config(reload_args)["reload"] is True
    debug_args = cli.build_parser().parse_args(
        ["run", "m:app", "--server", "granian", "--log-level", "debug"]
    )
    assert cli._granian_config(debug_args)["log_access"] is True


def test_granian_config_as_starlette_goes_through_the_alias_entry_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LYRE_ALIASED_TARGET", raising=False)
    args = cli.build_parser().parse_args(["run", "--server", "granian", "--as-starlette", "pkg.mod:app"])
    # granian imports the app by name in its worker processes, even with one worker.
    assert cli._granian_config(args)["target"] == "lyre.compat.aliased_app:app"
    assert os.environ["LYRE_ALIASED_TARGET"] == "pkg.mod:app"


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--proxy-headers"], "--proxy-headers is not available with --server granian"),
        (
            ["--forwarded-allow-ips", "10.0.0.1"],
            "--forwarded-allow-ips is not available with --server granian",
        ),
        (["--log-level", "trace"], "--log-level trace is not available with --server granian"),
    ],
)
def test_granian_refuses_options_it_does_not_have(
    target_module: str,
    options: list[str],
    named: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    served = _FakeGranianServer.install(monkeypatch)
    with pytest.raises(SystemExit) as info:
        cli.main(["run", f"{target_module}:app", "--server", "granian", *options])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: lyre run")
    assert named in err
    assert served == []  # nothing was started
    # The same options are fine with uvicorn.
    uvicorn = _FakeUvicorn()
    monkeypatch.setitem(sys.modules, "uvicorn", uvicorn)
    assert cli.main(["run", f"{target_module}:app", *options]) == 0
    assert len(uvicorn.calls) == 1


def test_granian_proxy_headers_error_says_what_to_do_instead(
    target_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["run", f"{target_module}:app", "--server", "granian", "--proxy-headers"])
    err = capsys.readouterr().err
    assert "--server uvicorn" in err and "ProxyHeadersMiddleware" in err


def test_run_without_granian_names_the_granian_extra(
    target_module: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "granian", None)  # makes `import granian` raise ImportError
    assert cli.main(["run", f"{target_module}:app", "--server", "granian"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "lyre: error: 'lyre run --server granian' needs granian, which is not installed; "
        "install it with: pip install 'lyre-asgi[granian]'\n"
    )


class _FakeGranianServer:
    """Stands in for ``granian.server.Server``: records its arguments and ``serve`` call."""

    served: list[tuple[dict[str, Any], Any]]

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs

    def serve(self, target_loader: Any = None) -> None:
        self.served.append((self.kwargs, target_loader))

    @classmethod
    def install(cls, monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], Any]]:
        import granian.server

        served: list[tuple[dict[str, Any], Any]] = []
        fake = type("FakeServer", (cls,), {"served": served})
        monkeypatch.setattr(granian.server, "Server", fake)
        return served


def test_run_hands_the_config_to_granian(
    target_module: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    served = _FakeGranianServer.install(monkeypatch)
    argv = ["run", f"{target_module}:app", "--server", "granian", "--port", "8123", "--root-path", "/x"]
    assert cli.main(argv) == 0
    [(kwargs, loader)] = served
    assert kwargs["target"] == f"{target_module}:app"
    assert kwargs["port"] == 8123 and kwargs["address"] == "127.0.0.1"
    assert kwargs["interface"] is Interfaces.ASGI and kwargs["log_level"] is LogLevels.info
    assert kwargs["working_dir"] == Path.cwd()
    # granian calls the loader with the target in each worker: the app, wrapped for --root-path.
    app = loader(kwargs["target"])
    assert app.app is sys.modules[target_module].app and app.root_path == "/x"
    assert f"(1 worker, granian {granian.__version__})" in capsys.readouterr().err


def test_load_granian_app_applies_the_root_path_as_uvicorn_does(target_module: str) -> None:
    import asyncio

    seen: list[dict[str, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(dict(scope))

    cli.load_target(f"{target_module}:app")  # imports the module (the cwd goes on sys.path)
    module = sys.modules[target_module]
    setattr(module, "inner", inner)
    app = cli._load_granian_app(f"{target_module}:inner", root_path="/api")
    for kind in ("http", "websocket"):
        scope = {"type": kind, "path": "/items/1", "raw_path": b"/items/1", "root_path": ""}
        asyncio.run(app(scope, None, None))
    asyncio.run(app({"type": "lifespan"}, None, None))
    assert [(s["path"], s["raw_path"], s["root_path"]) for s in seen[:2]] == [
        ("/api/items/1", b"/api/items/1", "/api")
    ] * 2
    assert seen[2] == {"type": "lifespan"}
    # Without a root path the application itself is returned; a factory is called.
    assert cli._load_granian_app(f"{target_module}:inner") is inner
    setattr(module, "make", lambda: inner)
    assert cli._load_granian_app(f"{target_module}:make", factory=True) is inner


def test_dunder_main_delegates(target_module: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert dunder_main(["routes", f"{target_module}:app"]) == 0
    assert "/api/users" in capsys.readouterr().out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import lyre

    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"lyre {lyre.__version__}"


# ----------------------------------------------------------------------------------------------
# Real processes
# ----------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_python_m_lyre_bad_target_exit_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lyre", "routes", "no_such_module_lyre_xyz:app"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        "lyre: error: could not import module 'no_such_module_lyre_xyz' (from target 'no_such_module_lyre_xyz:app')\n"
    )


def test_console_script_routes(tmp_path: Path) -> None:
    """The installed ``lyre`` script finds modules in the current directory (like ``python -m``)."""
    (tmp_path / "tinyapp.py").write_text(
        "from lyre.responses import PlainTextResponse\n"
        "from lyre.routing import Route, Router\n"
        "async def hello(request):\n    return PlainTextResponse('hello')\n"
        "app = Router([Route('/hello', hello)])\n"
    )
    script = Path(sys.executable).parent / "lyre"
    assert script.exists(), "the lyre console script is not installed in this environment"
    proc = subprocess.run(
        [str(script), "routes", "tinyapp:app"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[2].split() == ["GET,HEAD", "/hello", "hello", "tinyapp.hello"]


def test_lyre_run_serves_over_http(tmp_path: Path) -> None:
    """``python -m lyre run`` starts uvicorn on a free 127.0.0.1 port, serves, and stops on SIGTERM."""
    (tmp_path / "servedapp.py").write_text(
        "from lyre.responses import PlainTextResponse\n"
        "from lyre.routing import Route, Router\n"
        "async def hello(request):\n"
        "    return PlainTextResponse('hello from ' + request.scope.get('root_path', ''))\n"
        "app = Router([Route('/hello', hello)])\n"
    )
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lyre", "run", "servedapp:app", "--port", str(port), "--root-path", "/base"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(
                    f"lyre run exited early with {proc.returncode}:\n{proc.stdout.read() if proc.stdout else ''}"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello", timeout=5) as resp:
                    body = resp.read().decode()
                    status = resp.status
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        assert body is not None, "lyre run did not start serving within 30 s"
        assert status == 200
        assert body == "hello from /base"
    finally:
        proc.terminate()
        try:
            output, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status reports the signal
    assert proc.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert f"Uvicorn running on http://127.0.0.1:{port}" in output


def test_routes_as_starlette_aliases_before_import(tmp_path: Path) -> None:
    """``--as-starlette`` turns the alias on before the target module imports ``starlette``."""
    (tmp_path / "aliasapp.py").write_text(
        "from starlette.applications import Starlette\n"
        "from starlette.routing import Route\n"
        "from starlette.responses import PlainTextResponse\n"
        "async def hi(request):\n"
        "    return PlainTextResponse('hi')\n"
        "app = Starlette(routes=[Route('/hi', hi)])\n"
    )
    code = (
        "import sys; from lyre.cli import main; import lyre.applications as a\n"
        "rc = main(['routes', '--as-starlette', 'aliasapp:app'])\n"
        "import aliasapp; assert type(aliasapp.app) is a.Starlette and isinstance(aliasapp.app, a.Lyre); sys.exit(rc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "/hi" in result.stdout


def test_run_as_starlette_with_workers_uses_the_alias_entry_point() -> None:
    from lyre.cli import build_parser, build_run_config

    args = build_parser().parse_args(["run", "--as-starlette", "--workers", "2", "pkg.mod:app"])
    config = build_run_config(args)
    assert config["app"] == "lyre.compat.aliased_app:app"
    assert os.environ["LYRE_ALIASED_TARGET"] == "pkg.mod:app"
    del os.environ["LYRE_ALIASED_TARGET"]


# ----------------------------------------------------------------------------------------------
# lyre run: discovery, --factory, --env-file, the start-up line, sub-command usage, FastAPI hint
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty project folder made the cwd; ``main``/``app`` modules imported from it are forgotten."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in cli.DISCOVERY_MODULES:
        sys.modules.pop(name, None)
    yield tmp_path
    for name in cli.DISCOVERY_MODULES:
        sys.modules.pop(name, None)


_TINY_APP = (
    "from lyre.responses import PlainTextResponse\n"
    "from lyre.routing import Route, Router\n"
    "async def hello(request):\n    return PlainTextResponse('hello')\n"
    "app = Router([Route('/hello', hello)])\n"
)


def test_discovery_prefers_main_py(project_dir: Path) -> None:
    (project_dir / "main.py").write_text(_TINY_APP)
    (project_dir / "app.py").write_text(_TINY_APP)
    assert cli.discover_target() == "main:app"


def test_discovery_falls_back_to_app_py(project_dir: Path) -> None:
    (project_dir / "main.py").write_text("value = 1\n")  # a main.py without `app` is passed over
    (project_dir / "app.py").write_text(_TINY_APP)
    assert cli.discover_target() == "app:app"


def test_run_without_target_and_nothing_to_discover(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = _FakeUvicorn()
    monkeypatch.setitem(sys.modules, "uvicorn", fake)
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no MODULE:APP given" in err and "main.py (no such file)" in err and "app.py (no such file)" in err
    assert "lyre run myproject.main:app" in err
    assert fake.calls == []


def test_run_without_target_serves_the_discovered_app(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (project_dir / "app.py").write_text(_TINY_APP)
    fake = _FakeUvicorn()
    monkeypatch.setitem(sys.modules, "uvicorn", fake)
    assert cli.main(["run", "--port", "8124"]) == 0
    [call] = fake.calls
    assert call["app"] == "app:app" and call["port"] == 8124
    assert "serving app:app at http://127.0.0.1:8124" in capsys.readouterr().err


def test_factory_is_handed_to_uvicorn(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project_dir / "main.py").write_text(_TINY_APP + "def create_app():\n    return app\nsettings = {}\n")
    fake = _FakeUvicorn()
    monkeypatch.setitem(sys.modules, "uvicorn", fake)
    assert cli.main(["run", "--factory", "main:create_app"]) == 0
    [call] = fake.calls
    assert call["app"] == "main:create_app" and call["factory"] is True
    args = cli.build_parser().parse_args(["run", "main:app"])
    assert "factory" not in cli.build_run_config(args)


def test_factory_that_is_not_callable(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (project_dir / "main.py").write_text("settings = {}\n")
    monkeypatch.setitem(sys.modules, "uvicorn", _FakeUvicorn())
    assert cli.main(["run", "--factory", "main:settings"]) == 2
    assert "'main:settings' is not an application factory (a dict is not callable)" in capsys.readouterr().err


def test_env_file_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "# settings\n"
        "\n"
        "LYRE_T_PLAIN=plain value\n"
        "export LYRE_T_EXPORTED=1\n"
        "LYRE_T_SINGLE='single # not a comment'\n"
        'LYRE_T_DOUBLE="two\\nlines"\n'
        "LYRE_T_COMMENTED=value # a comment\n"
        "LYRE_T_EMPTY=\n"
        "LYRE_T_SET=from the file\n"
    )
    for key in ("PLAIN", "EXPORTED", "SINGLE", "DOUBLE", "COMMENTED", "EMPTY"):
        monkeypatch.delenv(f"LYRE_T_{key}", raising=False)
    monkeypatch.setenv("LYRE_T_SET", "from the environment")
    loaded = cli.load_env_file(str(env))
    for key in loaded:
        monkeypatch.setenv(key, loaded[key])  # undone after the test
    assert loaded == {
        "LYRE_T_PLAIN": "plain value",
        "LYRE_T_EXPORTED": "1",
        "LYRE_T_SINGLE": "single # not a comment",
        "LYRE_T_DOUBLE": "two\nlines",
        "LYRE_T_COMMENTED": "value",
        "LYRE_T_EMPTY": "",
    }
    assert os.environ["LYRE_T_SET"] == "from the environment"


def test_env_file_errors(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", _FakeUvicorn())
    assert cli.main(["run", "--env-file", "missing.env", "main:app"]) == 2
    assert "cannot read env file 'missing.env'" in capsys.readouterr().err
    (project_dir / "bad.env").write_text("OK=1\nnot a pair\n")
    monkeypatch.delenv("OK", raising=False)
    assert cli.main(["run", "--env-file", "bad.env", "main:app"]) == 2
    monkeypatch.delenv("OK", raising=False)
    assert "bad.env:2: expected KEY=VALUE, got 'not a pair'" in capsys.readouterr().err


def test_env_file_is_loaded_before_the_app_is_imported(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project_dir / "main.py").write_text(_TINY_APP + "import os\nGREETING = os.environ['LYRE_T_GREETING']\n")
    (project_dir / ".env").write_text("LYRE_T_GREETING=hi\n")
    monkeypatch.delenv("LYRE_T_GREETING", raising=False)
    monkeypatch.setitem(sys.modules, "uvicorn", _FakeUvicorn())
    try:
        assert cli.main(["run", "--env-file", ".env"]) == 0
        assert sys.modules["main"].GREETING == "hi"
    finally:
        os.environ.pop("LYRE_T_GREETING", None)


def test_startup_line() -> None:
    from lyre import __version__

    args = cli.build_parser().parse_args(["run", "main:app", "--host", "::1", "--port", "9000", "--reload"])
    assert cli.startup_line(args, "uvicorn 1.2.3") == (
        f"lyre {__version__} serving main:app at http://[::1]:9000 (1 worker, reload on, uvicorn 1.2.3)"
    )
    args = cli.build_parser().parse_args(
        ["run", "--factory", "m:make", "--workers", "4", "--root-path", "/api"]
    )
    assert cli.startup_line(args, "uvicorn 1.2.3") == (
        f"lyre {__version__} serving m:make (factory) at http://127.0.0.1:8000/api (4 workers, uvicorn 1.2.3)"
    )


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["run", "m:app", "--reload", "--workers", "2"], "usage: lyre run "),
        (["run", "m:app", "--port", "x"], "usage: lyre run "),
        (["routes", "--bogus", "m:app"], "usage: lyre routes "),
        (["routes"], "usage: lyre routes "),
        (["run", "--factory"], "usage: lyre run "),
    ],
)
def test_usage_errors_show_the_subcommand_usage(
    argv: list[str], usage: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", _FakeUvicorn())
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(usage)
    assert "usage: lyre [-h]" not in err


def test_fastapi_app_without_the_alias_gets_a_hint(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A stand-in for FastAPI's class (importing the real one here would import the real Starlette).
    (project_dir / "main.py").write_text(
        "class FastAPI:\n"
        "    __module__ = 'fastapi.applications'\n"
        "    routes = []\n"
        "    async def __call__(self, scope, receive, send):\n        pass\n"
        "app = FastAPI()\n"
    )
    fake = _FakeUvicorn()
    monkeypatch.setitem(sys.modules, "uvicorn", fake)
    assert cli.main(["run", "main:app"]) == 0
    err = capsys.readouterr().err
    assert "'main:app' is a FastAPI application and --as-starlette is off" in err
    assert "add --as-starlette to run it on lyre" in err
    assert cli.main(["routes", "main:app"]) == 0
    assert "add --as-starlette" in capsys.readouterr().err
    # A lyre application gets no note.
    assert cli.main(["run", f"{_lyre_target(project_dir)}:app"]) == 0
    assert "--as-starlette" not in capsys.readouterr().err


def _lyre_target(folder: Path) -> str:
    name = f"clitarget_{uuid.uuid4().hex[:12]}"
    (folder / f"{name}.py").write_text(_TINY_APP)
    return name


def test_real_fastapi_app_without_the_alias_gets_a_hint(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("from fastapi import FastAPI\napp = FastAPI()\n")
    proc = subprocess.run(
        [sys.executable, "-m", "lyre", "routes", "main:app"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "is a FastAPI application and --as-starlette is off" in proc.stderr


def _serve_once(folder: Path, argv: list[str], path: str) -> tuple[str, str]:
    """Start ``python -m lyre run ARGV --port <free>`` in ``folder``, GET ``path``, stop it; body and output."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lyre", "run", *argv, "--port", str(port)],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    body = None
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and body is None:
            if proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
                    body = resp.read().decode()
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
    finally:
        proc.terminate()
        try:
            output, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    assert body is not None, f"lyre run did not serve (exit {proc.returncode}):\n{output}"
    return body, output.replace(str(port), "PORT")


def test_lyre_run_discovers_main_py_loads_the_env_file_and_says_where(tmp_path: Path) -> None:
    from lyre import __version__

    (tmp_path / "main.py").write_text(
        "import os\n"
        "from lyre.responses import PlainTextResponse\n"
        "from lyre.routing import Route, Router\n"
        "GREETING = os.environ['LYRE_T_GREETING']\n"
        "async def hello(request):\n    return PlainTextResponse(GREETING)\n"
        "app = Router([Route('/hello', hello)])\n"
    )
    (tmp_path / "settings.env").write_text("LYRE_T_GREETING='hello from the env file'\n")
    body, output = _serve_once(tmp_path, ["--env-file", "settings.env", "--log-level", "info"], "/hello")
    assert body == "hello from the env file"
    assert f"lyre {__version__} serving main:app at http://127.0.0.1:PORT (1 worker, uvicorn " in output


def test_lyre_run_factory(tmp_path: Path) -> None:
    (tmp_path / "factoryapp.py").write_text(
        "from lyre.responses import PlainTextResponse\n"
        "from lyre.routing import Route, Router\n"
        "def create_app():\n"
        "    async def hello(request):\n        return PlainTextResponse('made by the factory')\n"
        "    return Router([Route('/hello', hello)])\n"
    )
    body, output = _serve_once(tmp_path, ["--factory", "factoryapp:create_app"], "/hello")
    assert body == "made by the factory"
    assert "serving factoryapp:create_app (factory) at" in output
