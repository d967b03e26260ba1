"""Serve one benchmark app under uvicorn (httptools + uvloop, one worker) on 127.0.0.1.

    python bench/serve.py FRAMEWORK SCENARIO PORT

Used by ``bench/e2e.py``; handy by hand too (then load it with wrk or curl).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    framework, scenario, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    import uvicorn

    from bench.harness import load_factories

    app = load_factories(framework)[scenario]()
    uvicorn.run(
        app,
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


if __name__ == "__main__":
    main()
