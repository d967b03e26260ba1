"""Serve one benchmark app on 127.0.0.1 under uvicorn or granian, one worker, for ``bench/e2e.py``.

    python bench/serve.py FRAMEWORK SCENARIO PORT [uvicorn|granian]

* **uvicorn** (the default): ``--http httptools --loop uvloop``, one worker, access log off,
  lifespan ``auto``; everything runs in this one process.
* **granian**: its ``asgi`` interface (with lifespan), HTTP/1.1 only (``--http 1``: no HTTP/2
  sniffing; wrk speaks HTTP/1.1), uvloop, one worker, one Rust runtime thread (``--runtime-threads
  1``, runtime mode left on granian's default for ASGI), WebSockets on (as uvicorn has them),
  access log off. granian always runs the application in a worker *process* under a small
  supervisor process, so the server CPU time of a granian cell is that of the whole process tree.

Used by ``bench/e2e.py``; handy by hand too (then load it with wrk or curl).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SERVERS = ("uvicorn", "granian")


def load_app(target: str) -> Any:
    """The ASGI app for ``"FRAMEWORK:SCENARIO"`` (granian calls this in its worker process)."""
    from bench.harness import load_factories

    framework, _, scenario = target.partition(":")
    return load_factories(framework)[scenario]()


def serve_uvicorn(framework: str, scenario: str, port: int) -> None:
    import uvicorn

    uvicorn.run(
        load_app(f"{framework}:{scenario}"),
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        workers=1,
        log_level="warning",
        access_log=False,
        lifespan="auto",
        # Every app here is ASGI 3. Said explicitly because uvicorn guesses the version from the
        # callable's signature, and Emmett's App.__call__ (a plain method returning an awaitable)
        # would be taken for ASGI 2.
        interface="asgi3",
    )


def serve_granian(framework: str, scenario: str, port: int) -> None:
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server

    # Fail here, in one clear line, rather than in the worker process: the harness reads the last
    # line of stderr when a server exits early.
    load_app(f"{framework}:{scenario}")
    server = Server(
        f"{framework}:{scenario}",
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        workers=1,
        runtime_threads=1,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=True,
        log_level=LogLevels.warning,
        log_access=False,
    )
    # The worker builds the app through load_app instead of importing a "module:attr" string.
    server.serve(target_loader=load_app)


def main() -> None:
    framework, scenario, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    server = sys.argv[4] if len(sys.argv) > 4 else "uvicorn"
    if server not in SERVERS:
        raise SystemExit(f"unknown server {server!r}: expected one of {', '.join(SERVERS)}")
    if server == "granian":
        serve_granian(framework, scenario, port)
    else:
        serve_uvicorn(framework, scenario, port)


if __name__ == "__main__":
    main()
