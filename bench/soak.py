"""Soak test: the cheat-sheet demo under mixed traffic for a while, watching for errors and leaks.

    python bench/soak.py --seconds 600          # what `make soak` runs (SOAK_SECONDS=600)

Starts ``python -m lyre run examples.cheatsheet.app:app`` (uvicorn) on 127.0.0.1 and drives it with
concurrent clients: pages, JSON, redirects, cookies, form posts, multipart uploads, sessions (a
cookie jar per client: sign in, account page, log out), background tasks, WebSocket echo sessions
(some dropped without a close frame) and malformed traffic over raw sockets (bad request lines,
oversized headers, truncated bodies, broken multipart, connections dropped mid-request).

Every few seconds it samples the server's resident memory (VmRSS) and open descriptors. It passes
when there were no 5xx answers, no unexpected client errors, no error or traceback in the server log,
resident memory after warm-up (the first fifth of the run) stayed within 10 % and open descriptors
did not grow. Writes ``report.json`` and ``memory.svg`` to ``--out`` (default bench/results/soak/)
and exits 1 on failure. Traffic goes to 127.0.0.1 only; the run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect as ws_connect

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


@dataclass
class Stats:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    websocket_sessions: int = 0
    websocket_messages: int = 0
    malformed: Counter[str] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)

    def fail(self, what: str) -> None:
        self.unexpected[what] += 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def proc_figures(pid: int) -> tuple[int, int]:
    """(VmRSS in KiB, open descriptors) of process ``pid``."""
    rss = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


# -- traffic ------------------------------------------------------------------------------------------

PAGES = [
    ("/", 200),
    ("/templates", 200),
    ("/query?name=Bo%20Z&t=1&t=2", 200),
    ("/post/42", 200),
    ("/form", 200),
    ("/upload", 200),
    ("/json", 200),
    ("/responses/json", 200),
    ("/responses/custom", 404),
    ("/responses/created", 201),
    ("/redirects/303", 303),
    ("/redirects/default", 307),
    ("/cookie", 200),
    ("/request?kw=hello", 200),
    ("/state", 200),
    ("/errors/403", 403),
    ("/nowhere", 404),
    ("/static/style.css", 200),
    ("/favicon.ico", 301),
    ("/middleware", 200),
    ("/hi", 200),
    ("/background", 200),
]


def expect(stats: Stats, kind: str, response: httpx.Response, wanted: int | tuple[int, ...]) -> None:
    stats.requests += 1
    stats.by_kind[kind] += 1
    stats.statuses[response.status_code] += 1
    allowed = wanted if isinstance(wanted, tuple) else (wanted,)
    if response.status_code not in allowed:
        stats.fail(f"{kind}: {response.request.method} {response.request.url.path} -> {response.status_code}")


async def page(client: httpx.AsyncClient, stats: Stats, rng: random.Random) -> None:
    path, status = rng.choice(PAGES)
    method = "HEAD" if path in ("/", "/json", "/static/style.css") and rng.random() < 0.2 else "GET"
    expect(stats, "page", await client.request(method, path), status)


async def forms(client: httpx.AsyncClient, stats: Stats, rng: random.Random) -> None:
    choice = rng.randrange(4)
    if choice == 0:
        response = await client.post("/form/submit", data={"name": "Bo" * rng.randrange(1, 50)})
        expect(stats, "form", response, 200)
    elif choice == 1:
        size = rng.choice([0, 10, 1000, 100_000, 600_000])
        kind = rng.choice(["text/plain", "image/png", "application/octet-stream"])
        files = {"filename": (f"f{size}.bin", os.urandom(size), kind)}
        expect(stats, "upload", await client.post("/upload", files=files), 200)
    elif choice == 2:
        response = await client.post("/cookie/set", data={"value": f"v{rng.randrange(1000)}"})
        expect(stats, "cookie", response, 303)
    else:
        response = await client.post(rng.choice(["/background/tasks", "/background/file"]))
        expect(stats, "background", response, 200)


async def session(client: httpx.AsyncClient, stats: Stats, rng: random.Random) -> None:
    name = f"user{rng.randrange(10_000)}"
    expect(stats, "session", await client.post("/signin", data={"username": name}), 303)
    account = await client.get("/account")
    expect(stats, "session", account, 200)
    if name not in account.text:
        stats.fail("session: the account page does not show the signed-in user")
    expect(stats, "session", await client.post("/logout"), 303)
    expect(stats, "session", await client.get("/account"), (303, 307, 302, 401, 403))


async def websocket(port: int, stats: Stats, rng: random.Random) -> None:
    async with ws_connect(f"ws://{HOST}:{port}/ws", open_timeout=10, close_timeout=5) as ws:
        stats.websocket_sessions += 1
        greeting = await asyncio.wait_for(ws.recv(), 10)
        if not str(greeting).startswith("connected"):
            stats.fail(f"websocket greeting {greeting!r}")
        for i in range(rng.randrange(1, 6)):
            text = f"m{i}-" + "x" * rng.choice([1, 100, 5000])
            await ws.send(text)
            answer = await asyncio.wait_for(ws.recv(), 10)
            stats.websocket_messages += 1
            if answer != "echo: " + text[:1000]:
                stats.fail("websocket echo mismatch")
        if rng.random() < 0.3:
            ws.transport.abort()  # drop the connection without a close frame


MALFORMED: list[tuple[str, bytes]] = [
    ("bad request line", b"GARBAGE\r\n\r\n"),
    ("bad version", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n"),
    ("huge header", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"),
    ("many headers", b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 5000 + b"\r\n"),
    ("nul in path", b"GET /post/%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    ("bad escape", b"GET /post/%ff%fe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    ("truncated body", b"POST /form/submit HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
     b"Content-Length: 1000\r\n\r\nname=abc"),
    ("truncated upload", b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
     b"Content-Length: 100000\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"a\"\r\n\r\nxx"),
    ("broken multipart", b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
     b"Content-Length: 22\r\nConnection: close\r\n\r\n--B\r\nContent-Dispo: x\r\n\r\n"),
    ("no boundary", b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data\r\n"
     b"Content-Length: 3\r\nConnection: close\r\n\r\nabc"),
    ("bad content length", b"POST /form/submit HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
    ("abrupt close", b"GET / HTTP/1.1\r\nHo"),
    ("bad cookie", b"GET /account HTTP/1.1\r\nHost: x\r\nCookie: session=" + b"A" * 3000 + b"; x=\"\\\r\nConnection: close\r\n\r\n"),
    ("bad websocket upgrade", b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     b"Sec-WebSocket-Version: 13\r\n\r\n"),
]  # fmt: skip


async def malformed(port: int, stats: Stats, rng: random.Random) -> None:
    name, payload = rng.choice(MALFORMED)
    stats.malformed[name] += 1
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 10)
    try:
        writer.write(payload)
        await writer.drain()
        if name.startswith(("truncated", "abrupt")) or rng.random() < 0.1:
            return  # hang up mid-request
        head = await asyncio.wait_for(reader.read(200), 10)
        match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
        if match:
            status = int(match.group(1))
            stats.statuses[status] += 1
            if status >= 500:
                stats.fail(f"malformed {name}: {status}")
    except (ConnectionError, TimeoutError, asyncio.IncompleteReadError) as exc:
        if isinstance(exc, TimeoutError):
            stats.fail(f"malformed {name}: no answer within 10 s")
    finally:
        writer.transport.abort()


async def worker(index: int, port: int, stats: Stats, stop_at: float) -> None:
    rng = random.Random(index)
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=30) as client:
        while time.monotonic() < stop_at:
            roll = rng.random()
            try:
                if roll < 0.45:
                    await page(client, stats, rng)
                elif roll < 0.65:
                    await forms(client, stats, rng)
                elif roll < 0.80:
                    await session(client, stats, rng)
                elif roll < 0.90:
                    await websocket(port, stats, rng)
                else:
                    await malformed(port, stats, rng)
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                stats.fail(f"{type(exc).__name__}: {exc}"[:200])


async def sampler(
    pid: int, stats: Stats, stop_at: float, every: float, samples: list[dict[str, Any]]
) -> None:
    started = time.monotonic()
    while True:
        rss, fds = proc_figures(pid)
        samples.append(
            {
                "t": round(time.monotonic() - started, 1),
                "rss_kib": rss,
                "fds": fds,
                "requests": stats.requests,
            }
        )
        if time.monotonic() >= stop_at:
            return
        await asyncio.sleep(min(every, max(stop_at - time.monotonic(), 0.1)))


# -- report -------------------------------------------------------------------------------------------


def svg_chart(samples: list[dict[str, Any]], warmup: float, title: str) -> str:
    """Resident memory (MiB) over time, as a small standalone SVG."""
    width, height, left, bottom, top, right = 720, 320, 60, 40, 30, 20
    xs = [s["t"] for s in samples]
    ys = [s["rss_kib"] / 1024 for s in samples]
    x_max = max(xs) or 1
    y_lo, y_hi = 0.0, max(ys) * 1.15 or 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + x / x_max * plot_w

    def py(y: float) -> float:
        return top + plot_h - (y - y_lo) / (y_hi - y_lo) * plot_h

    points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys, strict=True))
    grid = []
    for i in range(5):
        y = y_lo + (y_hi - y_lo) * i / 4
        grid.append(
            f'<line x1="{left}" y1="{py(y):.1f}" x2="{width - right}" y2="{py(y):.1f}" stroke="#ddd"/>'
        )
        grid.append(
            f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end" font-size="11">{y:.0f}</text>'
        )
    for i in range(6):
        x = x_max * i / 5
        grid.append(
            f'<text x="{px(x):.1f}" y="{height - bottom + 16}" text-anchor="middle" font-size="11">{x:.0f}</text>'
        )
    shade = f'<rect x="{left}" y="{top}" width="{px(warmup) - left:.1f}" height="{plot_h}" fill="#f3f3f3"/>'
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">'
        f'<rect width="100%" height="100%" fill="white"/>{shade}{"".join(grid)}'
        f'<text x="{left}" y="18" font-size="13">{title}</text>'
        f'<text x="{left + 4}" y="{top + 14}" font-size="10" fill="#888">warm-up</text>'
        f'<text x="{width / 2}" y="{height - 6}" text-anchor="middle" font-size="11">seconds</text>'
        f'<text x="14" y="{top + plot_h / 2}" font-size="11" transform="rotate(-90 14 {top + plot_h / 2})" '
        f'text-anchor="middle">RSS (MiB)</text>'
        f'<polyline fill="none" stroke="#1f6feb" stroke-width="2" points="{points}"/></svg>\n'
    )


def scan_log(text: str) -> list[str]:
    """Lines of the server log that report an error (uvicorn's warnings for bad requests are fine)."""
    bad = re.compile(r"Traceback|^ERROR|Exception in ASGI|Error:|CRITICAL", re.MULTILINE)
    return [line for line in text.splitlines() if bad.search(line)][:50]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Soak-test the cheat-sheet demo under mixed traffic.")
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--clients", type=int, default=12, help="concurrent clients (default: 12)")
    parser.add_argument("--sample-every", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "soak")
    args = parser.parse_args(argv)

    port = free_port()
    args.out.mkdir(parents=True, exist_ok=True)
    log_path = args.out / "server.log"
    command = [
        sys.executable,
        "-m",
        "lyre",
        "run",
        "examples.cheatsheet.app:app",
        "--host",
        HOST,
        "--port",
        str(port),
    ]
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    with log_path.open("w") as log:
        server = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    print(log_path.read_text(), file=sys.stderr)
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        print(f"soak: {args.seconds:.0f} s, {args.clients} clients, server pid {server.pid} on port {port}")
        stats = Stats()
        samples: list[dict[str, Any]] = []

        async def run() -> None:
            stop_at = time.monotonic() + args.seconds
            tasks = [worker(i, port, stats, stop_at) for i in range(args.clients)]
            await asyncio.gather(sampler(server.pid, stats, stop_at, args.sample_every, samples), *tasks)

        asyncio.run(run())
        time.sleep(1)  # let the last background tasks log
        end_rss, end_fds = proc_figures(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    warmup = args.seconds / 5
    after = [s for s in samples if s["t"] >= warmup]
    window = max(len(after) // 10, 1)
    rss_after_warmup = statistics.median(s["rss_kib"] for s in after[:window])
    rss_end = statistics.median(s["rss_kib"] for s in after[-window:])
    fds_after_warmup = statistics.median(s["fds"] for s in after[:window])
    fds_end = statistics.median(s["fds"] for s in after[-window:])
    growth = (rss_end - rss_after_warmup) / rss_after_warmup * 100
    log_errors = scan_log(log_path.read_text())
    five_xx = sum(n for code, n in stats.statuses.items() if code >= 500)
    checks = {
        "no_5xx": five_xx == 0,
        "no_unexpected_client_errors": not stats.unexpected,
        "no_errors_in_server_log": not log_errors,
        "rss_flat_within_10_percent": abs(growth) <= 10,
        "fds_flat": fds_end <= fds_after_warmup + args.clients,
    }
    report = {
        "seconds": args.seconds,
        "clients": args.clients,
        "server": " ".join(command[1:]),
        "requests": stats.requests,
        "requests_per_second": round(stats.requests / args.seconds, 1),
        "by_kind": dict(stats.by_kind),
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "websocket_sessions": stats.websocket_sessions,
        "websocket_messages": stats.websocket_messages,
        "malformed_requests": dict(stats.malformed),
        "five_xx": five_xx,
        "unexpected": dict(stats.unexpected.most_common(30)),
        "server_log_errors": log_errors,
        "server_log_warnings": len(re.findall(r"^WARNING", log_path.read_text(), re.MULTILINE)),
        "rss_mib": {
            "start": round(samples[0]["rss_kib"] / 1024, 1),
            "after_warmup": round(rss_after_warmup / 1024, 1),
            "end": round(rss_end / 1024, 1),
            "max": round(max(s["rss_kib"] for s in samples) / 1024, 1),
            "growth_after_warmup_percent": round(growth, 1),
        },
        "open_fds": {
            "start": samples[0]["fds"],
            "after_warmup": fds_after_warmup,
            "end_under_load": fds_end,
            "after_load": end_fds,
            "max": max(s["fds"] for s in samples),
        },
        "checks": checks,
        "passed": all(checks.values()),
        "samples": samples,
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    title = f"lyre soak: cheat-sheet demo, {args.seconds / 60:.0f} min, {stats.requests} requests"
    (args.out / "memory.svg").write_text(svg_chart(samples, warmup, title))
    summary = {k: v for k, v in report.items() if k != "samples"}
    print(json.dumps(summary, indent=1))
    print(f"report: {args.out / 'report.json'}  chart: {args.out / 'memory.svg'}  server log: {log_path}")
    print("PASSED" if report["passed"] else "FAILED")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
