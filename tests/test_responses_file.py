"""lyre.responses.FileResponse: stat headers, HEAD, Range/If-Range/multipart, pathsend, disconnects,
files that change or vanish, and thread offloading."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from email.utils import formatdate
from pathlib import Path
from typing import Any

import anyio
import pytest

from lyre.background import BackgroundTask
from lyre.exceptions import StarletteDeprecationWarning
from lyre.requests import ClientDisconnect
from lyre.responses import FileResponse, MalformedRangeHeader, RangeNotSatisfiable
from lyre.types import Message

CONTENT = b"0123456789abcdefghij"


@pytest.fixture
def twenty(tmp_path: Path) -> Path:
    path = tmp_path / "data.txt"
    path.write_bytes(CONTENT)
    return path


def make_scope(
    method: str = "GET",
    headers: dict[str, str] | None = None,
    spec_version: str | None = None,
    extensions: dict[str, Any] | None = None,
    scope_type: str = "http",
) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": scope_type,
        "method": method,
        "path": "/",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    if spec_version:
        scope["asgi"] = {"version": "3.0", "spec_version": spec_version}
    if extensions is not None:
        scope["extensions"] = extensions
    if scope_type != "http":
        del scope["method"]
    return scope


async def never_disconnect() -> Message:
    await anyio.sleep_forever()
    raise AssertionError("unreachable")


async def run(
    response: Any, scope: dict[str, Any] | None = None, receive: Any = never_disconnect
) -> list[Message]:
    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)

    with anyio.fail_after(10):
        await response(scope or make_scope(), receive, send)
    return messages


def headers_of(messages: list[Message]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in messages[0]["headers"]}


def body_of(messages: list[Message]) -> bytes:
    return b"".join(bytes(m.get("body", b"")) for m in messages if m["type"].endswith("http.response.body"))


def expected_etag(path: Path) -> str:
    st = os.stat(path)
    return '"' + hashlib.md5(f"{st.st_mtime}-{st.st_size}".encode(), usedforsecurity=False).hexdigest() + '"'


# --- construction --------------------------------------------------------------------------------


def test_construction_headers(twenty: Path) -> None:
    response = FileResponse(twenty)
    assert response.raw_headers == [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"accept-ranges", b"bytes"),
    ]
    assert FileResponse.chunk_size == 64 * 1024 and FileResponse.max_ranges == 100


def test_media_type_guessing(tmp_path: Path) -> None:
    assert FileResponse(tmp_path / "x.bin").media_type == "application/octet-stream"
    assert FileResponse(tmp_path / "noext").media_type == "application/octet-stream"
    assert FileResponse(tmp_path / "x.json").media_type == "application/json"
    assert FileResponse(tmp_path / "x.PNG").media_type == "image/png"
    assert FileResponse(tmp_path / "a.b.html").media_type == "text/html"
    assert FileResponse(tmp_path / "x", filename="report.pdf").media_type == "application/pdf"
    assert FileResponse(tmp_path / "x.txt", media_type="image/gif").media_type == "image/gif"


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("report.pdf", 'attachment; filename="report.pdf"'),
        ("naïve file.txt", "attachment; filename*=utf-8''na%C3%AFve%20file.txt"),
        ("a b.txt", "attachment; filename*=utf-8''a%20b.txt"),
        ('evil"\r\nx.txt', "attachment; filename*=utf-8''evil%22%0D%0Ax.txt"),
    ],
)
def test_content_disposition(tmp_path: Path, filename: str, expected: str) -> None:
    response = FileResponse(tmp_path / "x", filename=filename)
    assert response.headers["content-disposition"] == expected


def test_content_disposition_inline_and_given(tmp_path: Path) -> None:
    inline = FileResponse(tmp_path / "x", filename="a.txt", content_disposition_type="inline")
    assert inline.headers["content-disposition"] == 'inline; filename="a.txt"'
    given = FileResponse(tmp_path / "x", filename="a.txt", headers={"content-disposition": "custom"})
    assert given.headers.getlist("content-disposition") == ["custom"]


def test_stat_result_sets_headers_now(twenty: Path) -> None:
    st = os.stat(twenty)
    response = FileResponse(twenty, stat_result=st)
    assert response.headers["content-length"] == "20"
    assert response.headers["last-modified"] == formatdate(st.st_mtime, usegmt=True)
    assert response.headers["etag"] == expected_etag(twenty)


def test_method_argument_is_deprecated_and_ignored(twenty: Path) -> None:
    with pytest.warns(StarletteDeprecationWarning, match="method"):
        response = FileResponse(twenty, method="HEAD")  # type: ignore[call-arg]
    assert response.status_code == 200


# --- full file -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_full_small_file_two_messages(twenty: Path) -> None:
    messages = await run(FileResponse(twenty))
    assert [m["type"] for m in messages] == ["http.response.start", "http.response.body"]
    assert messages[0]["status"] == 200
    headers = headers_of(messages)
    assert headers["content-length"] == "20"
    assert headers["etag"] == expected_etag(twenty)
    assert headers["last-modified"] == formatdate(os.stat(twenty).st_mtime, usegmt=True)
    assert body_of(messages) == CONTENT


@pytest.mark.anyio
async def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    messages = await run(FileResponse(path))
    assert headers_of(messages)["content-length"] == "0"
    assert body_of(messages) == b""


@pytest.mark.anyio
@pytest.mark.parametrize("spec_version", [None, "2.4"])
async def test_large_file_in_chunks(tmp_path: Path, spec_version: str | None) -> None:
    data = os.urandom(3 * 1000 + 7)
    path = tmp_path / "big.bin"
    path.write_bytes(data)

    class Small(FileResponse):
        chunk_size = 1000

    messages = await run(Small(path), make_scope(spec_version=spec_version))
    bodies = [m for m in messages if m["type"] == "http.response.body"]
    assert [len(m["body"]) for m in bodies] == [1000, 1000, 1000, 7]
    assert [m["more_body"] for m in bodies] == [True, True, True, False]
    assert body_of(messages) == data


@pytest.mark.anyio
async def test_exact_multiple_of_chunk_size(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 2000)

    class Small(FileResponse):
        chunk_size = 1000

    messages = await run(Small(path))
    bodies = [m for m in messages if m["type"] == "http.response.body"]
    assert [(len(m["body"]), m["more_body"]) for m in bodies] == [(1000, True), (1000, False)]


@pytest.mark.anyio
async def test_head_sends_headers_only(twenty: Path) -> None:
    messages = await run(FileResponse(twenty), make_scope("HEAD"))
    assert headers_of(messages)["content-length"] == "20"
    assert body_of(messages) == b""


@pytest.mark.anyio
async def test_missing_and_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="does not exist"):
        await run(FileResponse(tmp_path / "nope.txt"))
    with pytest.raises(RuntimeError, match="does not exist"):
        await run(FileResponse(tmp_path / "nope.txt"), make_scope("HEAD"))
    with pytest.raises(RuntimeError, match=r"File at path .* is not a file\."):
        await run(FileResponse(tmp_path))
    with pytest.raises(RuntimeError, match="is not a file"):
        await run(FileResponse(tmp_path), make_scope("HEAD"))


@pytest.mark.anyio
async def test_fifo_is_rejected_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(RuntimeError, match="is not a file"):
        await run(FileResponse(fifo))


@pytest.mark.anyio
async def test_pathsend_extension(twenty: Path) -> None:
    messages = await run(FileResponse(twenty), make_scope(extensions={"http.response.pathsend": {}}))
    assert messages[1] == {"type": "http.response.pathsend", "path": str(twenty)}
    assert headers_of(messages)["content-length"] == "20"


@pytest.mark.anyio
async def test_background_runs_after_file(twenty: Path) -> None:
    order: list[str] = []

    async def task() -> None:
        order.append("task")

    messages: list[Message] = []

    async def send(message: Message) -> None:
        order.append(message["type"])
        messages.append(message)

    await FileResponse(twenty, background=BackgroundTask(task))(make_scope(), never_disconnect, send)
    assert order == ["http.response.start", "http.response.body", "task"]


@pytest.mark.anyio
async def test_file_io_runs_in_worker_threads(twenty: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    main = threading.get_ident()
    seen: list[tuple[str, bool]] = []
    real_open, real_fstat = os.open, os.fstat

    def spy_open(*args: Any, **kwargs: Any) -> int:
        seen.append(("open", threading.get_ident() != main))
        return real_open(*args, **kwargs)

    def spy_fstat(fd: int) -> os.stat_result:
        seen.append(("fstat", threading.get_ident() != main))
        return real_fstat(fd)

    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(os, "fstat", spy_fstat)
    await run(FileResponse(twenty))
    assert seen == [("open", True), ("fstat", True)]


@pytest.mark.anyio
async def test_websocket_denial_with_file(twenty: Path) -> None:
    messages = await run(FileResponse(twenty), make_scope(scope_type="websocket"))
    assert [m["type"] for m in messages] == ["websocket.http.response.start", "websocket.http.response.body"]
    assert body_of(messages) == CONTENT


# --- files that change under us ------------------------------------------------------------------


@pytest.mark.anyio
async def test_stale_stat_result_headers_describe_what_is_sent(twenty: Path) -> None:
    st = os.stat(twenty)
    twenty.write_bytes(CONTENT + b"+more")
    os.utime(twenty, (st.st_mtime + 10, st.st_mtime + 10))
    messages = await run(FileResponse(twenty, stat_result=st))
    headers = headers_of(messages)
    assert headers["content-length"] == "25"
    assert headers["etag"] == expected_etag(twenty)
    assert body_of(messages) == CONTENT + b"+more"


@pytest.mark.anyio
@pytest.mark.parametrize("range_header", [None, "bytes=0-1", "bytes=1-2,12-15"])
async def test_file_shorter_than_its_stat_result_fails_before_sending(
    twenty: Path, range_header: str | None
) -> None:
    response = FileResponse(twenty, stat_result=os.stat(twenty))
    twenty.write_bytes(b"0123")
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = make_scope(headers={"range": range_header} if range_header else None)
    with pytest.raises(RuntimeError, match=re.escape(f"File at path {twenty} is shorter than expected.")):
        with anyio.fail_after(10):
            await response(scope, never_disconnect, send)
    assert sent == []


@pytest.mark.anyio
async def test_file_vanishing_before_send_is_an_error_not_a_hang(twenty: Path) -> None:
    st = os.stat(twenty)
    twenty.unlink()
    with pytest.raises(RuntimeError, match="does not exist"):
        await run(FileResponse(twenty, stat_result=st))


@pytest.mark.anyio
async def test_file_shrinking_mid_transfer_is_not_presented_complete(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 5000)

    class Small(FileResponse):
        chunk_size = 1000

    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)
        if len(messages) == 2:
            with open(path, "r+b") as f:
                f.truncate(1500)

    with pytest.raises(RuntimeError, match="shorter than expected"):
        with anyio.fail_after(10):
            await Small(path)(make_scope(spec_version="2.4"), never_disconnect, send)
    bodies = [m for m in messages if m["type"] == "http.response.body"]
    assert all(m["more_body"] for m in bodies)


@pytest.mark.anyio
async def test_file_growing_sends_only_announced_length(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 2500)

    class Small(FileResponse):
        chunk_size = 1000

    async def send(message: Message) -> None:
        messages.append(message)
        if len(messages) == 2:
            with open(path, "ab") as f:
                f.write(b"y" * 5000)

    messages: list[Message] = []
    await Small(path)(make_scope(), never_disconnect, send)
    assert headers_of(messages)["content-length"] == "2500"
    assert body_of(messages) == b"x" * 2500


# --- disconnects ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_disconnect_stops_large_transfer_below_2_4(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 10_000)
    disconnected = anyio.Event()
    ran: list[bool] = []

    class Small(FileResponse):
        chunk_size = 100

    async def receive() -> Message:
        await disconnected.wait()
        return {"type": "http.disconnect"}

    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)
        if len(messages) == 3:
            disconnected.set()
        await anyio.sleep(0)

    async def task() -> None:
        ran.append(True)

    with anyio.fail_after(10):
        await Small(path, background=BackgroundTask(task))(make_scope(), receive, send)
    assert len(messages) < 100
    assert ran == [True]


@pytest.mark.anyio
async def test_oserror_from_send_with_asgi_2_4_propagates_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 5000)
    broken = OSError("broken pipe")

    class Small(FileResponse):
        chunk_size = 1000

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            raise broken

    with pytest.raises(OSError) as info:
        await Small(path)(make_scope(spec_version="2.4"), never_disconnect, send)
    assert info.value is broken
    assert not isinstance(info.value, ClientDisconnect)


# --- ranges ---------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("header", "body", "content_range"),
    [
        ("bytes=2-5", b"2345", "bytes 2-5/20"),
        ("bytes=-3", b"hij", "bytes 17-19/20"),
        ("bytes=15-", b"fghij", "bytes 15-19/20"),
        ("bytes=0-0", b"0", "bytes 0-0/20"),
        ("bytes=10-100", b"abcdefghij", "bytes 10-19/20"),
        ("bytes=-100", CONTENT, "bytes 0-19/20"),
        ("Bytes = 2-3", b"23", "bytes 2-3/20"),
        ("bytes=0-1,2-3", b"0123", "bytes 0-3/20"),
        ("bytes=, 3-4, x", b"34", "bytes 3-4/20"),
    ],
)
async def test_single_ranges(twenty: Path, header: str, body: bytes, content_range: str) -> None:
    messages = await run(FileResponse(twenty), make_scope(headers={"range": header}))
    assert messages[0]["status"] == 206
    headers = headers_of(messages)
    assert headers["content-range"] == content_range
    assert headers["content-length"] == str(len(body))
    assert body_of(messages) == body
    assert messages[-1]["more_body"] is False


@pytest.mark.anyio
async def test_range_on_head(twenty: Path) -> None:
    messages = await run(FileResponse(twenty), make_scope("HEAD", headers={"range": "bytes=2-5"}))
    assert messages[0]["status"] == 206
    assert headers_of(messages)["content-range"] == "bytes 2-5/20"
    assert body_of(messages) == b""


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("header", "status", "text"),
    [
        ("bytes=30-40", 416, b""),
        ("bytes=-0", 416, b""),
        ("bytes=20-", 416, b""),
    ],
)
async def test_bad_ranges(twenty: Path, header: str, status: int, text: bytes) -> None:
    ran: list[bool] = []

    async def task() -> None:
        ran.append(True)

    response = FileResponse(twenty, background=BackgroundTask(task))
    messages = await run(response, make_scope(headers={"range": header}))
    assert messages[0]["status"] == status
    headers = headers_of(messages)
    assert headers["content-type"] == "text/plain; charset=utf-8"
    if status == 416:
        assert headers["content-range"] == "bytes */20"
    assert body_of(messages) == text
    assert ran == [True]


@pytest.mark.anyio
async def test_range_on_empty_file_is_416(tmp_path: Path) -> None:
    path = tmp_path / "e"
    path.write_bytes(b"")
    messages = await run(FileResponse(path), make_scope(headers={"range": "bytes=0-"}))
    assert messages[0]["status"] == 416
    assert headers_of(messages)["content-range"] == "bytes */0"


@pytest.mark.anyio
async def test_multipart_byteranges(twenty: Path) -> None:
    messages = await run(FileResponse(twenty), make_scope(headers={"range": "bytes=0-1, 4-5, 5-7"}))
    assert messages[0]["status"] == 206
    headers = headers_of(messages)
    match = re.fullmatch(r"multipart/byteranges; boundary=([0-9a-f]{26})", headers["content-type"])
    assert match
    boundary = match.group(1)
    body = body_of(messages)
    assert int(headers["content-length"]) == len(body)
    assert (
        body
        == (
            f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 0-1/20\r\n\r\n01\r\n"
            f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 4-7/20\r\n\r\n4567\r\n"
            f"--{boundary}--"
        ).encode()
    )
    assert messages[-1]["more_body"] is False


@pytest.mark.anyio
async def test_many_overlapping_ranges_merge(twenty: Path) -> None:
    header = "bytes=" + ", ".join(f"{i}-{i + 1}" for i in range(0, 18))
    messages = await run(FileResponse(twenty), make_scope(headers={"range": header}))
    assert messages[0]["status"] == 206
    assert headers_of(messages)["content-range"] == "bytes 0-18/20"
    assert body_of(messages) == CONTENT[:19]


@pytest.mark.anyio
async def test_too_many_ranges_ignored(twenty: Path) -> None:
    header = "bytes=" + ",".join("0-1" for _ in range(101))
    messages = await run(FileResponse(twenty), make_scope(headers={"range": header}))
    assert messages[0]["status"] == 200
    assert body_of(messages) == CONTENT
    header = "bytes=" + ",".join("0-1" for _ in range(100))
    messages = await run(FileResponse(twenty), make_scope(headers={"range": header}))
    assert messages[0]["status"] == 206


@pytest.mark.anyio
async def test_if_range(twenty: Path) -> None:
    st = os.stat(twenty)
    etag = expected_etag(twenty)
    last_modified = formatdate(st.st_mtime, usegmt=True)
    for if_range, status in [
        (etag, 206),
        (last_modified, 206),
        ('"other"', 200),
        ("W/" + etag, 200),
        ("Mon, 01 Jan 2001 00:00:00 GMT", 200),
    ]:
        scope = make_scope(headers={"range": "bytes=0-1", "if-range": if_range})
        messages = await run(FileResponse(twenty), scope)
        assert messages[0]["status"] == status, if_range
        assert body_of(messages) == (b"01" if status == 206 else CONTENT)


@pytest.mark.anyio
async def test_range_ignored_for_non_200_and_post(twenty: Path) -> None:
    messages = await run(FileResponse(twenty, status_code=404), make_scope(headers={"range": "bytes=0-1"}))
    assert messages[0]["status"] == 404
    assert body_of(messages) == CONTENT
    messages = await run(FileResponse(twenty), make_scope("POST", headers={"range": "bytes=0-1"}))
    assert messages[0]["status"] == 200


@pytest.mark.anyio
async def test_range_large_file_chunks(tmp_path: Path) -> None:
    data = os.urandom(5000)
    path = tmp_path / "big.bin"
    path.write_bytes(data)

    class Small(FileResponse):
        chunk_size = 1000

    messages = await run(Small(path), make_scope(headers={"range": "bytes=100-2599,3000-3999"}))
    body = body_of(messages)
    assert data[100:2600] in body and data[3000:4000] in body
    assert int(headers_of(messages)["content-length"]) == len(body)


@pytest.mark.anyio
async def test_parse_range_is_half_open(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 100)
    st = os.stat(path)
    response = FileResponse(path)
    parsed = response._parse_range_header("bytes=10-20", st.st_size)
    assert parsed == [(10, 21)]


def test_parse_range_exceptions() -> None:
    response = FileResponse("x")
    with pytest.raises(MalformedRangeHeader) as malformed:
        response._parse_range_header("nope", 10)
    assert malformed.value.content == "Malformed range header."
    response.ignore_unusable_range = True
    assert response._parse_range_header("nope", 10) is None  # ignored (RFC 9110)
    with pytest.raises(RangeNotSatisfiable) as unsatisfiable:
        response._parse_range_header("bytes=10-", 10)
    assert unsatisfiable.value.max_size == 10


def test_generate_multipart_length_matches() -> None:
    response = FileResponse("x")
    length, header_for = response.generate_multipart([(0, 2), (4, 8)], "b" * 26, 20, "text/plain")
    body = header_for(0, 2) + b"ab\r\n" + header_for(4, 8) + b"abcd\r\n" + b"--" + b"b" * 26 + b"--"
    assert length == len(body)
    assert (
        header_for(4, 8)
        == b"--" + b"b" * 26 + b"\r\nContent-Type: text/plain\r\nContent-Range: bytes 4-7/20\r\n\r\n"
    )


@pytest.mark.anyio
async def test_many_small_ranges_one_message_per_piece_but_batched_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(1000)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    header = "bytes=" + ",".join(f"{i * 10}-{i * 10 + 2}" for i in range(100))
    real_run_sync = anyio.to_thread.run_sync
    hops: list[str] = []

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(func, "__name__", repr(func)))
        return await real_run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    messages = await run(FileResponse(path), make_scope(headers={"range": header}))
    assert messages[0]["status"] == 206
    bodies = [m["body"] for m in messages[1:]]
    # per range: part header, data, CRLF; then the closing boundary
    assert len(bodies) == 3 * 100 + 1
    assert bodies[-3:-1] == [data[990:993], b"\r\n"] and bodies[-1].endswith(b"--")
    assert int(headers_of(messages)["content-length"]) == sum(map(len, bodies))
    assert hops.count("_pread_many") == 1


@pytest.mark.anyio
async def test_multipart_on_shrunk_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 5000)

    class Small(FileResponse):
        chunk_size = 1000

    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)
        if message["type"] == "http.response.start":
            with open(path, "r+b") as f:
                f.truncate(100)

    with pytest.raises(RuntimeError, match="shorter than expected"):
        await Small(path)(make_scope(headers={"range": "bytes=0-10,3000-4000"}), never_disconnect, send)
    assert all(m.get("more_body", True) for m in messages[1:])


@pytest.mark.anyio
async def test_eager_receive_does_not_starve_large_transfer(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"z" * 5000)

    class Small(FileResponse):
        chunk_size = 1000

    async def eager_receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    messages = await run(Small(path), make_scope(), eager_receive)
    assert body_of(messages) == b"z" * 5000


@pytest.mark.anyio
async def test_response_object_can_be_sent_again_after_a_range(twenty: Path) -> None:
    response = FileResponse(twenty)
    partial = await run(response, make_scope(headers={"range": "bytes=0-1"}))
    assert partial[0]["status"] == 206
    full = await run(response, make_scope())
    assert full[0]["status"] == 200
    assert "content-range" not in headers_of(full)
    assert headers_of(full)["content-length"] == "20"
    assert body_of(full) == CONTENT


# --- the streamed file is closed on every way out ------------------------------------------------

FIVE_K = bytes(range(250)) * 20
REQUESTS = {"whole": None, "one-range": "bytes=100-", "two-ranges": "bytes=0-1499,3000-4999"}


class Chunked(FileResponse):
    chunk_size = 1000


@pytest.fixture
def five_k(tmp_path: Path) -> Path:
    path = tmp_path / "five_k.bin"
    path.write_bytes(FIVE_K)
    return path


@pytest.fixture
def handed_out(monkeypatch: pytest.MonkeyPatch) -> list[anyio.AsyncFile[bytes]]:
    """Records each file object ``anyio.open_file`` returns while the test runs."""
    handles: list[anyio.AsyncFile[bytes]] = []
    real_open_file = anyio.open_file

    async def recording(file: Any, mode: Any = "r", *args: Any, **kwargs: Any) -> Any:
        handle = await real_open_file(file, mode, *args, **kwargs)
        handles.append(handle)
        return handle

    monkeypatch.setattr(anyio, "open_file", recording)
    return handles


def request_scope(kind: str, spec_version: str | None) -> dict[str, Any]:
    range_header = REQUESTS[kind]
    return make_scope(headers={"range": range_header} if range_header else None, spec_version=spec_version)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", list(REQUESTS))
async def test_streamed_file_comes_from_anyio_open_file_and_is_closed(
    five_k: Path, handed_out: list[anyio.AsyncFile[bytes]], kind: str
) -> None:
    messages = await run(Chunked(five_k), request_scope(kind, None))
    assert messages[0]["status"] == (200 if kind == "whole" else 206)
    assert len(handed_out) == 1
    assert handed_out[0].wrapped.closed


@pytest.mark.anyio
async def test_small_whole_file_is_read_without_a_file_object(
    twenty: Path, handed_out: list[anyio.AsyncFile[bytes]]
) -> None:
    assert body_of(await run(FileResponse(twenty))) == CONTENT
    assert handed_out == []


@pytest.mark.anyio
@pytest.mark.parametrize("spec_version", ["2.3", "2.4"])
@pytest.mark.parametrize("kind", list(REQUESTS))
async def test_outside_cancellation_mid_body_closes_the_file(
    five_k: Path, handed_out: list[anyio.AsyncFile[bytes]], kind: str, spec_version: str
) -> None:
    background: list[str] = []

    async def note() -> None:
        background.append("ran")

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            outer.cancel()
            await anyio.sleep_forever()

    with anyio.fail_after(10):
        with anyio.CancelScope() as outer:
            await Chunked(five_k, background=BackgroundTask(note))(
                request_scope(kind, spec_version), never_disconnect, send
            )
    assert outer.cancelled_caught
    assert background == []
    assert [handle.wrapped.closed for handle in handed_out] == [True]


@pytest.mark.anyio
@pytest.mark.parametrize("spec_version", ["2.3", "2.4"])
@pytest.mark.parametrize("kind", list(REQUESTS))
async def test_failing_send_closes_the_file_and_its_error_propagates(
    five_k: Path, handed_out: list[anyio.AsyncFile[bytes]], kind: str, spec_version: str
) -> None:
    reset = ConnectionResetError("peer went away")
    listened: list[bool] = []

    async def receive() -> Message:
        listened.append(True)
        return await never_disconnect()

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            raise reset

    with anyio.fail_after(10), pytest.raises(OSError) as info:
        await Chunked(five_k)(request_scope(kind, spec_version), receive, send)
    assert info.value is reset
    assert [handle.wrapped.closed for handle in handed_out] == [True]
    if spec_version == "2.4":
        assert listened == []  # from 2.4 on, send itself reports the disconnect


@pytest.mark.anyio
@pytest.mark.parametrize("spec_version", [None, "2.3"])
@pytest.mark.parametrize("kind", list(REQUESTS))
async def test_disconnect_closes_the_file_before_the_background_task(
    five_k: Path, handed_out: list[anyio.AsyncFile[bytes]], kind: str, spec_version: str | None
) -> None:
    gone = anyio.Event()
    seen_by_task: list[bool] = []
    first = True

    async def receive() -> Message:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            gone.set()
            await anyio.sleep_forever()  # a client that stopped reading

    async def task() -> None:
        seen_by_task.extend(handle.wrapped.closed for handle in handed_out)

    with anyio.fail_after(10):
        await Chunked(five_k, background=BackgroundTask(task))(
            request_scope(kind, spec_version), receive, send
        )
    assert seen_by_task == [True]


# --- message layout, method spelling, header order ----------------------------------------------


@pytest.mark.anyio
async def test_multipart_sends_each_piece_as_its_own_message(twenty: Path) -> None:
    class Tiny(FileResponse):
        chunk_size = 4

    messages = await run(Tiny(twenty), make_scope(headers={"range": "bytes=1-9,12-13,13-14"}))
    assert messages[0]["status"] == 206
    boundary = headers_of(messages)["content-type"].rpartition("=")[2]

    def part(first: int, last: int) -> bytes:
        return (
            f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Range: bytes {first}-{last}/20\r\n\r\n"
        ).encode()

    assert [m["body"] for m in messages[1:]] == [
        part(1, 9), b"1234", b"5678", b"9", b"\r\n",
        part(12, 14), b"cde", b"\r\n",
        f"--{boundary}--".encode(),
    ]  # fmt: skip
    assert [m["more_body"] for m in messages[1:]] == [True] * 8 + [False]


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["head", "Head", "HEAD"])
async def test_head_in_any_letter_case_has_no_body(twenty: Path, method: str) -> None:
    messages = await run(FileResponse(twenty), make_scope(method))
    assert headers_of(messages)["content-length"] == "20"
    assert body_of(messages) == b""
    ranged = await run(FileResponse(twenty), make_scope(method, headers={"range": "bytes=3-4"}))
    assert ranged[0]["status"] == 206
    assert body_of(ranged) == b""


@pytest.mark.anyio
async def test_lower_case_get_still_honours_ranges(twenty: Path) -> None:
    messages = await run(FileResponse(twenty), make_scope("get", headers={"range": "bytes=3-4"}))
    assert messages[0]["status"] == 206
    assert body_of(messages) == b"34"


@pytest.mark.anyio
async def test_partial_content_headers_keep_their_places(twenty: Path) -> None:
    response = FileResponse(twenty, filename="data.txt", headers={"x-first": "1"})
    names = [name for name, _ in response.raw_headers]  # before sending: no stat headers yet
    full = [name.decode() for name, _ in (await run(response))[0]["headers"]]
    assert full[: len(names)] == [name.decode() for name in names]

    single = await run(response, make_scope(headers={"range": "bytes=2-5"}))
    assert [name.decode() for name, _ in single[0]["headers"]] == [*full, "content-range"]
    assert headers_of(single)["content-length"] == "4"

    multi = await run(response, make_scope(headers={"range": "bytes=0-1,5-6"}))
    multi_headers = multi[0]["headers"]
    assert [name.decode() for name, _ in multi_headers] == full
    assert dict(multi_headers)[b"content-type"].startswith(b"multipart/byteranges; boundary=")


# --- module layout ---------------------------------------------------------------------------------


@pytest.mark.parametrize("first", ["lyre.responses", "lyre._fileresponse", "lyre.staticfiles"])
def test_file_names_are_the_same_objects_whichever_module_is_imported_first(first: str) -> None:
    import subprocess
    import sys

    names = (
        "FileResponse MalformedRangeHeader RangeNotSatisfiable _guess_media_type _preload_small_file "
        "_open_file _pread _pread_many _read_then_close _request_header _stat_header_values"
    )
    script = (
        f"import importlib; importlib.import_module({first!r})\n"
        "import lyre.responses as r, lyre._fileresponse as f\n"
        f"for name in {names!r}.split():\n"
        "    assert getattr(r, name) is getattr(f, name), name\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
