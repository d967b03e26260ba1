"""The app of test_e2e_sessions.py: server-side sessions behind ``lyre run --workers 2``.

``LYRE_E2E_SESSION_STORE`` picks the store: ``redis:<redis:// URL>`` or ``file:<directory>``. Every
answer names the worker process (``os.getpid()``) that produced it.
"""

from __future__ import annotations

import os

from lyre.applications import Lyre
from lyre.middleware import Middleware
from lyre.middleware.sessions import SessionMiddleware
from lyre.requests import Request
from lyre.responses import JSONResponse, Response
from lyre.routing import Route
from lyre.sessions import FileStore, RedisStore, SessionStore


def _store() -> SessionStore:
    kind, _, where = os.environ["LYRE_E2E_SESSION_STORE"].partition(":")
    return RedisStore(where) if kind == "redis" else FileStore(where)


async def put(request: Request) -> Response:
    request.session.update(request.query_params)
    return JSONResponse({"pid": os.getpid()})


async def read(request: Request) -> Response:
    return JSONResponse({"pid": os.getpid(), "session": dict(request.session)})


app = Lyre(
    routes=[Route("/put", put), Route("/read", read)],
    middleware=[Middleware(SessionMiddleware, secret_key="e2e-session-secret", store=_store())],
)
