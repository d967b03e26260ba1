"""The same FastAPI application on lyre (through the ``starlette`` alias) and on Starlette 1.10.

    python bench/fastapi_compare.py                 # both, all scenarios, ratio table
    python bench/fastapi_compare.py --quick         # short runs
    python bench/fastapi_compare.py --profile json  # cProfile of one scenario on lyre, time by package
    python bench/fastapi_compare.py --profile json --on starlette

Each framework runs in its own long-lived subprocess (the alias must be on before FastAPI is
imported, and the real Starlette must never be imported next to it); the parent interleaves short
paired cells (Starlette then lyre, then lyre then Starlette, ...) so both see the same machine load,
and reports the median of the paired ratios. In-process: no sockets, a fresh ASGI ``scope``
per request and bound ``receive``/``send`` callables, as a server would pass them, on one asyncio
loop. Scenarios:

- ``json``: ``GET /items/{item_id}`` with a pydantic ``response_model`` (validation + serialisation).
- ``path``: ``GET /users/{user_id}`` (an ``int`` path parameter, a dict returned, no response model).
- ``routes50``: a 50-route application, hitting the last route (``/r49/{item_id}``).

Needs FastAPI and the real ``starlette`` installed (``pip install fastapi``) next to lyre.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LYRE_PKG = str(ROOT / "lyre") + os.sep
SCENARIOS: dict[str, tuple[str, int, bytes]] = {
    # name -> (path, expected status, expected body prefix)
    "json": ("/items/7", 200, b'{"id":7,"name":"Item 7","price":7.5,"tags":["a","b"]}'),
    "path": ("/users/42", 200, b'{"user_id":42}'),
    "routes50": ("/r49/5", 200, b'{"route":49,"item_id":5}'),
}


def build_app() -> Any:
    """The FastAPI application under test (imported only after the mode is set)."""
    from fastapi import FastAPI
    from pydantic import BaseModel

    class Item(BaseModel):
        id: int
        name: str
        price: float
        tags: list[str]

    app = FastAPI()

    @app.get("/items/{item_id}", response_model=Item)
    async def read_item(item_id: int) -> Any:
        return {"id": item_id, "name": f"Item {item_id}", "price": item_id + 0.5, "tags": ["a", "b"]}

    @app.get("/users/{user_id}")
    async def read_user(user_id: int) -> dict[str, int]:
        return {"user_id": user_id}

    def make(i: int) -> Any:
        async def endpoint(item_id: int) -> dict[str, int]:
            return {"route": i, "item_id": item_id}

        endpoint.__name__ = f"route_{i}"
        return endpoint

    for i in range(50):
        app.add_api_route(f"/r{i}/{{item_id}}", make(i), methods=["GET"])
    return app


class Connection:
    """One request's receive/send, the way a server hands them to the app."""

    __slots__ = ("body", "status")

    def __init__(self) -> None:
        self.status = 0
        self.body = b""

    async def receive(self) -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")


