"""End-to-end mode: every app under a real server (uvicorn or granian) on 127.0.0.1, loaded by wrk.

    python bench/e2e.py [--duration 5] [--reps 3] [--connections 64] [--scenarios plaintext,json,path]
                        [--servers uvicorn,granian]
    python bench/run.py --e2e ...      # the same

Servers (``--servers``, default ``uvicorn``; ``--server X`` is the same with one name), set up in
``bench/serve.py``:

* **uvicorn**: httptools + uvloop, one worker, access log off. One process.
* **granian**: its ``asgi`` interface (lifespan on), ``--http 1``, uvloop, one worker, one Rust
  runtime thread, WebSockets on, access log off. granian runs the app in a worker process under a
  supervisor process; both are pinned, and the CPU time counted is that of the whole process tree.

Each (server, framework, scenario) app is started once on a free loopback port (pinned to one CPU
with ``taskset`` when available, child processes and threads included; wrk is pinned to the
other), checked for a correct response, warmed up, then measured ``--reps`` times, frameworks (and
servers) interleaved within each repetition, so that both servers see the same machine. Requests/s
and p99 latency are the medians over the repetitions. A framework that fails under a server is
listed under "Failed cells" with the reason. Results: ``results/e2e.md`` (uvicorn) and
``results/e2e-granian.md`` (granian; with a granian-vs-uvicorn table when both ran in one
invocation). Only 127.0.0.1 is ever contacted; every load run is bounded by ``--duration``. Without
``wrk`` on PATH, a small asyncio keep-alive load generator in this file is used instead (slower: it
measures lower absolute numbers, ratios stay meaningful).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.harness import FRAMEWORKS, Result, Scenario  # noqa: E402

RESULTS = harness.BENCH_DIR / "results"
HOST = "127.0.0.1"  # the only address this benchmark ever talks to


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def pin(cpu: int) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(cpu)]
    return []


SERVERS = ("uvicorn", "granian")
# One line per server for the results header: how it is set up (see bench/serve.py).
SERVER_SETUP = {
    "uvicorn": "httptools + uvloop, one worker, access log off",
    "granian": (
        "ASGI interface with lifespan, HTTP/1.1 only, uvloop, one worker process under granian's "
        "supervisor process, one Rust runtime thread, WebSockets on, access log off; server CPU time "
        "counts both processes"
    ),
}


def server_version(distribution: str) -> str | None:
    """The installed version of a server's distribution, or ``None`` when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def result_file(server: str, quick: bool) -> Path:
    """``e2e.md`` for uvicorn (the historical name), ``e2e-<server>.md`` for another server."""
    name = "e2e" if server == "uvicorn" else f"e2e-{server}"
    return RESULTS / f"{name}{'-quick' if quick else ''}.md"


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (field 3 onwards), or ``None``."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_tree_cpu(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid`` and its living descendants (from /proc)."""
    fields = _proc_stat(pid)
    if fields is None:
        return float("nan")
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            other = _proc_stat(int(entry.name))
            if other is not None:
                children.setdefault(int(other[1]), []).append(int(entry.name))
    ticks = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        stat = fields if current == pid else _proc_stat(current)
        if stat is not None:
            ticks += int(stat[11]) + int(stat[12])
        todo += children.get(current, [])
    return ticks / os.sysconf("SC_CLK_TCK")


