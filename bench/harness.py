"""In-process benchmark machinery: scenarios, a minimal fake ASGI server, lifespan, checks, timing.

No sockets: each request is a fresh ``scope`` dict plus ``receive``/``send`` bound methods of a tiny
connection object, the way a server such as uvicorn would hand them to the app. Everything runs on
one event loop (uvloop when installed). The fake server's own cost is the same for every framework
and is included in every number, including the raw ASGI floor.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import logging
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.apps.common import (  # noqa: E402
    ITEMS,
    JSON_PAYLOAD,
    PLAINTEXT,
    STATIC_DIR,
    STATIC_FILE,
    STATIC_SIZE,
    ensure_static_file,
)

ASGIApp = Callable[..., Any]

# Framework key -> (module under bench.apps, label shown in tables).
FRAMEWORKS: dict[str, tuple[str, str]] = {
    "lyre": ("bench.apps.lyre_apps", "lyre"),
    "starlette": ("bench.apps.starlette_apps", "Starlette"),
    "fastapi": ("bench.apps.fastapi_apps", "FastAPI"),
    "litestar": ("bench.apps.litestar_apps", "Litestar"),
    "blacksheep": ("bench.apps.blacksheep_apps", "BlackSheep"),
    "falcon": ("bench.apps.falcon_apps", "Falcon"),
    "muffin": ("bench.apps.muffin_apps", "Muffin"),
    "baize": ("bench.apps.baize_apps", "Baize"),
    "lilya": ("bench.apps.lilya_apps", "Lilya"),
    "sanic": ("bench.apps.sanic_apps", "Sanic"),
    "emmett": ("bench.apps.emmett_apps", "Emmett"),
    "raw": ("bench.apps.raw_asgi", "raw ASGI"),
}

# The distribution whose version the results report for each framework key.
DISTRIBUTIONS: dict[str, str] = {
    "fastapi": "fastapi",
    "litestar": "litestar",
    "blacksheep": "blacksheep",
    "falcon": "falcon",
    "muffin": "muffin",
    "baize": "baize",
    "lilya": "lilya",
    "sanic": "sanic",
    "emmett": "emmett",
}


# --------------------------------------------------------------------------------------------------
# Responses and checks


@dataclass
class Result:
    """What the fake server saw the app send for one request."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: str) -> str | None:
        key = name.lower().encode("latin-1")
        for k, v in self.headers:
            if k.lower() == key:
                return v.decode("latin-1")
        return None

    def header_all(self, name: str) -> list[str]:
        key = name.lower().encode("latin-1")
        return [v.decode("latin-1") for k, v in self.headers if k.lower() == key]


Check = Callable[[Result], "str | None"]


def expect(status: int, body: bytes | None = None, **more: Any) -> Check:
    """Build a check: exact status, optionally exact body, JSON equality, content-type prefix, etc."""

    def check(r: Result) -> str | None:
        if r.status != status:
            return f"status {r.status} != {status}; body={r.body[:200]!r}"
        if body is not None and r.body != body:
            return f"body {r.body[:120]!r} != {body[:120]!r}"
        if "json" in more:
            try:
                got = json.loads(r.body)
            except ValueError:
                return f"body is not JSON: {r.body[:120]!r}"
            if got != more["json"]:
                return f"json {got!r} != {more['json']!r}"
        if "ctype" in more:
            ct = r.header("content-type") or ""
            if not ct.startswith(more["ctype"]):
                return f"content-type {ct!r} does not start with {more['ctype']!r}"
        if "header" in more:
            name, value = more["header"]
            if r.header(name) != value:
                return f"header {name}={r.header(name)!r} != {value!r}"
        if "cookie" in more:
            prefix = more["cookie"]
            if not any(c.startswith(prefix) for c in r.header_all("set-cookie")):
                return f"no set-cookie starting with {prefix!r}: {r.header_all('set-cookie')!r}"
        if "contains" in more:
            for piece in more["contains"]:
                if piece not in r.body:
                    return f"body lacks {piece!r}"
        if "count" in more:
            piece, n = more["count"]
            if r.body.count(piece) != n:
                return f"body has {r.body.count(piece)} x {piece!r}, expected {n}"
        if "length" in more:
            cl = r.header("content-length")
            if cl is not None and int(cl) != len(r.body):
                return f"content-length {cl} != body length {len(r.body)}"
        return None

    return check


