"""SessionMiddleware: Starlette-compatible signed cookies, safe loading, clear errors."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import itsdangerous
import pytest

from lyre.applications import Lyre
from lyre.datastructures import Secret
from lyre.middleware import Middleware
from lyre.middleware.sessions import Session, SessionMiddleware
from lyre.requests import Request
from lyre.responses import JSONResponse, PlainTextResponse, Response
from lyre.routing import Route, WebSocketRoute
from lyre.testclient import TestClient
from lyre.websockets import WebSocket

# Cookies issued by Starlette 1.10.0's SessionMiddleware (secret "k"), recorded with
# tests/test_sessions_compat.py run against a real Starlette install.
STARLETTE_COOKIE_USER_BO = "eyJ1c2VyIjogImJvIn0=.awcePQ.hVrSuz_MAZEdB2qI2V90SNyXcy4"
STARLETTE_COOKIE_NESTED = (
    "eyJ1c2VyIjogImJvIiwgIm4iOiBbMSwgMiwgeyJ4IjogIlx1MDBlOSJ9XX0=.awceNw.tw5hUQE344ivczFsl0l9Uli3dfU"
)

COOKIE_RE = r"(?P<value>[A-Za-z0-9+/=]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)"


async def login(request: Request) -> Response:
    request.session["user"] = "bo"
    return PlainTextResponse("in")


async def logout(request: Request) -> Response:
    request.session.clear()
    return PlainTextResponse("out")


async def whoami(request: Request) -> Response:
    return JSONResponse({"user": request.session.get("user"), "session": dict(request.session)})


async def untouched(request: Request) -> Response:
    return PlainTextResponse("x")


class Unserialisable:
    pass


async def store_object(request: Request) -> Response:
    request.session["ok"] = 1
    request.session["obj"] = Unserialisable()
    return PlainTextResponse("never sent")


async def store_big(request: Request) -> Response:
    request.session["blob"] = "x" * int(request.query_params["n"])
    return PlainTextResponse("stored")


def make_app(**options: Any) -> Lyre:
    options.setdefault("secret_key", "k")
    return Lyre(
        routes=[
            Route("/login", login),
            Route("/logout", logout),
            Route("/whoami", whoami),
            Route("/untouched", untouched),
            Route("/object", store_object),
            Route("/big", store_big),
        ],
        middleware=[Middleware(SessionMiddleware, **options)],
    )


def sign(payload: bytes, secret: str = "k", timestamp: int | None = None) -> str:
    class Signer(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) if timestamp is None else timestamp

    return Signer(secret).sign(payload).decode()


def cookie_for(data: Any, secret: str = "k") -> str:
    return sign(base64.b64encode(json.dumps(data).encode()), secret)


# -- cheat-sheet item 10 ---------------------------------------------------------------------------


def test_cheatsheet_item_10_login_roundtrip() -> None:
    client = TestClient(make_app())
    assert client.get("/whoami").json()["user"] is None
    assert client.get("/login").text == "in"
    assert client.get("/whoami").json()["user"] == "bo"


def test_cheatsheet_item_10_unserialisable_value_is_a_500_naming_the_key() -> None:
    with pytest.raises(TypeError, match=r"Session value for key 'obj' \(Unserialisable\)"):
        TestClient(make_app()).get("/object")
    response = TestClient(make_app(), raise_server_exceptions=False).get("/object")
    assert response.status_code == 500
    assert "set-cookie" not in response.headers


# -- cookie format ---------------------------------------------------------------------------------


def test_default_cookie_format_matches_starlette() -> None:
    response = TestClient(make_app()).get("/login")
    header = response.headers["set-cookie"]
    match = re.fullmatch(
        rf"session={COOKIE_RE}; path=/; Max-Age=1209600; httponly; samesite=lax",
        header,
    )
    assert match is not None, header
    value = match.group("value")
    assert value.startswith("eyJ1c2VyIjogImJvIn0=.")  # base64 of '{"user": "bo"}'
    # It is an itsdangerous TimestampSigner value over base64 JSON.
    payload = itsdangerous.TimestampSigner("k").unsign(value, max_age=60)
    assert json.loads(base64.b64decode(payload)) == {"user": "bo"}
    assert response.headers["vary"] == "Cookie"


def test_cookie_options() -> None:
    app = make_app(
        session_cookie="sid",
        max_age=None,
        path="/",
        same_site="strict",
        https_only=True,
        domain="ex.com",
        partitioned=True,
    )
    header = TestClient(app, base_url="https://testserver").get("/login").headers["set-cookie"]
    assert re.fullmatch(
        rf"sid={COOKIE_RE}; path=/; httponly; samesite=strict; secure; domain=ex.com; partitioned", header
    ), header


def test_max_age_zero_is_rendered() -> None:
    header = TestClient(make_app(max_age=0)).get("/login").headers["set-cookie"]
    assert "; path=/; Max-Age=0; httponly; samesite=lax" in header


def test_secret_object_as_key() -> None:
    client = TestClient(make_app(secret_key=Secret("k")))
    client.get("/login")
    assert client.get("/whoami").json()["user"] == "bo"


# -- compatibility with cookies issued by Starlette -----------------------------------------------


def test_reads_cookies_issued_by_starlette() -> None:
    client = TestClient(make_app(max_age=None))
    response = client.get("/whoami", headers={"cookie": f"session={STARLETTE_COOKIE_USER_BO}"})
    assert response.json()["session"] == {"user": "bo"}
    response = client.get("/whoami", headers={"cookie": f"session={STARLETTE_COOKIE_NESTED}"})
    assert response.json()["session"] == {"user": "bo", "n": [1, 2, {"x": "é"}]}


def test_issues_the_same_value_as_starlette_for_the_same_data_and_second() -> None:
    # Same JSON text, same base64, same signer: only the timestamp differs between runs.
    value = cookie_for({"user": "bo"})
    assert value.split(".")[0] == STARLETTE_COOKIE_USER_BO.split(".")[0]


# -- sending rules ---------------------------------------------------------------------------------


def test_read_only_access_adds_vary_but_no_cookie() -> None:
    client = TestClient(make_app())
    client.get("/login")
    response = client.get("/whoami")
    assert response.headers["vary"] == "Cookie"
    assert "set-cookie" not in response.headers  # no sliding refresh


def test_untouched_session_adds_nothing() -> None:
    client = TestClient(make_app())
    client.get("/login")
    response = client.get("/untouched")
    assert "vary" not in response.headers
    assert "set-cookie" not in response.headers


def test_clearing_a_session_expires_the_cookie() -> None:
    client = TestClient(make_app())
    client.get("/login")
    response = client.get("/logout")
    assert response.headers["set-cookie"] == (
        "session=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly; samesite=lax"
    )
    assert client.get("/whoami").json()["user"] is None


def test_clearing_without_a_session_sends_no_cookie() -> None:
    response = TestClient(make_app()).get("/logout")
    assert "set-cookie" not in response.headers
    assert response.headers["vary"] == "Cookie"


def test_vary_is_merged_with_an_existing_value() -> None:
    async def endpoint(request: Request) -> Response:
        request.session.get("x")
        return PlainTextResponse("x", headers={"vary": "Accept-Encoding"})

    app = Lyre(routes=[Route("/", endpoint)], middleware=[Middleware(SessionMiddleware, secret_key="k")])
    assert TestClient(app).get("/").headers["vary"] == "Accept-Encoding, Cookie"


def test_reused_response_object_does_not_accumulate_cookies() -> None:
    shared = PlainTextResponse("shared")

    async def endpoint(request: Request) -> Response:
        request.session["n"] = request.session.get("n", 0) + 1
        return shared

    app = Lyre(routes=[Route("/", endpoint)], middleware=[Middleware(SessionMiddleware, secret_key="k")])
    client = TestClient(app)
    client.get("/")
    second = client.get("/")
    assert len(second.headers.get_list("set-cookie")) == 1
    assert shared.raw_headers == PlainTextResponse("shared").raw_headers


# -- bad cookies give an empty session -------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(cookie_for({"user": "bo"})[:-2] + "xx", id="tampered-signature"),
        pytest.param(cookie_for({"user": "bo"}, secret="other"), id="foreign-key"),
        pytest.param(
            sign(base64.b64encode(b'{"user": "bo"}'), timestamp=int(time.time()) - 3600), id="expired"
        ),
        pytest.param(sign(base64.b64encode(b"[1, 2]")), id="json-array"),
        pytest.param(sign(base64.b64encode(b'"text"')), id="json-string"),
        pytest.param(sign(base64.b64encode(b"{not json")), id="not-json"),
        pytest.param(sign(base64.b64encode(b"\xff\xfe")), id="not-utf8"),
        pytest.param(sign(b"%%%not-base64%%%"), id="not-base64"),
        pytest.param("garbage", id="garbage"),
        pytest.param("", id="empty"),
    ],
)
def test_invalid_cookie_gives_an_empty_session(value: str) -> None:
    client = TestClient(make_app(max_age=60))
    response = client.get("/whoami", headers={"cookie": f"session={value}"})
    assert response.status_code == 200
    assert response.json() == {"user": None, "session": {}}
    assert "set-cookie" not in response.headers


def test_invalid_cookie_then_login_replaces_it() -> None:
    client = TestClient(make_app())
    response = client.get("/login", headers={"cookie": "session=garbage"})
    assert response.headers["set-cookie"].startswith("session=eyJ1c2VyIjogImJvIn0=.")


def test_other_cookies_are_ignored() -> None:
    client = TestClient(make_app(max_age=None))
    cookie = f"theme=dark; session={STARLETTE_COOKIE_USER_BO}; lang=en"
    assert client.get("/whoami", headers={"cookie": cookie}).json()["user"] == "bo"


# -- oversized cookies ----------------------------------------------------------------------------


def test_cookie_over_4kb_is_an_error_with_the_size() -> None:
    client = TestClient(make_app())
    assert client.get("/big", params={"n": "2000"}).status_code == 200
    with pytest.raises(
        ValueError, match=r"The session cookie 'session' would be \d+ bytes, over the 4096-byte"
    ):
        client.get("/big", params={"n": "4000"})
    response = TestClient(make_app(), raise_server_exceptions=False).get("/big", params={"n": "4000"})
    assert response.status_code == 500
    assert "set-cookie" not in response.headers


# -- the Session mapping ---------------------------------------------------------------------------


def test_session_tracks_access_and_modification() -> None:
    session = Session({"a": 1, "b": 2})
    assert (session.accessed, session.modified) == (False, False)
    session.mark_accessed()
    assert (session.accessed, session.modified) == (True, False)
    assert session.pop("missing", None) is None
    assert session.setdefault("a", 5) == 1
    assert session.modified is False
    assert session.pop("a") == 1
    assert session.modified is True

    for mutate in (
        lambda s: s.__setitem__("x", 1),
        lambda s: s.__delitem__("b"),
        lambda s: s.clear(),
        lambda s: s.update({"y": 1}),
        lambda s: s.popitem(),
        lambda s: s.setdefault("new", 1),
    ):
        fresh = Session({"b": 2})
        mutate(fresh)
        assert (fresh.accessed, fresh.modified) == (True, True)

    merged = Session({"b": 2})
    merged |= {"c": 3}
    assert isinstance(merged, Session)
    assert merged == {"b": 2, "c": 3}
    assert merged.modified is True


def test_websocket_gets_the_session_but_no_cookie_write() -> None:
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json(dict(websocket.session))
        websocket.session["changed"] = True
        await websocket.close()

    app = Lyre(
        routes=[WebSocketRoute("/ws", ws)],
        middleware=[Middleware(SessionMiddleware, secret_key="k", max_age=None)],
    )
    client = TestClient(app)
    with client.websocket_connect(
        "/ws", headers={"cookie": f"session={STARLETTE_COOKIE_USER_BO}"}
    ) as session:
        assert session.receive_json() == {"user": "bo"}


# -- the signer is byte-identical to itsdangerous --------------------------------------------------


@pytest.mark.parametrize("secret", ["k", "a much longer secret key with ünïcode", ""])
@pytest.mark.parametrize("timestamp", [0, 1, 255, 256, 1_700_000_000, 2**40])
def test_signer_matches_itsdangerous(secret: str, timestamp: int) -> None:
    from lyre.middleware.sessions import _TimestampSigner

    class Fixed(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return timestamp

    ours = _TimestampSigner(secret)
    value = b"eyJ1c2VyIjogImJvIn0="
    signed = ours.sign(value, timestamp)
    assert signed == Fixed(secret).sign(value)
    assert ours.unsign(signed, None, timestamp) == value
    assert ours.unsign(signed, 10, timestamp + 10) == value
    assert ours.unsign(signed, 10, timestamp + 11) is None  # expired
    assert ours.unsign(signed, 10, timestamp - 1) is None  # from the future
    head, _, signature = signed.rpartition(b".")
    tampered = head + b"." + (b"A" if signature[:1] != b"A" else b"B") + signature[1:]
    assert ours.unsign(tampered, None, timestamp) is None
    assert ours.unsign(head + b"x." + signature, None, timestamp) is None
    assert ours.unsign(b"no-separators", None, timestamp) is None


def test_signer_accepts_exactly_the_tampered_values_itsdangerous_accepts() -> None:
    """Every one-character change of a signed value, judged by our signer and by itsdangerous.

    Both must agree on each (base64's unused low bits and lenient decoding let a few spellings of
    one signature verify in both; everything else is refused by both).
    """
    from lyre.middleware.sessions import _TimestampSigner

    ours, theirs = _TimestampSigner("k"), itsdangerous.TimestampSigner("k")
    now = int(time.time())
    accepted = 0
    for payload in (b"eyJ1c2VyIjogImJvIn0=", b"ab+/cd==", b"x"):
        signed = ours.sign(payload, now)
        for at in range(len(signed)):
            for char in b"AZaz09._-=+/!~ ":
                tampered = signed[:at] + bytes([char]) + signed[at + 1 :]
                if tampered == signed:
                    continue
                try:
                    expected: bytes | None = theirs.unsign(tampered, max_age=60)
                except itsdangerous.BadData:
                    expected = None
                assert ours.unsign(tampered, 60, now) == expected, tampered
                if expected is not None:
                    assert expected == payload
                    accepted += 1
    assert accepted < 30  # only spellings of the same signature, a handful per value


def test_a_replaced_signer_is_honoured() -> None:
    middleware = SessionMiddleware(untouched, secret_key="k")  # type: ignore[arg-type]
    middleware.signer = itsdangerous.TimestampSigner("k", salt="custom")
    value = middleware._cookie_line({"a": 1}).decode().split(";")[0].split("=", 1)[1]
    assert itsdangerous.TimestampSigner("k", salt="custom").unsign(value)