def _failure_line(stderr: str) -> str:
    """The line of a dead server's stderr that says why: the last exception line, else the last line."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[\w.]*(Error|Exception|Exit)\b", line):
            return line
    return lines[-1] if lines else "(no output)"


class Server:
    """One server process (uvicorn or granian) serving one (framework, scenario) app."""

    def __init__(self, framework: str, sc: Scenario, server: str = "uvicorn") -> None:
        self.framework = framework
        self.server = server
        self.sc = sc
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.error: str | None = None
        self.skipped: str | None = None  # why the framework has no app for this scenario
        self.rps: list[float] = []
        self.p99: list[float] = []
        self.cpu_us: list[float] = []  # server CPU µs per request
        self.headers: list[tuple[bytes, bytes]] = list(sc.headers)
        self.stderr: IO[bytes] | None = None

    @property
    def url(self) -> str:
        q = f"?{self.sc.query.decode()}" if self.sc.query else ""
        return f"http://{HOST}:{self.port}{self.sc.path}{q}"

    def start(self) -> None:
        cmd = [
            *pin(1),
            sys.executable,
            str(harness.BENCH_DIR / "serve.py"),
            self.framework,
            self.sc.name,
            str(self.port),
            self.server,
        ]
        # stderr to a file, not a pipe: a chatty server must never block on a full pipe.
        self.stderr = tempfile.TemporaryFile()
        # Its own process group, so that a server which ignores SIGTERM is killed with its workers.
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=self.stderr, start_new_session=True
        )

    def error_output(self) -> str:
        if self.stderr is None:
            return ""
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {_failure_line(self.error_output())}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start in time")

    def request(self, headers: list[tuple[bytes, bytes]], timeout: float = 10.0) -> Result:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            target = self.sc.path + (f"?{self.sc.query.decode()}" if self.sc.query else "")
            conn.request(
                self.sc.method,
                target,
                body=self.sc.body or None,
                headers={k.decode(): v.decode() for k, v in headers},
            )
            resp = conn.getresponse()
            body = resp.read()
            return Result(
                resp.status, [(k.lower().encode(), v.encode("latin-1")) for k, v in resp.getheaders()], body
            )
        finally:
            conn.close()

    def check(self) -> None:
        """Check the answer (priming a session cookie first when the scenario needs one).

        The first request may wait a while: granian's listening socket is open before its worker
        process has built the app, so "connectable" is not yet "ready" there.
        """
        if self.sc.prime_cookie:
            first = self.request(self.sc.headers, timeout=30)
            pairs = [v.decode("latin-1").split(";", 1)[0] for k, v in first.headers if k == b"set-cookie"]
            if first.status != 200 or not pairs:
                raise AssertionError(f"priming request: status {first.status}, no cookie")
            self.headers = [*self.sc.headers, (b"cookie", "; ".join(pairs).encode("latin-1"))]
        problem = self.sc.check(self.request(self.headers, timeout=30))
        if problem:
            raise AssertionError(problem)

    def cpu_seconds(self) -> float:
        """User + system CPU time the server (its worker processes included) has used so far."""
        assert self.proc is not None
        return process_tree_cpu(self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.stderr is not None:
            self.stderr.close()
            self.stderr = None


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def parse_wrk(out: str) -> tuple[float, float, int, int]:
    """(requests/s, p99 seconds, non-2xx/3xx count, total requests) from ``wrk --latency`` output."""
    rps_m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total_m = re.search(r"(\d+) requests in", out)
    p99_m = re.search(r"^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    bad_m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    err_m = re.search(r"Socket errors:.*?timeout (\d+)", out)
    if not rps_m or not p99_m:
        raise RuntimeError(f"cannot parse wrk output: {out[-400:]!r}")
    bad = int(bad_m.group(1)) if bad_m else 0
    if err_m:
        bad += int(err_m.group(1))
    total = int(total_m.group(1)) if total_m else 0
    return float(rps_m.group(1)), float(p99_m.group(1)) * _UNITS[p99_m.group(2)], bad, total


def run_wrk(
    url: str, duration: float, connections: int, headers: list[tuple[bytes, bytes]]
) -> tuple[float, float, int, int]:
    hdr_args: list[str] = []
    for k, v in headers:
        hdr_args += ["-H", f"{k.decode()}: {v.decode()}"]
    cmd = [
        *pin(0),
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        "--timeout",
        "5s",
        *hdr_args,
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed: {out.stderr.strip()[-300:]}")
    return parse_wrk(out.stdout)


def run_pyload(
    url: str, duration: float, connections: int, headers: list[tuple[bytes, bytes]]
) -> tuple[float, float, int, int]:
    """Fallback load generator (a subprocess running ``_pyload_main``), used when wrk is missing."""
    cmd = [
        *pin(0),
        sys.executable,
        __file__,
        "--_pyload",
        url,
        str(duration),
        str(connections),
        json.dumps([[k.decode(), v.decode()] for k, v in headers]),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed: {out.stderr.strip()[-300:]}")
    data = json.loads(out.stdout)
    return data["rps"], data["p99"], data["bad"], data["total"]


def _pyload_main(url: str, duration: float, connections: int, headers_json: str) -> None:
    """Keep-alive HTTP/1.1 GET loop over ``connections`` connections for ``duration`` seconds."""
    import asyncio
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.hostname != HOST:
        raise SystemExit("the load generator only targets 127.0.0.1")
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    extra = "".join(f"{k}: {v}\r\n" for k, v in json.loads(headers_json))
    request = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n{extra}\r\n".encode()
    latencies: list[float] = []
    bad = 0

    async def worker(stop_at: float) -> None:
        nonlocal bad
        reader, writer = await asyncio.open_connection(HOST, parts.port)
        try:
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                chunked = False
                for line in head.split(b"\r\n")[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:].strip())
                    elif line[:18].lower() == b"transfer-encoding:" and b"chunked" in line.lower():
                        chunked = True  # e.g. Sanic's ASGI responses carry no content-length
                if chunked:
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
                        await reader.readexactly(size + 2)  # the chunk and its CRLF
                        if size == 0:
                            break
                elif length:
                    await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                if status >= 400:
                    bad += 1
        finally:
            writer.close()

    async def main() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(worker(start + duration) for _ in range(connections)))
        return time.perf_counter() - start

    try:
        import uvloop

        elapsed = uvloop.run(main())
    except ImportError:
        elapsed = asyncio.run(main())
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    print(json.dumps({"rps": len(latencies) / elapsed, "p99": p99, "bad": bad, "total": len(latencies)}))


def render(
    servers: dict[str, dict[str, Server]],
    frameworks: list[str],
    scs: list[Scenario],
    meta: dict[str, Any],
    server: str = "uvicorn",
) -> str:
    labels = [FRAMEWORKS[fw][1] for fw in frameworks]
    others = [other for other in meta.get("servers", [server]) if other != server]
    out = [
        f"# End-to-end benchmark ({server} + wrk)\n",
        f"Server: **{server} {meta.get(server) or ''}**".rstrip()
        + f" ({SERVER_SETUP[server]}), on 127.0.0.1; "
        + (f"run in the same invocation as {', '.join(others)}, cells interleaved. " if others else "")
        + f"Loaded by {meta['loader']} ({meta['connections']} connections, {meta['duration']}s per run, one thread); "
        f"server and load generator pinned to different CPUs; {meta['reps']} repetitions, frameworks "
        f"interleaved. Date: {meta['date']}. Load average (1 min) at start {meta['load_start']:.1f}, at end "
        f"{meta.get('load_end', 0.0):.1f} on {os.cpu_count()} CPUs: with other work on the machine, wall-clock "
        f"requests/s and p99 swing widely from run to run; the server CPU time per request below is the "
        f"steadier measure (how many requests one CPU-second serves).\n",
        # Eleven framework columns leave no room for long scenario titles: short keys, explained once.
        "Scenarios: " + "; ".join(f"`{sc.name}` = {sc.title}" for sc in scs) + ".\n",
        "## Requests per second, median of the repetitions (higher is better)\n",
        "| scenario | " + " | ".join(labels) + " |",
        "|---" * (len(labels) + 1) + "|",
    ]
    med: dict[tuple[str, str], float | None] = {}
    best: dict[tuple[str, str], float | None] = {}
    for sc in scs:
        cols = []
        for fw in frameworks:
            s = servers[sc.name][fw]
            v = statistics.median(s.rps) if s.rps and not s.error else None
            med[(sc.name, fw)] = v
            best[(sc.name, fw)] = max(s.rps) if s.rps and not s.error else None
            cols.append(f"{v:,.0f}" if v else "-")
        out.append(f"| {sc.name} | " + " | ".join(cols) + " |")
    out += [
        "\n## Requests per second, best of the repetitions (the least disturbed run)\n",
        "| scenario | " + " | ".join(labels) + " |",
        "|---" * (len(labels) + 1) + "|",
    ]
    for sc in scs:
        out.append(
            f"| {sc.name} | "
            + " | ".join(f"{best[(sc.name, fw)]:,.0f}" if best[(sc.name, fw)] else "-" for fw in frameworks)
            + " |"
        )
    out += [
        "\n## p99 latency, ms (lower is better)\n",
        "| scenario | " + " | ".join(labels) + " |",
        "|---" * (len(labels) + 1) + "|",
    ]
    for sc in scs:
        cols = []
        for fw in frameworks:
            s = servers[sc.name][fw]
            cols.append(f"{statistics.median(s.p99) * 1e3:.2f}" if s.p99 and not s.error else "-")
        out.append(f"| {sc.name} | " + " | ".join(cols) + " |")
    out += [
        "\n## Server CPU time per request, µs (lower is better; robust to other load on the machine)\n",
        "| scenario | " + " | ".join(labels) + " |",
        "|---" * (len(labels) + 1) + "|",
    ]
    cpu: dict[tuple[str, str], float | None] = {}
    for sc in scs:
        cols = []
        for fw in frameworks:
            s = servers[sc.name][fw]
            v = statistics.median(s.cpu_us) if s.cpu_us and not s.error else None
            cpu[(sc.name, fw)] = v
            cols.append(f"{v:.1f}" if v else "-")
        out.append(f"| {sc.name} | " + " | ".join(cols) + " |")
    for base, title in (
        ("starlette", "CPU capacity vs Starlette (Starlette CPU/req ÷ framework CPU/req)"),
        ("raw", "CPU capacity vs raw ASGI (raw CPU/req ÷ framework CPU/req; 1.00x = the floor)"),
    ):
        if base not in frameworks:
            continue
        out += [
            f"\n## {title}\n",
            "| scenario | " + " | ".join(labels) + " |",
            "|---" * (len(labels) + 1) + "|",
        ]
        for sc in scs:
            b = cpu.get((sc.name, base))
            cols = [
                f"{b / cpu[(sc.name, fw)]:.2f}x" if b and cpu.get((sc.name, fw)) else "-" for fw in frameworks
            ]
            out.append(f"| {sc.name} | " + " | ".join(cols) + " |")
    for base, title in (
        ("starlette", "vs Starlette (req/s ratio, higher is better)"),
        ("raw", "vs raw ASGI (req/s ratio; 1.00x = the floor)"),
    ):
        if base not in frameworks:
            continue
        out += [
            f"\n## {title}\n",
            "| scenario | " + " | ".join(labels) + " |",
            "|---" * (len(labels) + 1) + "|",
        ]
        for sc in scs:
            b = med.get((sc.name, base))
            cols = [
                f"{med[(sc.name, fw)] / b:.2f}x" if b and med.get((sc.name, fw)) else "-" for fw in frameworks
            ]
            out.append(f"| {sc.name} | " + " | ".join(cols) + " |")
    errors = [
        (sc.name, fw, servers[sc.name][fw].error)
        for sc in scs
        for fw in frameworks
        if servers[sc.name][fw].error
    ]
    skipped = [
        (sc.name, fw, servers[sc.name][fw].skipped)
        for sc in scs
        for fw in frameworks
        if servers[sc.name][fw].skipped
    ]
    if skipped:
        out.append("\n## Cells skipped: the framework lacks the feature\n")
        out += [f"- {n} / {FRAMEWORKS[fw][1]}: {why}" for n, fw, why in skipped]
    if errors:
        out.append("\n## Failed cells\n")
        out += [f"- {n} / {FRAMEWORKS[fw][1]}: `{e}`" for n, fw, e in errors]
    lyre = med.get(("plaintext", "lyre"))
    raw = med.get(("plaintext", "raw"))
    if lyre and raw:
        out.append("\n## Plaintext against raw ASGI\n")
        out.append(
            f"- lyre's requests/s under {server}: {lyre / raw:.2f}x a raw ASGI app's (median wall-clock)"
        )
        lb, rb = best.get(("plaintext", "lyre")), best.get(("plaintext", "raw"))
        if lb and rb:
            out.append(f"- by best-of-{meta['reps']} requests/s: {lb / rb:.2f}x")
        lc, rc = cpu.get(("plaintext", "lyre")), cpu.get(("plaintext", "raw"))
        if lc and rc:
            out.append(f"- by server CPU time per request (capacity): {rc / lc:.2f}x")
    return "\n".join(out) + "\n"


def render_comparison(
    cells: dict[str, dict[str, dict[str, Server]]],
    frameworks: list[str],
    scs: list[Scenario],
    base: str,
    other: str,
) -> str:
    """``other`` against ``base``, cell by cell, from one run in which both were interleaved."""
    labels = [FRAMEWORKS[fw][1] for fw in frameworks]

    def value(server: str, sc: Scenario, fw: str, attr: str) -> float | None:
        s = cells[server][sc.name][fw]
        values: list[float] = getattr(s, attr)
        return statistics.median(values) if values and not s.error else None

    out = [f"\n## {other} against {base}, measured in the same run\n"]
    for title, attr, flip in (
        (f"Requests/s: {other} median ÷ {base} median (above 1.00x: {other} serves more)", "rps", False),
        (
            f"Server CPU capacity: {base} CPU/req ÷ {other} CPU/req (above 1.00x: {other} spends less "
            "CPU per request)",
            "cpu_us",
            True,
        ),
    ):
        out += [
            f"\n### {title}\n",
            "| scenario | " + " | ".join(labels) + " |",
            "|---" * (len(labels) + 1) + "|",
        ]
        for sc in scs:
            cols = []
            for fw in frameworks:
                b, o = value(base, sc, fw, attr), value(other, sc, fw, attr)
                cols.append(f"{(b / o if flip else o / b):.2f}x" if b and o else "-")
            out.append(f"| {sc.name} | " + " | ".join(cols) + " |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=3.0, help="seconds per measured wrk run")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    p.add_argument("--scenarios", default="plaintext,json,path")
    p.add_argument(
        "--servers",
        "--server",
        dest="servers",
        default="uvicorn",
        help="comma-separated servers to run every cell under, interleaved: uvicorn, granian "
        "(default: uvicorn)",
    )
    p.add_argument("--quick", action="store_true", help="1 repetition of 2 s")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--loader", choices=("auto", "wrk", "python"), default="auto")
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.reps = 2.0, 1
    server_names = list(dict.fromkeys(name for name in args.servers.split(",") if name))
    unknown = [name for name in server_names if name not in SERVERS]
    if unknown or not server_names:
        p.error(f"unknown server(s) {unknown}: expected a comma-separated list of {', '.join(SERVERS)}")
    missing = [name for name in server_names if server_version(name) is None]
    if missing:
        p.error(f"not installed: {', '.join(missing)} (pip install {' '.join(missing)})")
    frameworks = [f for f in args.frameworks.split(",") if f]
    wanted = [s for s in args.scenarios.split(",") if s]
    scs = [sc for sc in harness.scenarios() if sc.name in wanted]
    use_wrk = args.loader == "wrk" or (args.loader == "auto" and shutil.which("wrk") is not None)
    load = run_wrk if use_wrk else run_pyload
    versions = harness.verify_packages()
    meta: dict[str, Any] = {
        "servers": server_names,
        "uvicorn": versions.get("uvicorn"),
        "granian": server_version("granian"),
        "loader": "wrk" if use_wrk else "a Python asyncio load generator",
        "connections": args.connections,
        "duration": args.duration,
        "reps": args.reps,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_start": os.getloadavg()[0],
    }

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    skips: dict[str, dict[str, str]] = {}
    for fw in frameworks:
        try:
            skips[fw] = harness.skip_reasons(fw)
        except Exception:  # noqa: BLE001 - the server start reports the import failure itself
            skips[fw] = {}
    # cells[server][scenario][framework]
    cells: dict[str, dict[str, dict[str, Server]]] = {name: {} for name in server_names}
    try:
        for name in server_names:
            for sc in scs:
                cells[name][sc.name] = {}
                for fw in frameworks:
                    s = Server(fw, sc, name)
                    cells[name][sc.name][fw] = s
                    if fw == "raw" and not sc.raw:
                        s.error = "n/a"
                        continue
                    if sc.name in skips[fw]:
                        s.error = "n/a"
                        s.skipped = skips[fw][sc.name]
                        continue
                    s.start()
        for name in server_names:
            for sc in scs:
                for fw in frameworks:
                    s = cells[name][sc.name][fw]
                    if s.error:
                        continue
                    try:
                        s.wait_ready()
                        s.check()
                        if sc.method != "GET":
                            raise RuntimeError("the end-to-end mode only loads GET scenarios")
                        load(s.url, 1.0, args.connections, s.headers)  # warm-up
                    except Exception as exc:  # noqa: BLE001 - reported in the table
                        s.error = harness.short_error(exc)
                        log(f"  ! {name}/{sc.name}/{fw}: {s.error}")
                        s.stop()
        for rep in range(args.reps):
            for sc in scs:
                order = frameworks[rep % len(frameworks) :] + frameworks[: rep % len(frameworks)]
                names = server_names[rep % len(server_names) :] + server_names[: rep % len(server_names)]
                for fw in order:
                    for name in names:
                        s = cells[name][sc.name][fw]
                        if s.error:
                            continue
                        try:
                            cpu0 = s.cpu_seconds()
                            rps, p99, bad, total = load(s.url, args.duration, args.connections, s.headers)
                            cpu = s.cpu_seconds() - cpu0
                            if bad:
                                raise RuntimeError(f"{bad} bad responses or timeouts")
                            s.rps.append(rps)
                            s.p99.append(p99)
                            if total and cpu == cpu:
                                s.cpu_us.append(cpu / total * 1e6)
                            log(
                                f"  rep {rep + 1} {name:8s} {sc.name:10s} {fw:10s} {rps:10,.0f} req/s"
                                f"  p99 {p99 * 1e3:6.2f} ms  server CPU "
                                f"{s.cpu_us[-1] if s.cpu_us else float('nan'):6.1f} µs/req"
                            )
                        except Exception as exc:  # noqa: BLE001
                            s.error = harness.short_error(exc)
                            log(f"  ! {name}/{sc.name}/{fw}: {s.error}")
    finally:
        for per_server in cells.values():
            for row in per_server.values():
                for s in row.values():
                    s.stop()
    for per_server in cells.values():
        for row in per_server.values():
            for s in row.values():
                if s.error == "n/a":
                    s.error = None
    meta["load_end"] = os.getloadavg()[0]
    for name in server_names:
        text = render(cells[name], frameworks, scs, meta, name)
        if name != "uvicorn" and "uvicorn" in server_names:
            text += render_comparison(cells, frameworks, scs, "uvicorn", name)
        print(text)
        if not args.no_write:
            RESULTS.mkdir(parents=True, exist_ok=True)
            result_file(name, args.quick).write_text(text)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--_pyload":
        _pyload_main(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        sys.exit(0)
    sys.exit(main())
