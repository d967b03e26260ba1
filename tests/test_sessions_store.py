"""Server-side sessions: SessionMiddleware(store=...) with MemoryStore, FileStore and a real Redis.

The behavioural tests run against every store (parametrized), on asyncio and trio. Redis is a
``redis-server`` started for the test session (tests/_redis_server.py), never a mock.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import itsdangerous
import pytest
import redis

from lyre.applications import Lyre
from lyre.middleware import Middleware
from lyre.middleware.sessions import SessionMiddleware
from lyre.requests import Request
from lyre.responses import JSONResponse, PlainTextResponse, Response
from lyre.routing import Route, WebSocketRoute
from lyre.sessions import (
    FileStore,
    MemoryStore,
    RedisStore,
    SessionStore,
    SessionStoreUnavailable,
    new_session_id,
    rotate,
)
from lyre.testclient import TestClient
from lyre.types import Message
from lyre.websockets import WebSocket
from tests._redis_server import free_port

REPO = Path(__file__).resolve().parents[1]
SECRET = "store-secret"
ID_COOKIE_RE = re.compile(
    r"^session=([A-Za-z0-9_-]{43})\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+; path=/; Max-Age=\d+; "
)


class CountingStore(SessionStore):
    """Wraps a store and counts the calls, to assert what the middleware did (not a fake store)."""

    def __init__(self, inner: SessionStore) -> None:
        self.inner = inner
        self.calls: list[str] = []

    async def load(self, session_id: str) -> dict[str, Any] | None:
        self.calls.append("load")
        return await self.inner.load(session_id)

    async def save(self, session_id: str, data: dict[str, Any], max_age: int) -> None:
        self.calls.append("save")
        await self.inner.save(session_id, data, max_age)

    async def delete(self, session_id: str) -> None:
        self.calls.append("delete")
        await self.inner.delete(session_id)


@pytest.fixture(params=["memory", "file", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SessionStore]:
    made: SessionStore
    if request.param == "memory":
        made = MemoryStore()
    elif request.param == "file":
        made = FileStore(tmp_path / "sessions")
    else:
        url = request.getfixturevalue("redis_url")
        made = RedisStore(url, prefix=f"test:{uuid.uuid4().hex}:")
    yield made
    await made.aclose()


async def login(request: Request) -> Response:
    request.session["user"] = request.query_params.get("user", "bo")
    rotate(request)
    return PlainTextResponse("in")


async def put(request: Request) -> Response:
    request.session.update(request.query_params)
    return PlainTextResponse("stored")


async def whoami(request: Request) -> Response:
    return JSONResponse(dict(request.session))


async def logout(request: Request) -> Response:
    request.session.clear()
    return PlainTextResponse("out")


async def untouched(request: Request) -> Response:
    return PlainTextResponse("x")


async def store_object(request: Request) -> Response:
    request.session["obj"] = object()
    return PlainTextResponse("never sent")


async def ws_session(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(dict(websocket.session))
    websocket.session["written"] = "by websocket"  # not saved: websockets get the session read-only
    await websocket.close()


def make_app(store: SessionStore, **options: Any) -> Lyre:
    return Lyre(
        routes=[
            Route("/login", login),
            Route("/put", put),
            Route("/whoami", whoami),
            Route("/logout", logout),
            Route("/untouched", untouched),
            Route("/object", store_object),
            WebSocketRoute("/ws", ws_session),
        ],
        middleware=[Middleware(SessionMiddleware, secret_key=SECRET, store=store, **options)],
    )


def client_for(app: Lyre) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def session_id_of(response: httpx.Response) -> str:
    match = ID_COOKIE_RE.match(response.headers["set-cookie"])
    assert match, response.headers["set-cookie"]
    return match.group(1)


def signed_cookie(session_id: str) -> str:
    return itsdangerous.TimestampSigner(SECRET).sign(session_id).decode()


# -- the stores themselves ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_store_round_trip_and_delete(store: SessionStore) -> None:
    session_id = new_session_id()
    assert await store.load(session_id) is None
    await store.save(session_id, {"user": "bo", "n": [1, 2, {"é": None}]}, 60)
    assert await store.load(session_id) == {"user": "bo", "n": [1, 2, {"é": None}]}
    await store.save(session_id, {"user": "al"}, 60)  # a save replaces, never merges
    assert await store.load(session_id) == {"user": "al"}
    await store.delete(session_id)
    assert await store.load(session_id) is None
    await store.delete(session_id)  # deleting an unknown id is fine


@pytest.mark.anyio
async def test_store_copies_the_data(store: SessionStore) -> None:
    session_id = new_session_id()
    data: dict[str, Any] = {"items": [1]}
    await store.save(session_id, data, 60)
    data["items"].append(2)
    loaded = await store.load(session_id)
    assert loaded == {"items": [1]}
    assert loaded is not None
    loaded["items"].append(3)
    assert await store.load(session_id) == {"items": [1]}


@pytest.mark.anyio
async def test_store_honours_expiry(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    session_id = new_session_id()
    await store.save(session_id, {"user": "bo"}, 1)
    assert await store.load(session_id) == {"user": "bo"}
    if isinstance(store, RedisStore):
        await anyio.sleep(1.1)  # Redis' own clock: real time has to pass
    else:
        later = time.time() + 1.5
        monkeypatch.setattr(time, "time", lambda: later)
    assert await store.load(session_id) is None


@pytest.mark.anyio
async def test_store_rejects_values_json_cannot_encode(store: SessionStore) -> None:
    with pytest.raises(TypeError, match="key 'when'.*datetime"):
        import datetime

        await store.save(new_session_id(), {"ok": 1, "when": datetime.datetime.now()}, 60)


def test_session_ids_are_256_random_bits() -> None:
    ids = {new_session_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", session_id) for session_id in ids)


# -- the middleware with a store ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_session_lives_on_the_server_and_the_cookie_holds_only_an_id(store: SessionStore) -> None:
    async with client_for(make_app(store)) as client:
        response = await client.get("/put", params={"secret": "s3cr3t-value"})
        session_id = session_id_of(response)
        assert "s3cr3t" not in response.headers["set-cookie"]
        assert await store.load(session_id) == {"secret": "s3cr3t-value"}
        assert (await client.get("/whoami")).json() == {"secret": "s3cr3t-value"}
        # Later writes keep the id (the cookie is refreshed with it).
        response = await client.get("/put", params={"more": "1"})
        assert session_id_of(response) == session_id
        assert (await client.get("/whoami")).json() == {"secret": "s3cr3t-value", "more": "1"}


@pytest.mark.anyio
async def test_nothing_written_and_no_cookie_for_an_unmodified_session(store: SessionStore) -> None:
    counting = CountingStore(store)
    async with client_for(make_app(counting)) as client:
        response = await client.get("/whoami")  # no session yet: read, not created
        assert response.json() == {}
        assert "set-cookie" not in response.headers
        assert response.headers["vary"] == "Cookie"
        assert counting.calls == []
        await client.get("/put", params={"a": "1"})
        counting.calls.clear()
        response = await client.get("/whoami")
        assert response.json() == {"a": "1"}
        assert "set-cookie" not in response.headers
        response = await client.get("/untouched")
        assert "set-cookie" not in response.headers and "vary" not in response.headers
        assert counting.calls == ["load", "load"]


@pytest.mark.anyio
async def test_tampered_unknown_or_malformed_ids_give_an_empty_session(store: SessionStore) -> None:
    async with client_for(make_app(store)) as client:
        session_id = session_id_of(await client.get("/put", params={"user": "bo"}))
        good = signed_cookie(session_id)
        tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
        other_key = itsdangerous.TimestampSigner("another key").sign(session_id).decode()
        unknown = signed_cookie(new_session_id())
        not_an_id = signed_cookie("../../etc/passwd")
        for value in (tampered, other_key, unknown, not_an_id, "garbage", ""):
            client.cookies.clear()
            client.cookies.set("session", value)
            response = await client.get("/whoami")
            assert response.json() == {}, value
            assert "set-cookie" not in response.headers  # nothing written for a read
        # Writing through an unknown id makes a new one (the client cannot choose its id).
        client.cookies.clear()
        client.cookies.set("session", unknown)
        response = await client.get("/put", params={"x": "1"})
        fresh = session_id_of(response)
        assert fresh not in (session_id, unknown.split(".")[0])
        assert await store.load(unknown.split(".")[0]) is None
        assert await store.load(session_id) == {"user": "bo"}  # the other session is untouched


@pytest.mark.anyio
async def test_rotate_gives_a_new_id_keeps_the_data_and_deletes_the_old_id(store: SessionStore) -> None:
    async with client_for(make_app(store)) as client:
        before = session_id_of(await client.get("/put", params={"cart": "3 items"}))
        response = await client.get("/login", params={"user": "bo"})
        after = session_id_of(response)
        assert after != before
        assert await store.load(before) is None
        assert await store.load(after) == {"cart": "3 items", "user": "bo"}
        assert (await client.get("/whoami")).json() == {"cart": "3 items", "user": "bo"}
        # The planted / stolen pre-log-in id no longer works.
        client.cookies.clear()
        client.cookies.set("session", signed_cookie(before))
        assert (await client.get("/whoami")).json() == {}


@pytest.mark.anyio
async def test_rotate_on_a_new_session_just_creates_it(store: SessionStore) -> None:
    async with client_for(make_app(store)) as client:
        session_id = session_id_of(await client.get("/login", params={"user": "al"}))
        assert await store.load(session_id) == {"user": "al"}


@pytest.mark.anyio
async def test_clearing_deletes_from_the_store_and_expires_the_cookie(store: SessionStore) -> None:
    async with client_for(make_app(store)) as client:
        session_id = session_id_of(await client.get("/put", params={"user": "bo"}))
        response = await client.get("/logout")
        assert response.headers["set-cookie"].startswith("session=null; path=/; expires=Thu, 01 Jan 1970")
        assert await store.load(session_id) is None
        client.cookies.set("session", signed_cookie(session_id))
        assert (await client.get("/whoami")).json() == {}
        # Clearing an absent session sends nothing.
        client.cookies.clear()
        assert "set-cookie" not in (await client.get("/logout")).headers


@pytest.mark.anyio
async def test_max_age_is_enforced_on_the_server(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cookie is still validly signed (max_age one hour) but the server-side entry has expired.
    async with client_for(make_app(store, max_age=3600)) as client:
        session_id = new_session_id()
        await store.save(session_id, {"user": "bo"}, 1)
        client.cookies.set("session", signed_cookie(session_id))
        assert (await client.get("/whoami")).json() == {"user": "bo"}
        if isinstance(store, RedisStore):
            await anyio.sleep(1.1)
        else:
            later = time.time() + 1.5
            monkeypatch.setattr(time, "time", lambda: later)
        response = await client.get("/whoami")
        assert response.json() == {}
        assert "set-cookie" not in response.headers


@pytest.mark.anyio
async def test_an_expired_cookie_signature_gives_an_empty_session(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with client_for(make_app(store, max_age=5)) as client:
        await client.get("/put", params={"user": "bo"})
        later = time.time() + 10
        monkeypatch.setattr(time, "time", lambda: later)
        assert (await client.get("/whoami")).json() == {}


@pytest.mark.anyio
async def test_the_store_gets_max_age_and_max_age_none_keeps_data_two_weeks(store: SessionStore) -> None:
    counting: list[int] = []

    class Recording(CountingStore):
        async def save(self, session_id: str, data: dict[str, Any], max_age: int) -> None:
            counting.append(max_age)
            await super().save(session_id, data, max_age)

    for options, expected in (({"max_age": 120}, 120), ({"max_age": None}, 14 * 24 * 3600)):
        async with client_for(make_app(Recording(store), **options)) as client:
            response = await client.get("/put", params={"a": "1"})
            assert ("Max-Age" in response.headers["set-cookie"]) is (options["max_age"] is not None)
    assert counting == [120, 14 * 24 * 3600]


@pytest.mark.anyio
async def test_a_value_json_cannot_encode_is_a_500_and_nothing_is_stored(store: SessionStore) -> None:
    counting = CountingStore(store)
    async with client_for(make_app(counting)) as client:
        with pytest.raises(TypeError, match="key 'obj'"):
            await client.get("/object")
    assert "save" not in counting.calls


@pytest.mark.anyio
async def test_websockets_read_the_session_but_do_not_save_it(store: SessionStore) -> None:
    app = make_app(store)
    async with client_for(app) as client:
        session_id = session_id_of(await client.get("/put", params={"user": "bo"}))
    sent = await run_websocket(app, f"session={signed_cookie(session_id)}")
    assert json.loads(sent[1]["text"]) == {"user": "bo"}
    assert await store.load(session_id) == {"user": "bo"}


async def run_websocket(app: Lyre, cookie: str, extensions: dict[str, Any] | None = None) -> list[Message]:
    """Drive one websocket connection through the ASGI app; the messages it sent."""
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": "/ws",
        "raw_path": b"/ws",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode())],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
        "subprotocols": [],
        "extensions": extensions or {},
    }
    incoming: list[Message] = [{"type": "websocket.connect"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


# -- an unreachable store: 503, logged ---------------------------------------------------------------


def unreachable_stores(tmp_path: Path) -> list[SessionStore]:
    blocker = tmp_path / "a-regular-file"
    blocker.write_text("not a directory")  # even root cannot make a directory under a regular file
    return [RedisStore(f"redis://127.0.0.1:{free_port()}/0"), FileStore(blocker / "sessions")]


@pytest.mark.anyio
async def test_an_unreachable_store_answers_503_when_writing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for store in unreachable_stores(tmp_path):
        caplog.clear()
        async with client_for(make_app(store)) as client:
            with caplog.at_level(logging.ERROR, logger="lyre.sessions"):
                response = await client.get("/put", params={"a": "1"})
        assert response.status_code == 503, store
        assert response.text == "Service Unavailable: the session store cannot be reached."
        assert "set-cookie" not in response.headers
        [record] = [r for r in caplog.records if r.name == "lyre.sessions"]
        assert record.levelno == logging.ERROR
        assert "unreachable while saving a session, answering 503" in record.getMessage()
        assert repr(store) in record.getMessage()
        await store.aclose()


@pytest.mark.anyio
async def test_an_unreachable_store_answers_503_when_reading(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for store in unreachable_stores(tmp_path):
        caplog.clear()
        async with client_for(make_app(store)) as client:
            client.cookies.set("session", signed_cookie(new_session_id()))
            with caplog.at_level(logging.ERROR, logger="lyre.sessions"):
                response = await client.get("/whoami")
            assert response.status_code == 503, store
            assert "unreachable while loading a session" in caplog.text
            # Without a session cookie the store is not consulted, so pages still work.
            client.cookies.clear()
            assert (await client.get("/untouched")).status_code == 200
        await store.aclose()


@pytest.mark.anyio
async def test_an_unreachable_store_refuses_the_websocket(tmp_path: Path) -> None:
    store = unreachable_stores(tmp_path)[1]
    app = make_app(store)
    cookie = f"session={signed_cookie(new_session_id())}"
    assert await run_websocket(app, cookie) == [
        {"type": "websocket.close", "code": 1011, "reason": "session store unavailable"}
    ]
    sent = await run_websocket(app, cookie, extensions={"websocket.http.response": {}})
    assert sent[0]["type"] == "websocket.http.response.start" and sent[0]["status"] == 503


@pytest.mark.anyio
async def test_unavailable_is_the_error_stores_raise(tmp_path: Path) -> None:
    for store in unreachable_stores(tmp_path):
        with pytest.raises(SessionStoreUnavailable):
            await store.save(new_session_id(), {"a": 1}, 10)
        await store.aclose()


# -- store-specific behaviour ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_file_store_names_files_by_hash_and_writes_atomically(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "nested" / "sessions")
    session_id = new_session_id()
    await store.save(session_id, {"user": "bo"}, 60)
    files = os.listdir(tmp_path / "nested" / "sessions")
    assert files == [hashlib.sha256(session_id.encode()).hexdigest() + ".session"]  # no temp file left
    path = tmp_path / "nested" / "sessions" / files[0]
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["data"] == {"user": "bo"}
    assert abs(path.stat().st_mtime - (time.time() + 60)) < 5  # the mtime is the expiry


@pytest.mark.anyio
async def test_file_store_sweeps_expired_files_a_bounded_batch_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path, sweep_interval=3600, sweep_batch=10)
    for _ in range(30):
        await store.save(new_session_id(), {"a": 1}, 1)
    keep = new_session_id()
    await store.save(keep, {"keep": True}, 3600)
    stale_temp = tmp_path / ".tmp-crashed.session"
    stale_temp.write_text("{")
    os.utime(stale_temp, (time.time() - 7200, time.time() - 7200))
    later = time.time() + 5
    monkeypatch.setattr(time, "time", lambda: later)
    store._next_sweep = 0  # the next save sweeps
    last = new_session_id()
    await store.save(last, {"b": 2}, 3600)
    assert 33 - 10 <= len(os.listdir(tmp_path)) < 33  # one batch of 10 looked at, some expired deleted
    assert await store.sweep() >= 1  # a full sweep on demand
    alive = {hashlib.sha256(i.encode()).hexdigest() + ".session" for i in (keep, last)}
    assert set(os.listdir(tmp_path)) == alive
    assert await store.load(keep) == {"keep": True}


@pytest.mark.anyio
async def test_file_store_treats_a_damaged_file_as_absent(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    session_id = new_session_id()
    await store.save(session_id, {"a": 1}, 60)
    store.path_for(session_id).write_text("{not json")
    assert await store.load(session_id) is None
    store.path_for(session_id).write_text('{"expires": "soon", "data": {}}')
    assert await store.load(session_id) is None


@pytest.mark.anyio
async def test_redis_store_uses_the_prefix_and_redis_expiry(redis_url: str) -> None:
    prefix = f"app1:{uuid.uuid4().hex}:"
    store = RedisStore(redis_url, prefix=prefix)
    session_id = new_session_id()
    await store.save(session_id, {"user": "bo"}, 300)
    direct = redis.Redis.from_url(redis_url)
    try:
        assert json.loads(direct.get(prefix + session_id) or b"") == {"user": "bo"}
        assert 295 <= direct.ttl(prefix + session_id) <= 300
    finally:
        direct.close()
    await store.aclose()


@pytest.mark.anyio
async def test_redis_store_takes_a_client(redis_url: str, anyio_backend: str) -> None:
    import redis.asyncio

    clients: list[Any] = [redis.Redis.from_url(redis_url)]
    if anyio_backend == "asyncio":
        clients.append(redis.asyncio.Redis.from_url(redis_url))
    for client in clients:
        store = RedisStore(client)
        session_id = new_session_id()
        await store.save(session_id, {"n": 1}, 60)
        assert await store.load(session_id) == {"n": 1}
        await store.aclose()  # the application's client stays open
        await store.delete(session_id)
        if isinstance(client, redis.asyncio.Redis):
            await client.aclose()
        else:
            client.close()


@pytest.mark.anyio
async def test_redis_store_with_an_asyncio_client_under_trio_says_why(
    redis_url: str, anyio_backend: str
) -> None:
    if anyio_backend != "trio":
        return
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)  # never connected, nothing to close
    with pytest.raises(RuntimeError, match="only runs on asyncio"):
        await RedisStore(client).load(new_session_id())


def test_redis_store_under_a_test_client_with_a_loop_per_request(redis_url: str) -> None:
    # A TestClient without ``with`` runs every request on a new event loop: each loop gets its own
    # client, closed when that loop shuts down (no leaked sockets, which warnings-as-errors would catch).
    store = RedisStore(redis_url, prefix=f"tc:{uuid.uuid4().hex}:")
    client = TestClient(make_app(store))
    for n in range(3):
        assert client.get("/put", params={"n": str(n)}).status_code == 200
        assert client.get("/whoami").json() == {"n": str(n)}
    gc.collect()
    with TestClient(make_app(store)) as same_loop:
        same_loop.cookies = client.cookies
        assert same_loop.get("/whoami").json() == {"n": "2"}
    gc.collect()


def test_redis_store_rejects_other_objects() -> None:
    with pytest.raises(TypeError, match="redis:// URL"):
        RedisStore(42)  # type: ignore[arg-type]


def test_redis_store_repr_hides_the_password() -> None:
    assert (
        repr(RedisStore("redis://user:hunter2@cache:6379/0")) == "RedisStore('redis://user:***@cache:6379/0')"
    )


def test_lyre_sessions_imports_without_redis_and_redis_store_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "import lyre, lyre.sessions\n"
        "store = lyre.sessions.MemoryStore()\n"
        "try:\n    lyre.sessions.RedisStore('redis://localhost')\n"
        "except ImportError as exc:\n    print(type(exc).__name__, exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.startswith("ImportError RedisStore needs redis-py")
    assert "pip install 'lyre-asgi[redis]'" in result.stdout


def test_redis_is_its_own_extra_installed_by_the_test_extra() -> None:
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["redis"] == ["redis>=5"]
    assert "lyre-asgi[redis]" in extras["test"]
    assert not any(requirement.startswith("redis") for requirement in extras["full"])


# -- cookie sessions are unchanged -------------------------------------------------------------------


@pytest.mark.anyio
async def test_rotate_with_cookie_sessions_re_signs_the_cookie() -> None:
    async def read_and_rotate(request: Request) -> Response:
        rotate(request)
        return JSONResponse(dict(request.session))

    app = Lyre(
        routes=[Route("/put", put), Route("/rotate", read_and_rotate)],
        middleware=[Middleware(SessionMiddleware, secret_key=SECRET)],
    )
    async with client_for(app) as client:
        await client.get("/put", params={"a": "1"})
        response = await client.get("/rotate")
        assert response.json() == {"a": "1"}
        value = response.headers["set-cookie"].split(";")[0].removeprefix("session=")
        payload = itsdangerous.TimestampSigner(SECRET).unsign(value)
        assert json.loads(base64.b64decode(payload)) == {"a": "1"}  # still the data itself, re-signed


# -- the install script ------------------------------------------------------------------------------


def _run_install_redis(tmp_path: Path, redis_server: str) -> list[str]:
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name, body in {"apt-get": 'echo "apt-get $*" >&2', "sudo": 'exec "$@"'}.items():
        (stubs / name).write_text(f"#!/bin/sh\n{body}\n")
        (stubs / name).chmod(0o755)
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "LYRE_REDIS_SERVER": redis_server, "HOME": str(tmp_path)}
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "install-redis.sh")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.splitlines()


def test_install_redis_says_what_it_installs_first_without_recommends(tmp_path: Path) -> None:
    lines = _run_install_redis(tmp_path, "no-redis-server-here")
    announce = next(i for i, line in enumerate(lines) if "installing Debian's 'redis-server' package" in line)
    apt = [i for i, line in enumerate(lines) if line.startswith("apt-get ")]
    assert apt and announce < min(apt)
    [install] = [line for line in lines if line.startswith("apt-get install")]
    assert install.split() == ["apt-get", "install", "-y", "-q", "--no-install-recommends", "redis-server"]


def test_install_redis_skips_when_present(tmp_path: Path) -> None:
    server = tmp_path / "redis-server"
    server.write_text("#!/bin/sh\n")
    server.chmod(0o755)
    lines = _run_install_redis(tmp_path, str(server))
    assert lines == [f"install-redis: {server} present, nothing to install"]


@pytest.mark.anyio
async def test_memory_store_holds_at_most_max_entries_dropping_the_least_recently_written() -> None:
    store = MemoryStore(max_entries=3)
    for name in ("a", "b", "c"):
        await store.save(name, {"n": name}, 60)
    await store.save("a", {"n": "a2"}, 60)  # rewritten: now the most recent
    await store.save("d", {"n": "d"}, 60)  # over the bound: "b", the oldest write, goes
    assert len(store) == 3
    assert await store.load("b") is None
    assert [await store.load(k) for k in ("a", "c", "d")] == [{"n": "a2"}, {"n": "c"}, {"n": "d"}]
    assert repr(store) == "MemoryStore(max_entries=3)"
    with pytest.raises(ValueError, match="max_entries"):
        MemoryStore(max_entries=0)


async def _count_visits(request: Request) -> Response:
    request.session["visits"] = request.session.get("visits", 0) + 1
    return PlainTextResponse(str(request.session["visits"]))


def test_memory_store_stays_bounded_under_a_stream_of_new_clients() -> None:
    store = MemoryStore(max_entries=50)
    app = Lyre(
        routes=[Route("/", _count_visits)],
        middleware=[Middleware(SessionMiddleware, secret_key="k", store=store)],
    )
    with TestClient(app) as client:
        for _ in range(200):
            client.cookies.clear()  # a client that never sends its cookie back
            assert client.get("/").status_code == 200
    assert len(store) == 50
