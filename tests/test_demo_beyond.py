"""The demo's "Beyond Starlette" pages (``/beyond``) through lyre's TestClient.

A log-in kept in the server-side session store (``rotate`` at log-in and log-out), the
CSRF-protected form, flash messages shown once, and compression.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import sys
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `examples` is a top-level package of the checkout, not installed
    sys.path.insert(0, str(REPO))

from examples.cheatsheet.app import app, session_store, session_store_from_env  # noqa: E402
from lyre.exceptions import StarletteDeprecationWarning  # noqa: E402
from lyre.sessions import FileStore, MemoryStore, RedisStore  # noqa: E402
from lyre.testclient import TestClient  # noqa: E402

MISSING = (
    "CSRF check failed: token missing (send it in the X-CSRF-Token header or the csrf_token form field)."
)


@pytest.fixture(params=["asyncio", "trio"])
def client(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False, backend=request.param) as c:
        yield c


def _text(html: str, element_id: str) -> str:
    match = re.search(rf'id="{re.escape(element_id)}"[^>]*>(.*?)</', html, re.S)
    assert match, f"no element #{element_id} in the page"
    return unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


def _flashes(html: str) -> list[str]:
    """The flash messages shown on a page, as ``category: text``."""
    return [
        f"{category}: {unescape(text)}"
        for category, text in re.findall(r'<li class="flash flash-(\w+)">(.*?)</li>', html)
    ]


def _notes(html: str) -> list[str]:
    match = re.search(r'<ol id="notes">(.*?)</ol>', html, re.S)
    return [unescape(note) for note in re.findall(r"<li>(.*?)</li>", match.group(1))] if match else []


def _token(html: str) -> str:
    match = re.search(r'<input type="hidden" name="csrf_token" value="([^"]+)">', html)
    assert match, "no csrf_input in the page"
    return match.group(1)


def _stored(cookie: str) -> dict[str, Any] | None:
    """What the store holds under the id of a ``session`` cookie (``id.timestamp.signature``)."""
    return asyncio.run(session_store.load(cookie.split(".")[0]))


def _log_in(client: TestClient, name: str = "bo") -> str:
    token = _token(client.get("/beyond/login").text)
    response = client.post("/beyond/login", data={"username": name, "csrf_token": token})
    assert (response.status_code, response.headers["location"]) == (303, "http://testserver/beyond/login")
    return token


def test_home_links_the_beyond_pages_apart_from_the_numbered_items(client: TestClient) -> None:
    with pytest.warns(StarletteDeprecationWarning):
        html = client.get("/").text
    links = dict(re.findall(r'id="beyond-(\w+)" href="([^"]+)"', html))
    assert links == {
        "login": "http://testserver/beyond/login",
        "csrf": "http://testserver/beyond/notes",
        "flash": "http://testserver/beyond/login",
        "compression": "http://testserver/beyond/compression",
    }
    assert html.index('<h2 id="beyond">Beyond Starlette</h2>') > html.index('id="item-17"')


def test_log_in_keeps_the_name_in_the_store_and_rotates_the_id(client: TestClient) -> None:
    page = client.get("/beyond/login")
    assert _text(page.text, "store") == "MemoryStore()"
    assert _text(page.text, "session-id") == "(no session)"
    assert "session" not in client.cookies  # an untouched session is not saved: no cookie
    token = _token(page.text)
    # A session made before log-in (one an attacker could have planted in the browser).
    client.post("/beyond/notes", data={"note": "before log-in", "csrf_token": token})
    before = client.cookies["session"]
    assert _stored(before) == {"notes": ["before log-in"], "_flashes": [["success", _saved()]]}
    client.get("/beyond/notes")  # shows (and drops) the flash

    _log_in(client)
    after = client.cookies["session"]
    assert after.split(".")[0] != before.split(".")[0]  # a new session id
    # The cookie carries the signed id only (id.timestamp.signature, a 43-character id), no data.
    # (Not `"bo" not in after`: two given characters turn up in ~2 % of random base64 cookies.)
    assert after.count(".") == 2 and len(after.split(".")[0]) == 43
    assert "login_user" not in after
    assert _stored(before) is None  # the old id was deleted from the store
    assert _stored(after) == {
        "notes": ["before log-in"],  # the data moved with the session
        "login_user": "bo",
        "_flashes": [["success", "Signed in as bo. Your session has a new id."]],
    }

    page = client.get("/beyond/login")
    assert _text(page.text, "beyond-user") == "bo"
    assert _text(page.text, "who") == "bo"  # the header every page shares
    assert _text(page.text, "session-id") == after[:8] + "…"
    assert "&#39;login_user&#39;: &#39;bo&#39;" in page.text
    # Item 13's account page reads the same session.
    assert _text(client.get("/account").text, "account-user") == "bo"

    # The old cookie, replayed by someone else, is an empty session.
    with TestClient(app, follow_redirects=False) as other:
        other.cookies.set("session", before)
        assert other.get("/account").status_code == 303
        old = other.get("/beyond/login").text
        assert _text(old, "session-id") == "(no session)" and 'id="beyond-user"' not in old


def _saved() -> str:
    return "Note saved: the form's CSRF token matched your csrftoken cookie."


def test_flash_after_log_in_is_shown_once(client: TestClient) -> None:
    _log_in(client, "Zoë")
    assert _flashes(client.get("/beyond/login").text) == [
        "success: Signed in as Zoë. Your session has a new id."
    ]
    assert _flashes(client.get("/beyond/login").text) == []
    assert 'id="flashes"' not in client.get("/beyond/login").text


def test_flash_is_shown_on_whatever_page_comes_next(client: TestClient) -> None:
    _log_in(client)
    page = client.get("/query")  # a cheat-sheet page: base.html shows pending messages everywhere
    assert _flashes(page.text) == ["success: Signed in as bo. Your session has a new id."]
    assert _flashes(client.get("/beyond/login").text) == []


def test_flash_messages_are_escaped(client: TestClient) -> None:
    _log_in(client, "<b>x</b>")
    html = client.get("/beyond/login").text
    assert "<b>x</b>" not in html
    assert "Signed in as &lt;b&gt;x&lt;/b&gt;. Your session" in html
    assert _flashes(html) == ["success: Signed in as <b>x</b>. Your session has a new id."]


def test_a_bad_name_flashes_an_error_and_does_not_log_in(client: TestClient) -> None:
    token = _token(client.get("/beyond/login").text)
    for name in ("   ", "x" * 51):
        response = client.post("/beyond/login", data={"username": name, "csrf_token": token})
        assert response.status_code == 303
        page = client.get("/beyond/login").text
        assert _flashes(page) == ["error: Enter a name of 1 to 50 characters."]
        assert 'id="beyond-user"' not in page


def test_log_out_clears_the_session(client: TestClient) -> None:
    token = _log_in(client)
    client.get("/beyond/login")
    signed_in = client.cookies["session"]

    # Log-out is a CSRF-protected POST too.
    refused = client.post("/beyond/logout")
    assert (refused.status_code, refused.text) == (403, MISSING)
    assert _stored(signed_in) is not None
    assert client.get("/beyond/logout").status_code == 405

    response = client.post("/beyond/logout", data={"csrf_token": token})
    assert (response.status_code, response.headers["location"]) == (303, "http://testserver/beyond/login")
    assert _stored(signed_in) is None  # deleted from the store
    fresh = client.cookies["session"]
    assert _stored(fresh) == {"_flashes": [["info", "Signed out: your session was deleted."]]}
    page = client.get("/beyond/login").text
    assert _flashes(page) == ["info: Signed out: your session was deleted."]
    assert _text(page, "session-id") == "(no session)"  # the flash shown was all it held
    assert 'id="beyond-user"' not in page and 'id="who"' not in page
    assert "session" not in client.cookies  # the flash was shown: the now empty session is deleted
    assert _stored(fresh) is None
    assert client.get("/account").status_code == 303

    client.post("/beyond/logout", data={"csrf_token": token})
    assert _flashes(client.get("/beyond/login").text) == ["info: You were not signed in."]


def test_the_csrf_form_refuses_posts_without_the_token(client: TestClient) -> None:
    page = client.get("/beyond/notes")
    token = _token(page.text)
    assert client.cookies["csrftoken"] == token  # the page set the cookie its form carries
    assert 'id="forged-form"' in page.text  # the same form without its token, for the browser

    response = client.post("/beyond/notes", data={"note": "forged"})
    assert response.status_code == 403
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == MISSING
    response = client.post("/beyond/notes", data={"note": "forged", "csrf_token": token[:-2] + "xx"})
    assert (response.status_code, response.text) == (403, "CSRF check failed: the token is invalid.")
    with TestClient(app) as other:  # a real token, but another client's
        theirs = _token(other.get("/beyond/notes").text)
    response = client.post("/beyond/notes", data={"note": "forged", "csrf_token": theirs})
    assert (response.status_code, response.text) == (
        403,
        "CSRF check failed: the token does not match the cookie.",
    )
    response = client.post(
        "/beyond/notes",
        data={"note": "forged", "csrf_token": token},
        headers={"origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert (
        response.text
        == "CSRF check failed: the request comes from another origin (Origin: https://evil.example)."
    )
    html = client.get("/beyond/notes").text
    assert 'id="notes"' not in html and _flashes(html) == []  # nothing was saved


def test_the_csrf_form_accepts_its_token_and_flashes_once(client: TestClient) -> None:
    token = _token(client.get("/beyond/notes").text)
    response = client.post(
        "/beyond/notes",
        data={"note": "Hello <you>", "csrf_token": token},
        headers={"origin": "http://testserver"},  # what a browser sends from this site
    )
    assert (response.status_code, response.headers["location"]) == (303, "http://testserver/beyond/notes")
    page = client.get("/beyond/notes").text
    assert _flashes(page) == [f"success: {_saved()}"]
    assert _notes(page) == ["Hello <you>"]
    assert "Hello <you>" not in page  # escaped
    page = client.get("/beyond/notes").text
    assert _flashes(page) == [] and _notes(page) == ["Hello <you>"]  # the note stays, the flash does not

    # JavaScript sends the token in a header instead.
    response = client.post("/beyond/notes", data={"note": "via header"}, headers={"x-csrf-token": token})
    assert response.status_code == 303
    assert _notes(client.get("/beyond/notes").text) == ["Hello <you>", "via header"]

    client.post("/beyond/notes", data={"note": " ", "csrf_token": token})
    assert _flashes(client.get("/beyond/notes").text) == ["error: A note is 1 to 200 characters."]


def test_cheat_sheet_forms_still_need_no_token(client: TestClient) -> None:
    assert "csrftoken" not in client.get("/form").headers.get("set-cookie", "")
    assert client.post("/form/submit", data={"name": "Bo"}).status_code == 200
    response = client.post("/signin", data={"username": "bo"})
    assert (response.status_code, response.headers["location"]) == (303, "http://testserver/account")
    assert _text(client.get("/account").text, "account-user") == "bo"
    assert client.post("/logout").status_code == 303
    assert client.get("/account").status_code == 303


def test_compression(client: TestClient) -> None:
    page = client.get("/beyond/compression")
    assert "gzip" in _text(page.text, "codings")
    with client.stream(
        "GET", "/beyond/compression/data.json", headers={"accept-encoding": "gzip"}
    ) as response:
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["vary"] == "Accept-Encoding"
        data = json.loads(gzip.decompress(b"".join(response.iter_raw())))
    assert len(data["rows"]) == 400
    with client.stream(
        "GET", "/beyond/compression/data.json", headers={"accept-encoding": "identity"}
    ) as response:
        assert "content-encoding" not in response.headers
        assert response.headers["vary"] == "Accept-Encoding"
    # Pages are compressed too, and keep the session's Vary.
    with client.stream("GET", "/query", headers={"accept-encoding": "gzip"}) as response:
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["vary"] == "Cookie, Accept-Encoding"
        assert b"<h1>" in gzip.decompress(b"".join(response.iter_raw()))


def test_the_store_is_chosen_by_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CHEATSHEET_SESSION_STORE", raising=False)
    assert isinstance(session_store_from_env(), MemoryStore)
    monkeypatch.setenv("CHEATSHEET_SESSION_STORE", "memory")
    assert isinstance(session_store_from_env(), MemoryStore)
    monkeypatch.setenv("CHEATSHEET_SESSION_STORE", f"file:{tmp_path}")
    store = session_store_from_env()
    assert isinstance(store, FileStore) and store.directory == tmp_path
    monkeypatch.setenv("CHEATSHEET_SESSION_STORE", "redis://localhost:6379/0")
    redis_store = session_store_from_env()
    assert isinstance(redis_store, RedisStore) and redis_store.prefix == "cheatsheet:session:"
    for bad in ("file:", "postgres://x", "mem"):
        monkeypatch.setenv("CHEATSHEET_SESSION_STORE", bad)
        with pytest.raises(ValueError, match="expected memory, file:DIRECTORY or redis://"):
            session_store_from_env()
