"""Authentication: backends, users, requires(), AuthenticationMiddleware."""

from __future__ import annotations

from typing import Any

import pytest

from lyre.applications import Lyre
from lyre.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
    SimpleUser,
    UnauthenticatedUser,
    has_required_scope,
    requires,
)
from lyre.endpoints import HTTPEndpoint
from lyre.middleware import Middleware
from lyre.middleware.authentication import AuthenticationMiddleware
from lyre.requests import HTTPConnection, Request
from lyre.responses import JSONResponse, PlainTextResponse, Response
from lyre.routing import Route, WebSocketRoute
from lyre.testclient import TestClient
from lyre.websockets import WebSocket, WebSocketDisconnect


class HeaderBackend(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        auth = conn.headers.get("authorization")
        if auth is None:
            return None
        if auth == "bad":
            raise AuthenticationError("Invalid creds")
        scopes = ["authenticated"] + (["admin"] if auth == "admin" else [])
        return AuthCredentials(scopes), SimpleUser(auth)


async def whoami(request: Request) -> Response:
    return JSONResponse(
        {
            "authenticated": request.user.is_authenticated,
            "name": request.user.display_name,
            "identity": request.user.identity,
            "scopes": request.auth.scopes,
        }
    )


@requires("authenticated")
async def private(request: Request) -> Response:
    return PlainTextResponse("secret")


@requires(["authenticated", "admin"], status_code=404)
def admin(request: Request) -> Response:
    return PlainTextResponse("admin area")


@requires("authenticated", redirect="login")
async def needs_login(request: Request) -> Response:
    return PlainTextResponse("welcome")


async def login(request: Request) -> Response:
    return PlainTextResponse("login page")


class Dashboard(HTTPEndpoint):
    @requires("authenticated")
    async def get(self, request: Request) -> Response:
        return PlainTextResponse("dashboard")


@requires("authenticated")
async def ws_private(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(websocket.user.display_name)
    await websocket.close()


def make_client(**options: Any) -> TestClient:
    app = Lyre(
        routes=[
            Route("/whoami", whoami),
            Route("/private", private),
            Route("/admin", admin),
            Route("/r", needs_login),
            Route("/login", login, name="login"),
            Route("/dashboard", Dashboard),
            WebSocketRoute("/ws", ws_private),
        ],
        middleware=[Middleware(AuthenticationMiddleware, backend=HeaderBackend(), **options)],
    )
    return TestClient(app)


def test_anonymous_user() -> None:
    assert make_client().get("/whoami").json() == {
        "authenticated": False,
        "name": "",
        "identity": "",
        "scopes": [],
    }


def test_authenticated_user() -> None:
    response = make_client().get("/whoami", headers={"authorization": "bo"})
    assert response.json() == {
        "authenticated": True,
        "name": "bo",
        "identity": "bo",
        "scopes": ["authenticated"],
    }


def test_requires() -> None:
    client = make_client()
    assert (client.get("/private").status_code, client.get("/private").text) == (403, "Forbidden")
    assert client.get("/private", headers={"authorization": "bo"}).text == "secret"
    assert client.get("/admin", headers={"authorization": "bo"}).status_code == 404
    assert client.get("/admin", headers={"authorization": "admin"}).text == "admin area"
    assert client.get("/dashboard").status_code == 403
    assert client.get("/dashboard", headers={"authorization": "bo"}).text == "dashboard"


def test_requires_redirect_to_route_name_with_next() -> None:
    response = make_client().get("/r?x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "http://testserver/login?next=http%3A%2F%2Ftestserver%2Fr%3Fx%3D1"


def test_authentication_error_uses_on_error() -> None:
    response = make_client().get("/whoami", headers={"authorization": "bad"})
    assert (response.status_code, response.text) == (400, "Invalid creds")

    def on_error(conn: HTTPConnection, exc: AuthenticationError) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=401)

    response = make_client(on_error=on_error).get("/whoami", headers={"authorization": "bad"})
    assert (response.status_code, response.json()) == (401, {"error": "Invalid creds"})


def test_websocket_requires() -> None:
    client = make_client()
    with client.websocket_connect("/ws", headers={"authorization": "bo"}) as session:
        assert session.receive_text() == "bo"
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws") as session:
        session.receive_text()
    assert info.value.code == 1000


def test_websocket_authentication_error_closes() -> None:
    with (
        pytest.raises(WebSocketDisconnect) as info,
        make_client().websocket_connect("/ws", headers={"authorization": "bad"}) as session,
    ):
        session.receive_text()
    assert info.value.code == 1000


def test_requires_needs_a_request_or_websocket_parameter() -> None:
    def no_request(x: int) -> None:
        pass  # pragma: no cover

    with pytest.raises(Exception, match=r'^No "request" or "websocket" argument on function "<function'):  # noqa: PT011
        requires("a")(no_request)


def test_requires_checks_the_argument_type() -> None:
    @requires("a")
    def endpoint(request: Request) -> None:
        pass  # pragma: no cover

    with pytest.raises(
        AssertionError, match=r"^Parameter with name 'request' is required to be of type 'Request' not 'str'$"
    ):
        endpoint("x")  # type: ignore[arg-type]
    assert endpoint.__name__ == "endpoint"


def test_users_and_credentials() -> None:
    assert AuthCredentials().scopes == []
    scopes = ("a", "b")
    credentials = AuthCredentials(scopes)
    assert credentials.scopes == ["a", "b"]
    user = SimpleUser("bo")
    assert (user.username, user.is_authenticated, user.display_name, user.identity) == (
        "bo",
        True,
        "bo",
        "bo",
    )
    anonymous = UnauthenticatedUser()
    assert (anonymous.is_authenticated, anonymous.display_name, anonymous.identity) == (False, "", "")
    conn = HTTPConnection({"type": "http", "auth": credentials, "headers": []})
    assert has_required_scope(conn, ["a"])
    assert has_required_scope(conn, ["a", "b"])
    assert not has_required_scope(conn, ["a", "c"])


def test_default_on_error_is_a_static_method() -> None:
    response = AuthenticationMiddleware.default_on_error(HTTPConnection({"type": "http"}), Exception("nope"))
    assert (response.status_code, response.body) == (400, b"nope")