# --------------------------------------------------------------------------------------------------
# Scenarios

BOUNDARY = "----lyrebenchboundary7MA4YWxkTrZu0gW"
UPLOAD_SIZE = 1024 * 1024


def _multipart_body() -> bytes:
    payload = bytes(range(256)) * (UPLOAD_SIZE // 256)
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="title"\r\n\r\nreport\r\n'.encode(),
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\nquarterly\r\n'.encode(),
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="data.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + payload
        + b"\r\n",
        f"--{BOUNDARY}--\r\n".encode(),
    ]
    return b"".join(parts)


FORM_BODY = "&".join(f"f{i}=value+{i}" for i in range(10)).encode()
MULTIPART_BODY = _multipart_body()


@dataclass
class Scenario:
    """One request shape plus how to judge the answer."""

    name: str
    title: str
    path: str
    check: Check
    method: str = "GET"
    query: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    chunk_size: int = 65536
    prime_cookie: bool = False  # first request without cookie; its Set-Cookie is replayed after
    core: bool = True  # counts in the 12-scenario geometric mean
    raw: bool = False  # the raw ASGI floor implements it


STATIC_BYTES = b""


def scenarios() -> list[Scenario]:
    """The 12 scenarios of the performance issue, plus the static-file extra."""
    global STATIC_BYTES
    STATIC_BYTES = ensure_static_file().read_bytes()
    return [
        Scenario(
            "plaintext",
            "plaintext",
            "/plaintext",
            expect(200, PLAINTEXT.encode(), ctype="text/plain", length=True),
            raw=True,
        ),
        Scenario("json", "json", "/json", expect(200, json=JSON_PAYLOAD, ctype="application/json"), raw=True),
        Scenario(
            "path", "path params", "/users/42/posts/hello-world", expect(200, b"42:hello-world"), raw=True
        ),
        Scenario(
            "query",
            "query params (repeated key)",
            "/search",
            expect(200, json={"q": "lyre", "tags": ["a", "b"], "page": 2}),
            query=b"q=lyre&tag=a&tag=b&page=2",
            raw=True,
        ),
        Scenario("routes50", "50 routes, last hit", "/resource49/7", expect(200, b"49:7"), raw=True),
        Scenario(
            "form",
            "urlencoded form, 10 fields",
            "/form",
            expect(200, b"10:value 0:value 9"),
            method="POST",
            body=FORM_BODY,
            headers=[(b"content-type", b"application/x-www-form-urlencoded")],
        ),
        Scenario(
            "multipart",
            "multipart 1 MiB + 2 fields",
            "/upload",
            expect(200, f"report:quarterly:{UPLOAD_SIZE}".encode()),
            method="POST",
            body=MULTIPART_BODY,
            headers=[(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())],
        ),
        Scenario(
            "cookies",
            "cookies + headers in, cookie out",
            "/cookies",
            expect(200, b"abc123:k-123", cookie="seen=1"),
            headers=[(b"cookie", b"theme=dark; sid=abc123; lang=en-GB; tz=UTC"), (b"x-api-key", b"k-123")],
            raw=True,
        ),
        Scenario(
            "session",
            "signed-cookie session (Emmett: encrypted)",
            "/session",
            expect(200, b"2"),
            prime_cookie=True,
        ),
        Scenario(
            "middleware",
            "3 ASGI mw + 1 BaseHTTPMiddleware (or closest idiom)",
            "/mw",
            expect(200, PLAINTEXT.encode(), header=("x-bench", "1")),
            raw=True,
        ),
        Scenario(
            "template",
            "template, 10 items (Jinja2; Emmett: its Renoir)",
            "/template",
            expect(200, ctype="text/html", count=(b"<tr><td>", len(ITEMS)), contains=[b"Item 9", b"23.49"]),
            raw=True,
        ),
        Scenario("notfound", "not found", "/nope", expect(404), raw=True),
        Scenario("static", "static file 10 KiB (extra)", f"/static/{STATIC_FILE}", _static_check, core=False),
    ]


def _static_check(r: Result) -> str | None:
    if r.status != 200:
        return f"status {r.status}"
    if len(r.body) != STATIC_SIZE or r.body != STATIC_BYTES:
        return f"static body mismatch ({len(r.body)} bytes)"
    return None


assert STATIC_DIR  # the apps serve from here


