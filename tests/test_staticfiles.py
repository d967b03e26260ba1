"""lyre.staticfiles.StaticFiles: serving, HTML mode, conditional requests, ranges, path safety,
precompressed siblings, cache-control, thread offloading."""

from __future__ import annotations

import errno
import os
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

from lyre.applications import Lyre
from lyre.datastructures import Headers
from lyre.exceptions import HTTPException
from lyre.routing import Mount
from lyre.staticfiles import NotModifiedResponse, StaticFiles
from lyre.testclient import TestClient
from lyre.types import Message


@pytest.fixture
def root(tmp_path: Path) -> Path:
    static = tmp_path / "static"
    static.mkdir()
    (static / "data.bin").write_bytes(b"0123456789")
    (static / "hello.txt").write_text("hello")
    (static / "app.js").write_text("console.log('identity')")
    (static / "app.js.br").write_bytes(b"BROTLI")
    (static / "app.js.gz").write_bytes(b"GZIPPED!")
    (static / "sub").mkdir()
    (static / "sub" / "index.html").write_text("<p>sub index</p>")
    (static / "index.html").write_text("<p>root index</p>")
    (static / "404.html").write_text("<p>custom 404</p>")
    (static / "empty").mkdir()
    (tmp_path / "secret.txt").write_text("SECRET")
    sibling = tmp_path / "static2"
    sibling.mkdir()
    (sibling / "secret.txt").write_text("SECRET2")
    return static


def app_for(**kwargs: Any) -> Lyre:
    return Lyre(routes=[Mount("/static", app=StaticFiles(**kwargs), name="static")])


