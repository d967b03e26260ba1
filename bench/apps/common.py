"""Data and helpers shared by every framework's benchmark apps (so all answer the same thing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = BENCH_DIR / "templates"
STATIC_DIR = BENCH_DIR / "static"
STATIC_FILE = "file10k.txt"
STATIC_SIZE = 10 * 1024

SECRET_KEY = "bench-secret-key-0123456789abcdef"

PLAINTEXT = "Hello, World!"
JSON_PAYLOAD: dict[str, Any] = {"message": "Hello, World!"}

# Ten items for the Jinja2 template scenario.
ITEMS: list[dict[str, Any]] = [
    {"id": i, "name": f"Item {i}", "price": round(9.99 + i * 1.5, 2), "in_stock": i % 3 != 0}
    for i in range(10)
]

FORM_FIELDS = [f"f{i}" for i in range(10)]

# Route-count scenarios: N parametrised routes, the request hits the last one.
ROUTES_50 = 50


def route_path(i: int) -> str:
    """Template of the i-th route in the many-routes apps (framework-neutral ``{item_id}`` spelling)."""
    return f"/resource{i}/{{item_id}}"


def ensure_static_file() -> Path:
    """Create the 10 KiB static file if it is missing (deterministic content)."""
    STATIC_DIR.mkdir(parents=True, exist_ok=True)
    path = STATIC_DIR / STATIC_FILE
    if not path.exists() or path.stat().st_size != STATIC_SIZE:
        line = b"lyre static benchmark file: 0123456789abcdefghijklmnopqrstuvwxyz\n"
        data = (line * (STATIC_SIZE // len(line) + 1))[:STATIC_SIZE]
        path.write_bytes(data)
    return path


# --- three pure ASGI middlewares, shared by every framework's middleware scenario ------------------


class PassThroughA:
    """A pure ASGI middleware that only forwards (like a typical logging/context middleware shell)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class PassThroughB(PassThroughA):
    """Second pass-through layer."""


class ScopeTagger:
    """A pure ASGI middleware that records something in the scope (typical request-id style)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})
            scope["bench.tag"] = "t"
        await self.app(scope, receive, send)


# The twelve scenarios plus the static extra, in table order; each framework module defines one
# factory per name (``json_`` for json, to keep the stdlib name free) and ``routes(n)``.
SCENARIO_FACTORIES = (
    "plaintext",
    "json_",
    "path",
    "query",
    "form",
    "multipart",
    "cookies",
    "session",
    "middleware",
    "template",
    "notfound",
    "static",
)


def scenario_table(namespace: dict[str, Any]) -> dict[str, Any]:
    """``SCENARIOS`` for a framework module: the factories it defines, plus ``routes50``."""
    table: dict[str, Any] = {}
    for factory in SCENARIO_FACTORIES:
        if factory in namespace:
            table[factory.rstrip("_")] = namespace[factory]
        if factory == "query":
            routes = namespace["routes"]
            table["routes50"] = lambda: routes(50)
    return table
