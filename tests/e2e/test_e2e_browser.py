"""End-to-end: the cheat-sheet demo served by ``lyre run`` under each server it supports (uvicorn
and granian), driven by headless Chromium.

Uses Debian's ``/usr/bin/chromium`` through Playwright for Python (``scripts/install-browser.sh``
installs both; ``make test`` runs it). When the browser cannot start these tests FAIL -- they are
never skipped -- so CI cannot go green without actually running them.
"""

from __future__ import annotations

import os
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e._serve import lyre_run

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module", params=["uvicorn", "granian"])
def base_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The demo served by ``python -m lyre run --server <uvicorn|granian>`` on a free 127.0.0.1 port."""
    env = {**os.environ, "CHEATSHEET_SECRET_KEY": "e2e-test-secret"}
    with lyre_run(
        "examples.cheatsheet.app:app",
        "--server",
        request.param,
        env=env,
        ready_path="/hi",
        timeout=30,
        what=f"the demo server ({request.param})",
    ) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium; any failure to start it fails the tests (no skip)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(f"playwright is not installed ({exc}); run scripts/install-browser.sh")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing; run scripts/install-browser.sh")
    with sync_playwright() as pw:
        try:
            chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
        except Exception as exc:
            pytest.fail(f"headless Chromium could not start: {exc}")
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Any]:
    """A fresh browser context (own cookie jar) per test."""
    context = browser.new_context(base_url=base_url)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def _png(width: int, height: int) -> bytes:
    """A valid RGB PNG with a gradient (no image library needed)."""
    rows = b"".join(
        b"\x00" + b"".join(bytes(((x * 4) % 256, (y * 4) % 256, ((x + y) * 2) % 256)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 1))
        + chunk(b"IEND", b"")
    )


def test_login_and_logout(page: Any, base_url: str) -> None:
    page.goto("/account")
    assert page.url == base_url + "/signin"  # the login_required decorator redirected (303)
    assert page.query_selector("#who") is None  # not signed in
    page.fill("#username", "bo")
    page.click("#signin-button")
    page.wait_for_url(base_url + "/account")
    assert page.inner_text("#account-user") == "bo"
    assert page.inner_text("#who") == "bo"
    assert any(c["name"] == "session" for c in page.context.cookies())

    page.click("#logout-button")
    page.wait_for_url(base_url + "/")
    assert page.query_selector("#who") is None
    page.goto("/account")
    assert page.url == base_url + "/signin"


def test_upload_an_image(page: Any, base_url: str, tmp_path: Path) -> None:
    image = tmp_path / "abc.png"
    image.write_bytes(_png(96, 64))
    size = image.stat().st_size

    page.goto("/upload")
    page.set_input_files("#file-input", str(image))
    page.click("#upload-button")
    page.wait_for_selector("#upload-result")
    assert page.inner_text("#filename") == "abc.png"
    assert page.inner_text("#content-type") == "image/png"
    assert page.inner_text("#size") == f"{size} bytes"
    # The preview is the uploaded image itself, decoded by the browser.
    dimensions = page.eval_on_selector(
        "#preview", "img => [img.complete, img.naturalWidth, img.naturalHeight]"
    )
    assert dimensions == [True, 96, 64]


def test_set_and_delete_the_cookie(page: Any, base_url: str) -> None:
    page.goto("/cookie")
    assert page.inner_text("#cookie-value") == "None"

    page.click("#set-cookie")
    page.wait_for_function("document.querySelector('#cookie-value')?.textContent === \"'value'\"")
    [cookie] = [c for c in page.context.cookies() if c["name"] == "mycookie"]
    assert cookie["value"] == "value"
    assert cookie["httpOnly"] is True and cookie["secure"] is True and cookie["path"] == "/"
    assert 0 < cookie["expires"] - time.time() <= 61  # max_age=60
    assert page.evaluate("document.cookie") == ""  # HttpOnly: invisible to scripts

    page.click("#delete-cookie")
    page.wait_for_function("document.querySelector('#cookie-value')?.textContent === 'None'")
    assert [c for c in page.context.cookies() if c["name"] == "mycookie"] == []


def test_custom_404_page(page: Any, base_url: str) -> None:
    response = page.goto("/no/such/page")
    assert response.status == 404
    assert page.inner_text("#error-title") == "My 404 page"
    assert page.title() == "404 Not Found"
    # the page is styled: the stylesheet was served by the StaticFiles mount
    assert page.eval_on_selector("header", "h => getComputedStyle(h).display") == "flex"


def test_home_links_every_item_and_middleware_headers(page: Any, base_url: str) -> None:
    response = page.goto("/")
    assert response.status == 200
    assert response.headers["x-extra-key"] == "value"
    assert response.headers["x-author"] == "John"
    for n in range(1, 17):
        assert page.query_selector(f"#item-{n}") is not None, n
    page.click("#item-16")
    page.wait_for_url("**/middleware")
    page.wait_for_function("document.querySelector('#hi-author')?.textContent === 'John'")
    assert page.inner_text("#hi-body") == "hi"
    assert page.inner_text("#hi-host") == base_url.removeprefix("http://")


def test_unicode_upload_name_and_form_fields(page: Any, base_url: str, tmp_path: Path) -> None:
    """Real browser encodings: a UTF-8 file name in multipart, UTF-8 text in urlencoded and query forms."""
    image = tmp_path / "photo été.png"
    image.write_bytes(_png(4, 4))
    page.goto("/upload")
    page.set_input_files("#file-input", str(image))
    page.click("#upload-button")
    page.wait_for_selector("#upload-result")
    assert page.inner_text("#filename") == "photo été.png"

    page.goto("/form")
    page.fill("input[name=name]", "Bö Z & co")
    page.click("button[type=submit]")
    page.wait_for_selector("#result")
    assert page.inner_text("#result") == "Bö Z & co"

    page.goto("/query")
    page.fill("input[name=name]", "Zoë")
    page.check("input[name=t][value='1']")
    page.check("input[name=t][value='3']")
    page.click("button[type=submit]")
    page.wait_for_url("**/query?name=Zo%C3%AB&t=1&t=3")
    assert page.inner_text("#name") == "'Zoë'"
    assert page.inner_text("#tags") == "['1', '3']"


# --- Beyond Starlette: server-side session, CSRF, flash messages, compression -------------------


def _flash_texts(page: Any) -> list[str]:
    return [text.strip() for text in page.locator("#flashes li").all_inner_texts()]


def test_beyond_log_in_flash_once_and_log_out(page: Any, base_url: str) -> None:
    page.goto("/")
    page.click("#beyond-login")
    page.wait_for_url(base_url + "/beyond/login")
    assert page.inner_text("#session-id") == "(no session)"
    assert [c["name"] for c in page.context.cookies()] == ["csrftoken"]  # set by the page's GET

    page.fill("#beyond-username", "Zoë")
    page.click("#beyond-login")
    page.wait_for_selector("#beyond-user")
    assert page.url == base_url + "/beyond/login"  # the 303 after the POST
    assert page.inner_text("#beyond-user") == "Zoë"
    assert page.inner_text("#who") == "Zoë"
    assert _flash_texts(page) == ["Signed in as Zoë. Your session has a new id."]
    [session] = [c for c in page.context.cookies() if c["name"] == "session"]
    assert "Zo" not in session["value"] and session["httpOnly"] is True  # only the signed id
    assert page.inner_text("#session-id") == session["value"][:8] + "…"

    page.reload()
    assert page.query_selector("#flashes") is None  # shown once
    assert page.inner_text("#beyond-user") == "Zoë"
    page.goto("/account")  # item 13 reads the same session
    assert page.inner_text("#account-user") == "Zoë"

    page.goto("/beyond/login")
    page.click("#beyond-logout")
    page.wait_for_selector("#beyond-username")
    assert _flash_texts(page) == ["Signed out: your session was deleted."]
    assert page.query_selector("#who") is None
    page.reload()
    assert page.query_selector("#flashes") is None
    assert [c for c in page.context.cookies() if c["name"] == "session"] == []
    page.goto("/account")
    assert page.url == base_url + "/signin"


def test_beyond_log_in_gives_a_new_session_id(page: Any, base_url: str) -> None:
    """A session that exists before log-in (a planted one) is not the one that gets logged in."""
    page.goto("/beyond/notes")
    page.fill("#note", "before")
    page.click("#note-submit")
    page.wait_for_selector("#flashes")
    [before] = [c["value"] for c in page.context.cookies() if c["name"] == "session"]
    page.goto("/beyond/login")
    page.fill("#beyond-username", "bo")
    page.click("#beyond-login")
    page.wait_for_selector("#beyond-user")
    [after] = [c["value"] for c in page.context.cookies() if c["name"] == "session"]
    assert after.split(".")[0] != before.split(".")[0]

    # The old cookie in another browser: an empty session, not bo's.
    other = page.context.browser.new_context(base_url=base_url)
    try:
        other.add_cookies([{"name": "session", "value": before, "url": base_url}])
        planted = other.new_page()
        planted.goto("/beyond/login")
        assert planted.query_selector("#beyond-user") is None
        assert planted.inner_text("#session-id") == "(no session)"
    finally:
        other.close()


def test_beyond_csrf_form(page: Any, base_url: str) -> None:
    page.goto("/beyond/notes")
    token = page.get_attribute("#note-form input[name=csrf_token]", "value")
    [cookie] = [c for c in page.context.cookies() if c["name"] == "csrftoken"]
    assert token == cookie["value"]

    page.fill("#note", "Bö & co")
    page.click("#note-submit")
    page.wait_for_selector("#flashes")
    assert page.url == base_url + "/beyond/notes"
    assert _flash_texts(page) == ["Note saved: the form's CSRF token matched your csrftoken cookie."]
    assert page.locator("#notes li").all_inner_texts() == ["Bö & co"]
    page.reload()
    assert page.query_selector("#flashes") is None
    assert page.locator("#notes li").all_inner_texts() == ["Bö & co"]

    # The page's own form without its token: the browser shows the middleware's 403.
    with page.expect_navigation() as navigation:
        page.click("#note-without-token")
    assert navigation.value.status == 403
    assert page.inner_text("body").startswith("CSRF check failed: token missing")

    # The real form with its token edited in the page before it is sent.
    page.goto("/beyond/notes")
    page.fill("#note", "tampered")
    page.eval_on_selector("#note-form input[name=csrf_token]", "input => { input.value += 'x'; }")
    with page.expect_navigation() as navigation:
        page.click("#note-submit")
    assert navigation.value.status == 403
    assert page.inner_text("body") == "CSRF check failed: the token is invalid."

    # A request with the browser's cookies but no token (what a forged cross-site post carries).
    response = page.request.post(base_url + "/beyond/notes", form={"note": "forged"})
    assert response.status == 403
    assert response.text().startswith("CSRF check failed: token missing")
    # The same request with the token goes through.
    response = page.request.post(base_url + "/beyond/notes", form={"note": "via API", "csrf_token": token})
    assert response.status == 200  # followed the 303 to the notes page

    page.goto("/beyond/notes")
    assert page.locator("#notes li").all_inner_texts() == ["Bö & co", "via API"]


def test_beyond_compression(page: Any, base_url: str) -> None:
    response = page.goto("/beyond/compression")
    assert response.headers["content-encoding"] in ("gzip", "br", "zstd")
    assert "Accept-Encoding" in response.headers["vary"]
    page.wait_for_function("document.querySelector('#data-size')?.textContent.endsWith('bytes')")
    assert page.inner_text("#data-encoding") == response.headers["content-encoding"]
    assert page.inner_text("#data-vary") == "Accept-Encoding"
    assert int(page.inner_text("#data-size").split()[0]) > 10_000
