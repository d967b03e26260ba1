"""The same FastAPI application on lyre (through the ``starlette`` alias) and on Starlette 1.10.

    python bench/fastapi_compare.py                 # both, all scenarios, ratio table
    python bench/fastapi_compare.py --quick         # short runs
    python bench/fastapi_compare.py --profile json  # cProfile of one scenario on lyre, time by package
    python bench/fastapi_compare.py --profile json --on starlette
    python bench/fastapi_compare.py --instructions  # instructions per request under callgrind
    python bench/fastapi_compare.py --write          # both measures, into bench/results/fastapi.md

Each framework runs in its own long-lived subprocess (the alias must be on before FastAPI is
imported, and the real Starlette must never be imported next to it); the parent interleaves short
paired cells (Starlette then lyre, then lyre then Starlette, ...) so both see the same machine load,
and reports the median of the paired ratios. In-process: no sockets, a fresh ASGI ``scope``
per request and bound ``receive``/``send`` callables, as a server would pass them, on one asyncio
loop. Scenarios:

- ``json``: ``GET /items/{item_id}`` with a pydantic ``response_model`` (validation + serialisation).
- ``path``: ``GET /users/{user_id}`` (an ``int`` path parameter, a dict returned, no response model).
- ``routes50``: a 50-route application, hitting the last route (``/r49/{item_id}``).

``--instructions`` counts the CPU instructions per request with valgrind's callgrind (one process
per framework, 200 requests per scenario after a warm-up): a measure the machine's load cannot move,
as in ``bench/instructions.py``.

Needs FastAPI and the real ``starlette`` installed (``pip install fastapi``) next to lyre.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
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


COUNTED_REQUESTS = 200


def _marker() -> None:
    """Callgrind dumps its counters when this libc call is entered (``--dump-before=getpgrp``)."""
    os.getpgrp()


def count_child(mode: str, scenarios: list[str]) -> None:
    """Under callgrind: each scenario's requests between two markers (the parent reads the parts)."""
    if mode == "lyre":
        import lyre.compat.starlette  # noqa: F401  (before FastAPI is imported)
    app = build_app()

    async def main() -> None:
        await lifespan_start(app)
        for name in scenarios:
            path, status, body = SCENARIOS[name]
            for _ in range(50):  # warm-up: caches and first-request paths are not counted
                c = Connection()
                await app(make_scope(path), c.receive, c.send)
            if c.status != status or not c.body.startswith(body):
                raise SystemExit(f"{path}: unexpected response {c.status} {c.body[:200]!r}")
            _marker()
            for _ in range(COUNTED_REQUESTS):
                c = Connection()
                await app(make_scope(path), c.receive, c.send)
            _marker()

    asyncio.run(main())


def count_instructions(scenarios: list[str]) -> dict[str, dict[str, float]]:
    """Instructions per request for each scenario, FastAPI on Starlette and on lyre."""
    if shutil.which("valgrind") is None:
        raise SystemExit(
            "valgrind is not installed (Debian: apt-get install valgrind; make bench-instructions)"
        )
    counts: dict[str, dict[str, float]] = {}
    for mode in ("starlette", "lyre"):
        with tempfile.TemporaryDirectory(prefix="lyre-callgrind-") as tmp:
            cmd = [
                "valgrind",
                "--tool=callgrind",
                "--dump-before=getpgrp",
                "--dump-instr=no",
                f"--callgrind-out-file={tmp}/cg.out",
                sys.executable,
                __file__,
                "--count",
                mode,
                "--scenarios",
                ",".join(scenarios),
            ]
            env = _child_env()
            env["PYTHONHASHSEED"] = "0"  # dict and set layouts, and so the counts, repeat run to run
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                tail = "\n".join(proc.stderr.splitlines()[-15:])
                raise SystemExit(f"callgrind run on {mode} failed (exit {proc.returncode}):\n{tail}")
            parts = sorted(Path(tmp).glob("cg.out.*"), key=lambda p: int(p.suffix[1:]))
            counted = iter(parts)
            counts[mode] = {}
            for name in scenarios:
                next(counted)  # the part before the scenario's first marker: not counted
                counts[mode][name] = _totals(next(counted)) / COUNTED_REQUESTS
    return counts