def make_scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"bench"), (b"user-agent", b"bench"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def lifespan_start(app: Any) -> None:
    messages = [{"type": "lifespan.startup"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.sleep(3600)
        return {"type": "lifespan.shutdown"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    task = asyncio.ensure_future(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    )
    for _ in range(100):
        if sent:
            break
        await asyncio.sleep(0)
    task.cancel()


async def measure(app: Any, path: str, status: int, body: bytes, seconds: float) -> float:
    conn = Connection()
    await app(make_scope(path), conn.receive, conn.send)
    if conn.status != status or not conn.body.startswith(body):
        raise SystemExit(f"{path}: unexpected response {conn.status} {conn.body[:200]!r}")
    # Calibrate a batch that takes ~50 ms, then run batches for `seconds`; report the best batch.
    batch = 50
    while True:
        start = time.perf_counter()
        for _ in range(batch):
            c = Connection()
            await app(make_scope(path), c.receive, c.send)
        elapsed = time.perf_counter() - start
        if elapsed > 0.05:
            break
        batch *= 2
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(batch):
            c = Connection()
            await app(make_scope(path), c.receive, c.send)
        best = max(best, batch / (time.perf_counter() - start))
    return best


def child(mode: str) -> None:
    """Measure on request: read ``SCENARIO SECONDS`` lines from stdin, answer one JSON line each.

    Long-lived, so both frameworks stay loaded and the parent can interleave short measurements
    of the two (paired cells see the same machine load).
    """
    if mode == "lyre":
        import lyre.compat.starlette  # noqa: F401  (before FastAPI is imported)
    import starlette

    app = build_app()

    async def main() -> None:
        await lifespan_start(app)
        print(json.dumps({"ready": True, "starlette_module": starlette.__name__}), flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line.strip():
                return
            name, seconds = line.split()
            path, status, body = SCENARIOS[name]
            rps = await measure(app, path, status, body, float(seconds))
            print(json.dumps({"scenario": name, "rps": rps}), flush=True)

    asyncio.run(main())


def profile(scenario: str, seconds: float, mode: str) -> None:
    import cProfile
    import pstats

    if mode == "lyre":
        import lyre.compat.starlette  # noqa: F401

    app = build_app()
    path, _, _ = SCENARIOS[scenario]

    async def loop() -> None:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            for _ in range(200):
                c = Connection()
                await app(make_scope(path), c.receive, c.send)

    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(loop())
    profiler.disable()
    stats = pstats.Stats(profiler)
    by_package: dict[str, float] = {}
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        if os.path.realpath(filename).startswith(LYRE_PKG):  # the package, not any path with "/lyre/"
            key = "lyre"
        elif "/starlette/" in filename:
            key = "starlette"
        elif "/fastapi/" in filename:
            key = "fastapi"
        elif "/pydantic" in filename:
            key = "pydantic"
        elif "/asyncio/" in filename or "/anyio/" in filename:
            key = "asyncio/anyio"
        elif filename.startswith("~") or filename == "~":
            key = "builtins"
        else:
            key = "other (" + Path(filename).parent.name + ")" if "/" in filename else "builtins"
        by_package[key] = by_package.get(key, 0.0) + tottime
    total = sum(by_package.values())
    print(f"own time by package, scenario {scenario!r} on {mode}:")
    for key, value in sorted(by_package.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {key:30s} {100 * value / total:5.1f} %")
    print()
    stats.sort_stats("tottime").print_stats(int(os.environ.get("LYRE_PROFILE_TOP", "25")))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", choices=["lyre", "starlette"], help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=1.0, help="measuring time per cell")
    parser.add_argument("--quick", action="store_true", help="one round of 0.5 s cells")
    parser.add_argument("--rounds", type=int, default=7, help="paired rounds (each: every scenario on both)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--profile", metavar="SCENARIO", help="profile one scenario (on lyre unless --on)")
    parser.add_argument("--on", choices=["lyre", "starlette"], default="lyre", help="what --profile runs on")
    args = parser.parse_args()
    scenarios = args.scenarios.split(",")
    seconds = 0.5 if args.quick else args.seconds
    if args.child:
        child(args.child)
        return
    if args.profile:
        profile(args.profile, seconds, args.on)
        return

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("LYRE_COMPAT_ALIAS", None)
    children: dict[str, subprocess.Popen[str]] = {}
    try:
        for mode in ("starlette", "lyre"):
            proc = subprocess.Popen(
                [sys.executable, __file__, "--child", mode],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            children[mode] = proc
            hello = json.loads(read_line(proc, mode))
            assert hello["starlette_module"] == mode, hello  # the alias is on in (only) the lyre child
        rps: dict[str, dict[str, list[float]]] = {m: {n: [] for n in scenarios} for m in children}
        ratios: dict[str, list[float]] = {n: [] for n in scenarios}
        rounds = 1 if args.quick else args.rounds
        for round_no in range(rounds):
            for name in scenarios:
                # Paired cells, alternating which framework goes first.
                order = ("starlette", "lyre") if round_no % 2 == 0 else ("lyre", "starlette")
                pair = {}
                for mode in order:
                    proc = children[mode]
                    assert proc.stdin is not None
                    proc.stdin.write(f"{name} {seconds}\n")
                    proc.stdin.flush()
                    pair[mode] = json.loads(read_line(proc, mode))["rps"]
                    rps[mode][name].append(pair[mode])
                ratios[name].append(pair["lyre"] / pair["starlette"])
    finally:
        for proc in children.values():
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=60)

    print(
        f"FastAPI on lyre vs FastAPI on Starlette (in-process; {rounds} paired rounds of {seconds:g} s cells;"
        " req/s = best cell, ratio = median of the paired ratios)\n"
    )
    print("| scenario | FastAPI on Starlette (req/s) | FastAPI on lyre (req/s) | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for name in scenarios:
        s_best, l_best = max(rps["starlette"][name]), max(rps["lyre"][name])
        print(f"| {name} | {s_best:,.0f} | {l_best:,.0f} | {statistics.median(ratios[name]):.2f}x |")


def read_line(proc: subprocess.Popen[str], mode: str) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"the {mode} child exited (status {proc.wait()})")
    return line


if __name__ == "__main__":
    main()