# --------------------------------------------------------------------------------------------------
# The fake server

BASE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"lyre-bench/1.0"),
    (b"accept", b"*/*"),
]


def make_scope(sc: Scenario, extra_headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    """The scope a server would build for this scenario's request (copied per request by the loop)."""
    headers = list(BASE_HEADERS)
    headers.extend(sc.headers)
    if extra_headers:
        headers.extend(extra_headers)
    if sc.body:
        headers.append((b"content-length", str(len(sc.body)).encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 54321),
        "scheme": "http",
        "method": sc.method,
        "root_path": "",
        "path": sc.path,
        "raw_path": sc.path.encode(),
        "query_string": sc.query,
        "headers": headers,
    }


def body_chunks(sc: Scenario) -> list[bytes]:
    if not sc.body:
        return [b""]
    size = sc.chunk_size
    return [sc.body[i : i + size] for i in range(0, len(sc.body), size)]


class Conn:
    """One request/response exchange: ``receive`` hands out the body chunks, ``send`` watches the reply.

    After the body, ``receive`` waits until the response is complete and then reports
    ``http.disconnect`` (what uvicorn does), so frameworks that listen for disconnects behave.
    """

    __slots__ = ("body", "chunks", "collect", "done", "headers", "i", "status", "waiter")

    def __init__(self, chunks: list[bytes], collect: bool = False) -> None:
        self.chunks = chunks
        self.i = 0
        self.done = False
        self.waiter: asyncio.Future[None] | None = None
        self.collect = collect
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []

    async def receive(self) -> dict[str, Any]:
        i = self.i
        chunks = self.chunks
        if i < len(chunks):
            self.i = i + 1
            return {"type": "http.request", "body": chunks[i], "more_body": i + 1 < len(chunks)}
        if not self.done:
            fut = asyncio.get_running_loop().create_future()
            self.waiter = fut
            await fut
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        t = message["type"]
        if t == "http.response.body":
            if self.collect:
                body = message.get("body", b"")
                if not isinstance(body, bytes | bytearray | memoryview):
                    raise TypeError(f"response body must be bytes, got {type(body).__name__}")
                self.body.append(bytes(body))
            if not message.get("more_body", False):
                self.done = True
                w = self.waiter
                if w is not None and not w.done():
                    w.set_result(None)
        elif t == "http.response.start":
            self.status = message["status"]
            if self.collect:
                # The checks also hold the app to the ASGI message format a real server enforces.
                if type(self.status) is not int:
                    raise TypeError(f"status must be an int, got {type(self.status).__name__}")
                headers = []
                for pair in message.get("headers", []):
                    k, v = pair
                    if not isinstance(k, bytes) or not isinstance(v, bytes):
                        raise TypeError(f"header pair must be two bytes objects, got {pair!r}")
                    headers.append((k, v))
                self.headers = headers
        else:
            raise RuntimeError(f"unexpected message type {t!r}")

    def finish(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)


async def request_once(
    app: ASGIApp, scope: dict[str, Any], chunks: list[bytes], state: dict[str, Any], timeout: float = 20.0
) -> Result:
    """One collected request (used for checks and priming), with a timeout against hangs."""
    s = dict(scope)
    s["headers"] = list(scope["headers"])
    s["state"] = dict(state)
    conn = Conn(chunks, collect=True)
    try:
        await asyncio.wait_for(app(s, conn.receive, conn.send), timeout)
    finally:
        conn.finish()
    return Result(conn.status, conn.headers, b"".join(conn.body))


# The clock used for timing. Process CPU time (all threads) by default: the machines are shared and
# other work steals the CPU at random; CPU time ignores that, wall time does not. ``--clock wall``
# switches (set by run.py).
CLOCK: Callable[[], float] = time.process_time


def set_clock(name: str) -> None:
    global CLOCK
    CLOCK = time.perf_counter if name == "wall" else time.process_time


async def run_batch(
    app: ASGIApp, scope: dict[str, Any], chunks: list[bytes], state: dict[str, Any], n: int
) -> tuple[float, int]:
    """Time ``n`` sequential requests; returns (seconds, status of the last one)."""
    headers = scope["headers"]
    conn = None
    clock = CLOCK
    t0 = clock()
    for _ in range(n):
        s = scope.copy()
        s["headers"] = headers.copy()
        s["state"] = state.copy()
        conn = Conn(chunks)
        await app(s, conn.receive, conn.send)
    elapsed = clock() - t0
    assert conn is not None
    conn.finish()
    return elapsed, conn.status


# --------------------------------------------------------------------------------------------------
# Lifespan


class Lifespan:
    """Runs an app's lifespan startup like a server in ``lifespan="auto"`` mode."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self.started = asyncio.Event()
        self.shutdown_requested = asyncio.Event()
        self.stopped = asyncio.Event()
        self.failed: str | None = None
        self.sent_startup = False
        self.task: asyncio.Task[None] | None = None

    async def _receive(self) -> dict[str, Any]:
        if not self.sent_startup:
            self.sent_startup = True
            return {"type": "lifespan.startup"}
        await self.shutdown_requested.wait()
        return {"type": "lifespan.shutdown"}

    async def _send(self, message: dict[str, Any]) -> None:
        t = message["type"]
        if t == "lifespan.startup.complete":
            self.started.set()
        elif t == "lifespan.startup.failed":
            self.failed = message.get("message", "startup failed")
            self.started.set()
        elif t in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            self.stopped.set()

    async def _main(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException:  # noqa: BLE001 - "auto" mode: an app without lifespan support is fine
            pass
        finally:
            self.started.set()
            self.stopped.set()

    async def startup(self, timeout: float = 20.0) -> None:
        self.task = asyncio.get_running_loop().create_task(self._main())
        await asyncio.wait_for(self.started.wait(), timeout)
        if self.failed:
            raise RuntimeError(f"lifespan startup failed: {self.failed}")

    async def shutdown(self, timeout: float = 5.0) -> None:
        self.shutdown_requested.set()
        try:
            await asyncio.wait_for(self.stopped.wait(), timeout)
        except TimeoutError:
            if self.task is not None:
                self.task.cancel()


# --------------------------------------------------------------------------------------------------
# Cells: one (framework, app) prepared for timing


@dataclass
class Cell:
    framework: str
    scenario: str
    app: ASGIApp | None = None
    lifespan: Lifespan | None = None
    scope: dict[str, Any] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    status: int = 0
    n: int = 0
    times: list[float] = field(default_factory=list)  # seconds per request, one per repetition
    error: str | None = None  # "n/a" for a cell that is not run (see ``skipped``)
    skipped: str | None = None  # why the framework has no app for this scenario

    @property
    def per_request(self) -> float | None:
        if self.error or not self.times:
            return None
        ts = sorted(self.times)
        mid = len(ts) // 2
        return ts[mid] if len(ts) % 2 else (ts[mid - 1] + ts[mid]) / 2

    @property
    def ops(self) -> float | None:
        pr = self.per_request
        return 1.0 / pr if pr else None


def load_factories(framework: str) -> dict[str, Callable[[], ASGIApp]]:
    module = importlib.import_module(FRAMEWORKS[framework][0])
    return dict(module.SCENARIOS)


def skip_reasons(framework: str) -> dict[str, str]:
    """Scenarios a framework's module declares it cannot serve (``SKIPPED``: name -> why), e.g. a
    framework with no session support. Such a cell is not built, not timed, and the results say why.
    """
    module = importlib.import_module(FRAMEWORKS[framework][0])
    return dict(getattr(module, "SKIPPED", {}))


def _cookie_from_set_cookie(values: list[str]) -> bytes | None:
    pairs = [v.split(";", 1)[0].strip() for v in values if "=" in v.split(";", 1)[0]]
    return "; ".join(pairs).encode("latin-1") if pairs else None


def short_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    text = text.replace("\n", " ").replace("|", "/")
    return text[:160]


async def prepare_cell(framework: str, sc: Scenario, factory: Callable[[], ASGIApp] | None) -> Cell:
    """Build the app, run lifespan startup, prime if needed, and check the response for correctness."""
    cell = Cell(framework, sc.name)
    if factory is None:
        cell.error = "n/a"
        return cell
    root = logging.getLogger()
    root_level, root_handlers = root.level, list(root.handlers)
    try:
        app = factory()
        cell.app = app
        lifespan = Lifespan(app)
        await lifespan.startup()
        cell.lifespan = lifespan
        extra: list[tuple[bytes, bytes]] = []
        cell.chunks = body_chunks(sc)
        if sc.prime_cookie:
            first = await request_once(app, make_scope(sc), cell.chunks, lifespan.state)
            if first.status != 200 or first.body != b"1":
                raise AssertionError(f"priming request: status {first.status}, body {first.body[:80]!r}")
            cookie = _cookie_from_set_cookie(first.header_all("set-cookie"))
            if cookie is None:
                raise AssertionError("priming request set no cookie")
            extra.append((b"cookie", cookie))
        cell.scope = make_scope(sc, extra)
        # Check twice: the second catches state that only breaks on reuse.
        for _ in range(2):
            result = await request_once(app, cell.scope, cell.chunks, lifespan.state)
            problem = sc.check(result)
            if problem:
                raise AssertionError(problem)
        cell.status = result.status
    except BaseException as exc:  # noqa: BLE001 - a broken cell is reported, the run goes on
        if isinstance(exc, KeyboardInterrupt):
            raise
        cell.error = short_error(exc)
        if "--verbose" in sys.argv:
            traceback.print_exc()
    finally:
        # Under a server each app has its own process; here they share one. Litestar's default
        # logging set-up gives the root logger a handler at INFO, which would print every 404 that
        # BlackSheep logs at INFO (to stderr, at a cost). Restore the root logger as it was, as a
        # separate process would have it; each framework's own loggers are left alone.
        root.setLevel(root_level)
        root.handlers[:] = root_handlers
    return cell


async def calibrate(cell: Cell, target: float) -> None:
    """Pick N so one repetition takes about ``target`` seconds (doubles as warm-up)."""
    assert cell.app is not None and cell.lifespan is not None
    n = 1
    while True:
        elapsed, status = await run_batch(cell.app, cell.scope, cell.chunks, cell.lifespan.state, n)
        if status != cell.status:
            raise AssertionError(f"status drifted to {status}")
        if elapsed >= target / 8 or n >= 1 << 20:
            break
        n *= 4 if elapsed < target / 64 else 2
    per = elapsed / n
    cell.n = max(3, int(target / per))


async def time_cell(cell: Cell) -> None:
    assert cell.app is not None and cell.lifespan is not None
    elapsed, status = await run_batch(cell.app, cell.scope, cell.chunks, cell.lifespan.state, cell.n)
    if status != cell.status:
        raise AssertionError(f"status drifted to {status}")
    cell.times.append(elapsed / cell.n)


def freeze_heap() -> None:
    """Collect once, then move every live object (all the apps) out of the collector's view.

    PERF (of the harness): with seven frameworks' apps loaded, a full collection takes tens of
    milliseconds; freezing makes the collections that happen during timing as cheap as they would
    be in a single-app server process, and saves a full collection per cell.
    """
    gc.collect()
    gc.freeze()


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.new_event_loop()


def loop_name() -> str:
    try:
        import uvloop

        return f"uvloop {uvloop.__version__}"
    except ImportError:  # pragma: no cover
        return "asyncio"


def verify_packages() -> dict[str, str]:
    """Make sure ``starlette`` is the real Starlette (not lyre aliased) and report versions."""
    import starlette

    import lyre

    # Decide by module identity and by package directory, never by a substring of the path: a checkout
    # cloned to ``~/lyre/`` has ``/lyre/`` in every path, the real Starlette's in ``.venv`` included.
    starlette_path = Path(starlette.__file__ or "").resolve()
    starlette_file = str(starlette_path)
    lyre_dir = Path(lyre.__file__ or "").resolve().parent
    if starlette is lyre or starlette.__name__ != "starlette" or lyre_dir in starlette_path.parents:
        raise SystemExit(
            f"`import starlette` resolves to lyre ({starlette_file}); the Starlette column "
            "must be the real Starlette 1.10"
        )
    versions = {"lyre": getattr(lyre, "__version__", "?"), "starlette": starlette.__version__}
    for name in (*DISTRIBUTIONS, "uvicorn", "jinja2"):
        try:
            importlib.import_module(name)
            versions[name] = _dist_version(DISTRIBUTIONS.get(name, name))
        except Exception as exc:  # noqa: BLE001
            versions[name] = f"unavailable ({type(exc).__name__})"
    versions["python"] = sys.version.split()[0]
    versions["loop"] = loop_name()
    return versions


def _dist_version(name: str) -> str:
    from importlib.metadata import version

    try:
        return version(name)
    except Exception:  # noqa: BLE001
        return "?"
