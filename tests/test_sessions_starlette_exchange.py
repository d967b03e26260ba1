"""Live session-cookie exchange between Starlette 1.10.0 and lyre (a script, not a pytest module).

Starlette is used strictly as a black box. Run it in the separate compat virtualenv:

    python3 -m venv .venv-compat && .venv-compat/bin/pip install starlette==1.10.0 itsdangerous httpx2
    PYTHONPATH=. .venv-compat/bin/python tests/test_sessions_starlette_exchange.py

It fails loudly (AssertionError) when a cookie issued by one framework is not read back by the
other, or when the Set-Cookie headers differ beyond the timestamp/signature. The recorded cookies in
tests/test_sessions.py come from this script. Pytest collects no tests here.
"""

from __future__ import annotations

import re
from typing import Any


def exchange() -> None:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware as SMiddleware
    from starlette.middleware.sessions import SessionMiddleware as SSessionMiddleware
    from starlette.responses import JSONResponse as SJSONResponse
    from starlette.routing import Route as SRoute
    from starlette.testclient import TestClient as STestClient

    from lyre.applications import Lyre
    from lyre.middleware import Middleware
    from lyre.middleware.sessions import SessionMiddleware
    from lyre.responses import JSONResponse
    from lyre.routing import Route
    from lyre.testclient import TestClient

    data = {"user": "bo", "n": [1, 2, {"x": "é"}]}

    def endpoints(response_class: Any) -> tuple[Any, Any, Any]:
        async def set_(request: Any) -> Any:
            request.session.update(data)
            return response_class({})

        async def get(request: Any) -> Any:
            return response_class(dict(request.session))

        async def clear(request: Any) -> Any:
            request.session.clear()
            return response_class({})

        return set_, get, clear

    options: list[dict[str, Any]] = [
        {},
        {
            "session_cookie": "sid",
            "max_age": None,
            "path": "/",
            "same_site": "strict",
            "https_only": True,
            "domain": "testserver",
        },
    ]
    for kw in options:
        s_set, s_get, s_clear = endpoints(SJSONResponse)
        l_set, l_get, l_clear = endpoints(JSONResponse)
        s_app = Starlette(
            routes=[SRoute("/set", s_set), SRoute("/get", s_get), SRoute("/clear", s_clear)],
            middleware=[SMiddleware(SSessionMiddleware, secret_key="k", **kw)],
        )
        l_app = Lyre(
            routes=[Route("/set", l_set), Route("/get", l_get), Route("/clear", l_clear)],
            middleware=[Middleware(SessionMiddleware, secret_key="k", **kw)],
        )
        s_client = STestClient(s_app, base_url="https://testserver")
        l_client = TestClient(l_app, base_url="https://testserver")
        name = kw.get("session_cookie", "session")

        s_resp, l_resp = s_client.get("/set"), l_client.get("/set")
        s_header, l_header = s_resp.headers["set-cookie"], l_resp.headers["set-cookie"]
        print("starlette:", s_header)
        print("lyre:     ", l_header)
        strip = re.compile(r"\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+;")
        assert strip.sub(".TS.SIG;", s_header) == strip.sub(".TS.SIG;", l_header)
        assert s_resp.headers.get("vary") == l_resp.headers.get("vary")

        s_cookie = s_header.split(";")[0].split("=", 1)[1]
        l_cookie = l_header.split(";")[0].split("=", 1)[1]
        assert l_client.get("/get", headers={"cookie": f"{name}={s_cookie}"}).json() == data
        assert s_client.get("/get", headers={"cookie": f"{name}={l_cookie}"}).json() == data

        s_clear_resp = s_client.get("/clear", headers={"cookie": f"{name}={s_cookie}"})
        l_clear_resp = l_client.get("/clear", headers={"cookie": f"{name}={l_cookie}"})
        assert s_clear_resp.headers["set-cookie"] == l_clear_resp.headers["set-cookie"]
    print("OK: cookies are exchanged both ways")


if __name__ == "__main__":
    exchange()