def call(
    app: Any, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Drive the app with a raw scope whose ``path`` is exactly what a server would pass."""
    messages: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "root_path": "",
        "query_string": b"",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
        "headers": [(b"host", b"testserver")]
        + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    anyio.run(app, scope, receive, send)
    start = messages[0]
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body


# --- basic serving ---------------------------------------------------------------------------------


def test_serves_file_with_headers(root: Path) -> None:
    client = TestClient(app_for(directory=root))
    response = client.get("/static/data.bin")
    assert response.status_code == 200
    assert response.content == b"0123456789"
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-length"] == "10"
    assert response.headers["etag"].startswith('"')
    assert response.headers["last-modified"].endswith("GMT")
    assert "vary" not in response.headers and "cache-control" not in response.headers
    assert client.get("/static/hello.txt").headers["content-type"] == "text/plain; charset=utf-8"


def test_pathlike_directory(root: Path) -> None:
    assert TestClient(app_for(directory=Path(root))).get("/static/hello.txt").text == "hello"


def test_missing_file_and_directory_are_404(root: Path) -> None:
    client = TestClient(app_for(directory=root))
    response = client.get("/static/none")
    assert response.status_code == 404
    assert response.text == "Not Found"
    assert client.get("/static/sub").status_code == 404
    assert client.get("/static/").status_code == 404


def test_other_methods_are_405(root: Path) -> None:
    client = TestClient(app_for(directory=root))
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        response = client.request(method, "/static/data.bin")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD"
        assert response.text == "Method Not Allowed"


def test_head_has_headers_no_body(root: Path) -> None:
    status, headers, body = call(app_for(directory=root), "/static/data.bin", "HEAD")
    assert status == 200
    assert headers["content-length"] == "10"
    assert body == b""


def test_range_through_file_response(root: Path) -> None:
    response = TestClient(app_for(directory=root)).get("/static/data.bin", headers={"range": "bytes=2-5"})
    assert response.status_code == 206
    assert response.content == b"2345"
    assert response.headers["content-range"] == "bytes 2-5/10"


def test_trailing_slash_on_file_is_404(root: Path) -> None:
    status, _, body = call(app_for(directory=root), "/static/hello.txt/")
    assert status == 404
    assert b"hello" not in body
    status, _, _ = call(app_for(directory=root, html=True), "/static/hello.txt/")
    assert status == 404


def test_websocket_is_closed(root: Path) -> None:
    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    anyio.run(StaticFiles(directory=root), {"type": "websocket", "path": "/x", "headers": []}, receive, send)
    assert messages == [{"type": "websocket.close", "code": 1000, "reason": ""}]


# --- HTML mode ---------------------------------------------------------------------------------------


def test_html_mode(root: Path) -> None:
    client = TestClient(app_for(directory=root, html=True), follow_redirects=False)
    response = client.get("/static/")
    assert response.status_code == 200 and response.text == "<p>root index</p>"
    redirect = client.get("/static/sub")
    assert redirect.status_code == 307
    assert redirect.headers["location"] == "http://testserver/static/sub/"
    assert client.get("/static/sub/").text == "<p>sub index</p>"
    missing = client.get("/static/nothing")
    assert missing.status_code == 404
    assert missing.text == "<p>custom 404</p>"
    assert missing.headers["content-type"] == "text/html; charset=utf-8"
    assert client.get("/static/empty").status_code == 404


def test_html_mode_without_404_page(root: Path) -> None:
    (root / "404.html").unlink()
    response = TestClient(app_for(directory=root, html=True)).get("/static/nothing")
    assert response.status_code == 404
    assert response.text == "Not Found"


# --- conditional requests ------------------------------------------------------------------------


def test_if_none_match_and_if_modified_since(root: Path) -> None:
    client = TestClient(app_for(directory=root))
    first = client.get("/static/data.bin")
    etag, last_modified = first.headers["etag"], first.headers["last-modified"]
    for value in (etag, f"W/{etag}", f'"x", {etag}', "*", f' "a" , W/{etag} '):
        response = client.get("/static/data.bin", headers={"if-none-match": value})
        assert response.status_code == 304, value
        assert response.content == b""
        assert dict(response.headers) == {"etag": etag}
    assert client.get("/static/data.bin", headers={"if-none-match": '"other"'}).status_code == 200
    assert client.get("/static/data.bin", headers={"if-modified-since": last_modified}).status_code == 304
    later = "Fri, 01 Jan 2100 00:00:00 GMT"
    assert client.get("/static/data.bin", headers={"if-modified-since": later}).status_code == 304
    earlier = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert client.get("/static/data.bin", headers={"if-modified-since": earlier}).status_code == 200
    assert client.get("/static/data.bin", headers={"if-modified-since": "garbage"}).status_code == 200
    # If-None-Match wins over If-Modified-Since.
    both = {"if-none-match": '"other"', "if-modified-since": last_modified}
    assert client.get("/static/data.bin", headers=both).status_code == 200


def test_not_modified_response_keeps_only_cache_headers() -> None:
    headers = Headers(
        {"etag": '"e"', "vary": "Accept", "content-length": "3", "cache-control": "no-cache", "x-a": "1"}
    )
    response = NotModifiedResponse(headers)
    assert response.status_code == 304
    assert response.raw_headers == [(b"etag", b'"e"'), (b"vary", b"Accept"), (b"cache-control", b"no-cache")]
    assert NotModifiedResponse.NOT_MODIFIED_HEADERS == (
        "cache-control",
        "content-location",
        "date",
        "etag",
        "expires",
        "vary",
    )


# --- path safety -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/static/../secret.txt",
        "/static/../../secret.txt",
        "/static/sub/../../secret.txt",
        "/static/..",
        "/static/../static2/secret.txt",
        "/static/..\\secret.txt",
        "/static/sub\\..\\..\\secret.txt",
        "/static/\\..\\secret.txt",
        "/static//etc/passwd",
        "/static/%2e%2e/secret.txt",
        "/static/..%2fsecret.txt",
        "/static/hello.txt\x00.png",
        "/static/C:/Windows/win.ini",
        "/static/\\\\server\\share\\secret.txt",
        "/static/" + "a" * 5000,
    ],
)
def test_traversal_attempts_are_404(root: Path, path: str) -> None:
    for html in (False, True):
        status, _, body = call(app_for(directory=root, html=html), path)
        assert status == 404, path
        assert b"SECRET" not in body


def test_absolute_and_backslash_paths_rejected_by_lookup(root: Path) -> None:
    static = StaticFiles(directory=root)
    for path in (str(root.parent / "secret.txt"), "/etc/passwd", "\\etc\\passwd", "..", "a/../../x", "a\x00"):
        assert static.lookup_path(path) == ("", None), path
    full, st = static.lookup_path("hello.txt")
    assert st is not None and full == os.path.realpath(root / "hello.txt")


def test_symlink_leading_out_is_refused_unless_follow_symlink(root: Path) -> None:
    (root / "link.txt").symlink_to(root.parent / "secret.txt")
    (root / "linkdir").symlink_to(root.parent / "static2")
    (root / "inner.txt").symlink_to(root / "hello.txt")
    app = app_for(directory=root)
    assert call(app, "/static/link.txt")[0] == 404
    assert call(app, "/static/linkdir/secret.txt")[0] == 404
    assert call(app, "/static/inner.txt")[2] == b"hello"
    follow = app_for(directory=root, follow_symlink=True)
    assert call(follow, "/static/link.txt")[2] == b"SECRET"
    assert call(follow, "/static/linkdir/secret.txt")[2] == b"SECRET2"
    assert call(follow, "/static/../secret.txt")[0] == 404


def test_root_symlink_swap_is_picked_up(tmp_path: Path) -> None:
    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    v1.mkdir()
    v2.mkdir()
    (v1 / "a.txt").write_text("one")
    (v2 / "a.txt").write_text("two")
    current = tmp_path / "current"
    current.symlink_to(v1)
    app = app_for(directory=current)
    assert call(app, "/static/a.txt")[2] == b"one"
    current.unlink()
    current.symlink_to(v2)
    assert call(app, "/static/a.txt")[2] == b"two"


def test_errors_from_lookup_map_to_status(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    static = StaticFiles(directory=root)
    app = Lyre(routes=[Mount("/static", app=static)])

    def raise_(exc: BaseException) -> Any:
        def lookup(path: str) -> Any:
            raise exc

        return lookup

    monkeypatch.setattr(static, "lookup_path", raise_(PermissionError()))
    assert call(app, "/static/x")[0] == 401
    monkeypatch.setattr(static, "lookup_path", raise_(OSError(errno.ENAMETOOLONG, "too long")))
    assert call(app, "/static/x")[0] == 404
    monkeypatch.setattr(static, "lookup_path", raise_(ValueError("embedded null byte")))
    assert call(app, "/static/x")[0] == 404
    monkeypatch.setattr(static, "lookup_path", raise_(OSError(errno.EIO, "io")))
    with pytest.raises(OSError):
        call(app, "/static/x")


def test_get_path_normalises(root: Path) -> None:
    static = StaticFiles(directory=root)
    assert static.get_path({"path": "/a/./b/../c", "root_path": ""}) == os.path.join("a", "c")
    assert static.get_path({"path": "/static/x/y", "root_path": "/static"}) == os.path.join("x", "y")


# --- configuration ---------------------------------------------------------------------------------


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="does not exist"):
        StaticFiles(directory=tmp_path / "nope")
    static = StaticFiles(directory=tmp_path / "nope", check_dir=False)
    client = TestClient(Lyre(routes=[Mount("/s", app=static)]))
    with pytest.raises(RuntimeError, match=r"StaticFiles directory '.*nope' does not exist\."):
        client.get("/s/x")
    (tmp_path / "file").write_text("x")
    not_dir = StaticFiles(directory=tmp_path / "file", check_dir=False)
    with pytest.raises(RuntimeError, match=r"StaticFiles path '.*file' is not a directory\."):
        TestClient(Lyre(routes=[Mount("/s", app=not_dir)])).get("/s/x")


def test_config_checked_once(root: Path) -> None:
    static = StaticFiles(directory=root)
    assert static.config_checked is False
    client = TestClient(Lyre(routes=[Mount("/s", app=static)]))
    client.get("/s/hello.txt")
    assert static.config_checked is True


def test_packages(tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "pkgs" / "mypkg"
    (pkg / "statics").mkdir(parents=True)
    (pkg / "assets").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "statics" / "p.txt").write_text("from package")
    (pkg / "statics" / "hello.txt").write_text("package hello")
    (pkg / "assets" / "a.txt").write_text("asset")
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    static = StaticFiles(directory=root, packages=["mypkg", ("mypkg", "assets")])
    assert static.all_directories == [root, str(pkg / "statics"), str(pkg / "assets")]
    client = TestClient(Lyre(routes=[Mount("/s", app=static)]))
    assert client.get("/s/p.txt").text == "from package"
    assert client.get("/s/hello.txt").text == "hello"  # directory first
    assert client.get("/s/a.txt").text == "asset"
    with pytest.raises(AssertionError, match="Package 'nopkg_xyz' could not be found."):
        StaticFiles(packages=["nopkg_xyz"])
    with pytest.raises(AssertionError, match="Directory ''nothere'' in package 'mypkg' could not be found."):
        StaticFiles(packages=[("mypkg", "nothere")])
    sys.modules.pop("mypkg", None)


# --- lyre extras -----------------------------------------------------------------------------------


def test_precompressed_siblings(root: Path) -> None:
    client = TestClient(app_for(directory=root, precompressed=True))
    identity = client.get("/static/app.js", headers={"accept-encoding": "identity"})
    assert identity.content == b"console.log('identity')"
    assert identity.headers["vary"] == "Accept-Encoding"
    assert "content-encoding" not in identity.headers

    br = client.get("/static/app.js", headers={"accept-encoding": "gzip, br"})
    assert br.headers["content-encoding"] == "br"
    assert br.headers["content-type"] == "text/javascript; charset=utf-8"
    assert br.headers["vary"] == "Accept-Encoding"
    assert br.headers["content-length"] == "6"
    assert br.headers["etag"].endswith('-br"')

    # httpx decodes gzip; read the raw bytes through the ASGI call instead.
    status, headers, body = call(
        app_for(directory=root, precompressed=True),
        "/static/app.js",
        headers={"accept-encoding": "gzip;q=1, br;q=0"},
    )
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert body == b"GZIPPED!"
    assert headers["etag"].endswith('-gzip"')
    assert len({identity.headers["etag"], br.headers["etag"], headers["etag"]}) == 3

    not_modified = client.get(
        "/static/app.js", headers={"accept-encoding": "br", "if-none-match": br.headers["etag"]}
    )
    assert not_modified.status_code == 304
    assert not_modified.headers["etag"] == br.headers["etag"]
    assert not_modified.headers["vary"] == "Accept-Encoding"
    stale = client.get(
        "/static/app.js", headers={"accept-encoding": "br", "if-none-match": identity.headers["etag"]}
    )
    assert stale.status_code == 200


def test_precompressed_off_by_default_and_symlinked_sibling_ignored(root: Path) -> None:
    status, headers, body = call(app_for(directory=root), "/static/app.js", headers={"accept-encoding": "br"})
    assert "content-encoding" not in headers and body == b"console.log('identity')"
    (root / "hello.txt.br").symlink_to(root.parent / "secret.txt")
    status, headers, body = call(
        app_for(directory=root, precompressed=True), "/static/hello.txt", headers={"accept-encoding": "br"}
    )
    assert body == b"hello"
    assert "content-encoding" not in headers


def test_cache_control_policy(root: Path) -> None:
    client = TestClient(app_for(directory=root, cache_control="public, max-age=60"))
    response = client.get("/static/hello.txt")
    assert response.headers["cache-control"] == "public, max-age=60"
    again = client.get("/static/hello.txt", headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["cache-control"] == "public, max-age=60"
    assert "cache-control" not in client.get("/static/none").headers

    def policy(path: str) -> str | None:
        return "immutable" if path.endswith(".bin") else None

    client = TestClient(app_for(directory=root, cache_control=policy))
    assert client.get("/static/data.bin").headers["cache-control"] == "immutable"
    assert "cache-control" not in client.get("/static/hello.txt").headers
    with pytest.raises(ValueError):
        StaticFiles(directory=root, cache_control="a\r\nb")


def test_filesystem_calls_never_run_on_the_event_loop_thread(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = app_for(directory=root, html=True, precompressed=True)
    call(app, "/static/hello.txt")  # warm-up: config check
    loop_thread = threading.get_ident()
    on_loop: list[str] = []
    for name in ("stat", "lstat", "open", "fstat", "read", "pread", "close"):
        real = getattr(os, name)

        def spy(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            if threading.get_ident() == loop_thread:
                on_loop.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(os, name, spy)
    for path, headers in [
        ("/static/hello.txt", {}),
        ("/static/app.js", {"accept-encoding": "br"}),
        ("/static/sub", {}),
        ("/static/sub/", {}),
        ("/static/missing", {}),
        ("/static/data.bin", {"range": "bytes=1-2,5-6"}),
    ]:
        call(app, path, headers=headers)
    assert on_loop == []


def test_http_exception_raised_directly_without_app(root: Path) -> None:
    static = StaticFiles(directory=root)

    async def main() -> None:
        with pytest.raises(HTTPException) as info:
            await static.get_response(
                "missing", {"type": "http", "method": "GET", "path": "/missing", "headers": []}
            )
        assert info.value.status_code == 404

    anyio.run(main)


def test_small_plain_get_needs_a_single_thread_hop(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import anyio.to_thread

    app = app_for(directory=root)
    call(app, "/static/hello.txt")  # warm-up: config check
    real = anyio.to_thread.run_sync
    hops: list[str] = []

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(func, "__name__", repr(func)))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    status, headers, body = call(app, "/static/hello.txt")
    assert (status, body) == (200, b"hello")
    assert len(hops) == 1
    hops.clear()
    assert call(app, "/static/hello.txt", "HEAD")[2] == b""
    assert len(hops) == 1


def test_file_changed_after_lookup_is_described_by_fresh_headers(root: Path) -> None:
    stale = os.stat(root / "hello.txt")

    class StaleLookup(StaticFiles):
        def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
            full, st = super().lookup_path(path)
            if path == "hello.txt":
                (root / "hello.txt").write_text("hello, changed")
                os.utime(root / "hello.txt", (stale.st_mtime + 5, stale.st_mtime + 5))
                return full, stale
            return full, st

    app = Lyre(routes=[Mount("/static", app=StaleLookup(directory=root))])
    status, headers, body = call(app, "/static/hello.txt")
    assert body == b"hello, changed"
    assert headers["content-length"] == str(len(body))
    fresh = os.stat(root / "hello.txt")
    assert headers["last-modified"] != ""
    from email.utils import formatdate

    assert headers["last-modified"] == formatdate(fresh.st_mtime, usegmt=True)


@pytest.mark.anyio
async def test_serving_works_on_both_backends(root: Path) -> None:
    app = app_for(directory=root, html=True, precompressed=True)
    (root / "big.bin").write_bytes(b"y" * 200_000)
    cases = [
        ("/static/hello.txt", {}, 200, b"hello"),
        ("/static/big.bin", {}, 200, b"y" * 200_000),
        ("/static/data.bin", {"range": "bytes=1-2,5-6"}, 206, None),
        ("/static/sub", {}, 307, b""),
        ("/static/app.js", {"accept-encoding": "br"}, 200, b"BROTLI"),
        ("/static/nothing", {}, 404, b"<p>custom 404</p>"),
    ]
    for path, headers, status, body in cases:
        messages: list[Message] = []

        async def receive() -> Message:
            await anyio.sleep_forever()
            raise AssertionError

        async def send(message: Message) -> None:
            messages.append(message)

        scope = {
            "type": "http",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "root_path": "",
            "query_string": b"",
            "server": ("testserver", 80),
            "headers": [(b"host", b"testserver")] + [(k.encode(), v.encode()) for k, v in headers.items()],
        }
        with anyio.fail_after(10):
            await app(scope, receive, send)
        assert messages[0]["status"] == status, path
        if body is not None:
            assert b"".join(m.get("body", b"") for m in messages[1:]) == body, path


def test_path_checks_with_windows_semantics(monkeypatch: pytest.MonkeyPatch) -> None:
    import ntpath
    import types

    import lyre.staticfiles as module

    monkeypatch.setattr(module, "_IS_WINDOWS", True)
    monkeypatch.setattr(module, "os", types.SimpleNamespace(sep="\\", path=ntpath))
    assert module._unsafe("css\\app.css") is False
    assert module._unsafe("index.html") is False
    for bad in (
        "..\\secret.txt",
        "a\\..\\..\\x",
        "C:secret.txt",
        "C:\\Windows\\win.ini",
        "\\\\srv\\share",
        "\\x",
        "a:b",
    ):
        assert module._unsafe(bad) is True, bad


def test_path_checks_with_posix_semantics() -> None:
    import lyre.staticfiles as module

    assert module._unsafe(os.path.join("css", "app.css")) is False
    assert module._unsafe(".") is False
    for bad in ("../x", "a/../../x", "/etc/passwd", "a\\b", "a\x00b", ".."):
        assert module._unsafe(bad) is True, bad


def test_incidental_names_importable() -> None:
    import lyre.responses
    import lyre.staticfiles as module

    names = (
        "FileResponse HTTPException Headers Receive RedirectResponse Response Scope Send URL "
        "WebSocketClose get_route_path NotModifiedResponse StaticFiles PathLike"
    )
    for name in names.split():
        assert hasattr(module, name), name
    assert module.FileResponse is lyre.responses.FileResponse  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_get_response_with_a_scope_holding_only_the_method(root: Path, tmp_path: Path) -> None:
    """``get_response`` can be driven directly with ``{"method": ...}`` and a path from ``get_path``."""
    static = StaticFiles(directory=root)
    for escaping in ("/../secret.txt", "/../static2/secret.txt", "/sub/../../secret.txt"):
        with pytest.raises(HTTPException) as info:
            await static.get_response(static.get_path({"path": escaping}), {"method": "GET"})
        assert info.value.status_code == 404, escaping
    response = await static.get_response(static.get_path({"path": "/hello.txt"}), {"method": "GET"})
    assert response.status_code == 200
    assert response.headers["content-length"] == "5"
    linked = tmp_path / "linked"
    linked.symlink_to(tmp_path)
    with pytest.raises(HTTPException) as info:
        await StaticFiles(directory=linked / "static", follow_symlink=True).get_response(
            "../secret.txt", {"method": "GET"}
        )
    assert info.value.status_code == 404