def _totals(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith("totals:") or line.startswith("summary:"):
            return int(line.split(":", 1)[1].split()[0])
    raise ValueError(f"{path}: no totals line")


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("LYRE_COMPAT_ALIAS", None)
    return env


def instructions_table(counts: dict[str, dict[str, float]], scenarios: list[str]) -> str:
    lines = [
        "| scenario | FastAPI on Starlette (instructions/request) | FastAPI on lyre | Starlette ÷ lyre |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name in scenarios:
        s_count, l_count = counts["starlette"][name], counts["lyre"][name]
        lines.append(
            f"| {name} | {s_count / 1000:,.1f}k | {l_count / 1000:,.1f}k | {s_count / l_count:.2f}x |"
        )
    return "\n".join(lines)


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
    parser.add_argument("--count", choices=["lyre", "starlette"], help=argparse.SUPPRESS)
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per request (callgrind) instead of timing",
    )
    parser.add_argument(
        "--write", action="store_true", help="time and count, and write bench/results/fastapi.md"
    )
    args = parser.parse_args()
    scenarios = args.scenarios.split(",")
    seconds = 0.5 if args.quick else args.seconds
    if args.child:
        child(args.child)
        return
    if args.count:
        count_child(args.count, scenarios)
        return
    if args.profile:
        profile(args.profile, seconds, args.on)
        return
    if args.instructions:
        print(instructions_table(count_instructions(scenarios), scenarios))
        return
    rounds = 1 if args.quick else args.rounds
    timed = timed_table(scenarios, seconds, rounds)
    print(timed)
    if args.write:
        counted = instructions_table(count_instructions(scenarios), scenarios)
        print()
        print(counted)
        write_results(timed, counted)


def write_results(timed: str, counted: str) -> None:
    import platform

    import fastapi
    import pydantic

    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    text = (
        "# FastAPI on lyre vs FastAPI on Starlette\n\n"
        "The same FastAPI application, once on Starlette 1.10 and once on lyre through the `starlette` "
        "alias, in-process (no sockets), each in its own process. `python bench/fastapi_compare.py "
        "--write` regenerates this page.\n\n"
        f"Date: {when}. FastAPI {fastapi.__version__}, pydantic {pydantic.VERSION}, Python "
        f"{platform.python_version()}, {_machine()}.\n\n"
        "Scenarios: `json` = `GET /items/{item_id}` with a pydantic `response_model`; `path` = "
        "`GET /users/{user_id}` (an `int` path parameter); `routes50` = a 50-route application, "
        "last route hit.\n\n"
        "## Requests per second\n\n" + timed + "\n\n"
        "## Instructions per request (callgrind; does not move with the machine's load)\n\n"
        + counted
        + "\n\n"
        "FastAPI's own work (dependency resolution, validation, serialisation, its router's loop over "
        "the routes) is the same on both; only the Starlette-level parts it calls (requests, "
        "responses, route matching, the middleware stack) differ.\n"
    )
    (ROOT / "bench" / "results" / "fastapi.md").write_text(text)
    print("\nwrote bench/results/fastapi.md")


def _machine() -> str:
    """The CPU model and count, as ``/proc/cpuinfo`` names them (else the platform's machine type)."""
    import platform

    model = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs"


def timed_table(scenarios: list[str], seconds: float, rounds: int) -> str:
    """Paired timed cells, FastAPI on Starlette and on lyre; the Markdown table of the results."""
    env = _child_env()
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

    lines = [
        f"In-process, {rounds} paired rounds of {seconds:g} s cells (the two frameworks alternate, so "
        "both see the same machine load); req/s = best cell, ratio = median of the paired ratios.",
        "",
        "| scenario | FastAPI on Starlette (req/s) | FastAPI on lyre (req/s) | lyre ÷ Starlette |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name in scenarios:
        s_best, l_best = max(rps["starlette"][name]), max(rps["lyre"][name])
        lines.append(f"| {name} | {s_best:,.0f} | {l_best:,.0f} | {statistics.median(ratios[name]):.2f}x |")
    return "\n".join(lines)


def read_line(proc: subprocess.Popen[str], mode: str) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"the {mode} child exited (status {proc.wait()})")
    return line


if __name__ == "__main__":
    main()
