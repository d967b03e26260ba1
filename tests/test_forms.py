"""lyre.formparsers and request.form(): urlencoded and multipart parsing, limits, errors, cleanup."""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator
from typing import Any

import pytest

import lyre.formparsers as formparsers
from lyre.datastructures import FormData, Headers, UploadFile
from lyre.exceptions import HTTPException, StarletteDeprecationWarning
from lyre.formparsers import (
    FormMessage,
    FormParser,
    MultiPartException,
    MultiPartParser,
    MultipartPart,
)
from lyre.requests import ClientDisconnect, MalformedFormError, Request
from lyre.types import Message

BOUNDARY = "----lyreboundary7MA4YWxk"


def multipart_body(parts: list[tuple[str, Any]], boundary: str = BOUNDARY, close: bool = True) -> bytes:
    """parts: (name, str value) or (name, (filename, bytes, content_type or None))."""
    out = bytearray()
    for name, value in parts:
        out += f"--{boundary}\r\n".encode()
        if isinstance(value, tuple):
            filename, data, ctype = value
            out += f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'.encode()
            if ctype:
                out += f"Content-Type: {ctype}\r\n".encode()
            out += b"\r\n" + data + b"\r\n"
        else:
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            out += value.encode() + b"\r\n"
    if close:
        out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def chunked(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)] or [b""]


async def agen(chunks: list[bytes]) -> AsyncGenerator[bytes, None]:
    for chunk in chunks:
        yield chunk


def mp_headers(boundary: str = BOUNDARY, extra: str = "") -> Headers:
    return Headers({"content-type": f"multipart/form-data; boundary={boundary}{extra}"})


def make_request(body_chunks: list[bytes], content_type: str, disconnect: bool = False) -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "query_string": b"",
        "headers": [(b"content-type", content_type.encode("latin-1"))],
    }
    messages: list[Message] = [
        {"type": "http.request", "body": c, "more_body": disconnect or i < len(body_chunks) - 1}
        for i, c in enumerate(body_chunks)
    ]
    if disconnect:
        messages.append({"type": "http.disconnect"})

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    return Request(scope, receive)


# urlencoded -----------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("size", [1, 3, 1000])
async def test_urlencoded_spec_example(size: int) -> None:
    body = b"a=1;b=2&c=%C3%A9+x&d&=e"
    parser = FormParser(Headers(), agen(chunked(body, size)))
    form = await parser.parse()
    assert form.multi_items() == [("a", "1;b=2"), ("c", "é x"), ("d", ""), ("", "e")]


@pytest.mark.anyio
async def test_urlencoded_empty_segments_duplicates_and_order() -> None:
    form = await FormParser(Headers(), agen([b"&a=1&&b=2&a=3&", b""])).parse()
    assert form.multi_items() == [("a", "1"), ("b", "2"), ("a", "3")]
    assert form.getlist("a") == ["1", "3"]
    assert form["a"] == "3"
    assert (await FormParser(Headers(), agen([])).parse()).multi_items() == []


@pytest.mark.anyio
async def test_urlencoded_latin1_then_unquote() -> None:
    form = await FormParser(Headers(), agen([b"n=\xe9&m=%FF"])).parse()
    assert form["n"] == "é"
    assert form["m"] == "\ufffd"


@pytest.mark.anyio
async def test_urlencoded_too_many_fields() -> None:
    parser = FormParser(Headers(), agen([b"a=1&b=2&c=3"]), max_fields=2)
    with pytest.raises(MultiPartException) as info:
        await parser.parse()
    assert info.value.message == "Too many fields. Maximum number of fields is 2."
    assert str(info.value) == info.value.message


@pytest.mark.anyio
async def test_urlencoded_field_too_large_rejected_while_streaming() -> None:
    consumed = 0

    async def stream() -> AsyncGenerator[bytes, None]:
        nonlocal consumed
        for _ in range(1000):
            consumed += 1
            yield b"x" * 1024

    parser = FormParser(Headers(), stream(), max_part_size=4096)
    with pytest.raises(MultiPartException, match=r"^Field exceeded maximum size of 4KB\.$"):
        await parser.parse()
    assert consumed <= 5


@pytest.mark.anyio
async def test_urlencoded_field_size_counts_name_and_value_not_equals() -> None:
    ok = await FormParser(Headers(), agen([b"abcde=fghij"]), max_part_size=10).parse()
    assert ok["abcde"] == "fghij"
    with pytest.raises(MultiPartException, match=r"Field exceeded maximum size of 0KB\."):
        await FormParser(Headers(), agen([b"abcde=", b"fghijk"]), max_part_size=10).parse()


def test_formparser_callback_api() -> None:
    parser = FormParser(Headers(), agen([]))
    parser.on_field_start()
    parser.on_field_name(b"xnamex", 1, 5)
    parser.on_field_data(b"v%20al", 0, 6)
    parser.on_field_end()
    assert parser._items == [("name", "v al")]


# multipart ------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("size", [1, 7, 64 * 1024])
async def test_multipart_fields_and_files(size: int) -> None:
    png = bytes(range(256)) * 10
    body = multipart_body(
        [
            ("name", "Bo"),
            ("filename", ("abc.png", png, "image/png")),
            ("empty", ("", b"", None)),
            ("name", "Zo"),
        ]
    )
    parser = MultiPartParser(mp_headers(), agen(chunked(body, size)))
    form = await parser.parse()
    assert [k for k, _ in form.multi_items()] == ["name", "filename", "empty", "name"]
    assert form.getlist("name") == ["Bo", "Zo"]
    upload = form["filename"]
    assert isinstance(upload, UploadFile)
    assert upload.filename == "abc.png"
    assert upload.content_type == "image/png"
    assert upload.size == len(png)
    assert upload.headers["content-disposition"] == 'form-data; name="filename"; filename="abc.png"'
    assert await upload.read() == png
    empty = form["empty"]
    assert isinstance(empty, UploadFile)
    assert empty.filename == ""
    assert empty.content_type is None
    assert await empty.read() == b""
    await form.close()
    assert upload.file.closed


@pytest.mark.anyio
async def test_multipart_large_file_rolls_to_disk() -> None:
    data = b"0123456789abcdef" * (200 * 1024)  # 3.2 MiB
    body = multipart_body([("f", ("big.bin", data, "application/octet-stream"))])
    form = await MultiPartParser(mp_headers(), agen(chunked(body, 65536))).parse()
    upload = form["f"]
    assert isinstance(upload, UploadFile)
    assert upload.size == len(data)
    assert upload.file._rolled  # type: ignore[attr-defined]
    assert await upload.read() == data
    await form.close()


@pytest.mark.anyio
async def test_multipart_charset_and_quoted_names() -> None:
    body = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="na\\"me"; filename="../../etc/pa ss;wd"\r\n\r\n'
        "x\r\n"
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="café"\r\n\r\n'
        "é\r\n"
        f"--{BOUNDARY}--\r\n"
    ).encode("latin-1")
    form = await MultiPartParser(mp_headers(extra="; charset=latin-1"), agen([body])).parse()
    upload = form['na"me']
    assert isinstance(upload, UploadFile)
    assert upload.filename == "../../etc/pa ss;wd"
    assert form["café"] == "é"
    await form.close()


@pytest.mark.anyio
async def test_multipart_windows_path_filename_reported_as_sent() -> None:
    body = multipart_body([("f", ("C:\\Users\\bo\\a.txt", b"x", None))])
    form = await MultiPartParser(mp_headers(), agen([body])).parse()
    assert form["f"].filename == "C:\\Users\\bo\\a.txt"  # type: ignore[union-attr]
    await form.close()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("multipart/form-data", b"", "Missing boundary in multipart."),
        ("multipart/form-data; boundary=", b"", "Invalid multipart data."),
        ("multipart/form-data; boundary=" + "b" * 201, b"", "Invalid multipart data."),
        (f"multipart/form-data; boundary={BOUNDARY}", b"garbage without boundary", "Invalid multipart data."),
        (
            f"multipart/form-data; boundary={BOUNDARY}",
            f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode(),
            'The Content-Disposition header field "name" must be provided.',
        ),
        (
            f"multipart/form-data; boundary={BOUNDARY}",
            f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode(),
            'The Content-Disposition header field "name" must be provided.',
        ),
        (
            f"multipart/form-data; boundary={BOUNDARY}",
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n\r\n'.encode()
            + b"\xff\xfe\r\n"
            + f"--{BOUNDARY}--\r\n".encode(),
            "Invalid utf-8 data in multipart.",
        ),
        (
            f"multipart/form-data; boundary={BOUNDARY}",
            f"--{BOUNDARY}\r\n".encode()
            + b"X-H: v\r\n" * 5000
            + b"\r\nx\r\n"
            + f"--{BOUNDARY}--\r\n".encode(),
            "Invalid multipart data.",
        ),
        (
            f"multipart/form-data; boundary={BOUNDARY}",
            f"--{BOUNDARY}\r\nX-H: ".encode() + b"v" * 100_000 + b"\r\n\r\nx\r\n",
            "Invalid multipart data.",
        ),
    ],
)
async def test_multipart_malformed(content_type: str, body: bytes, message: str) -> None:
    parser = MultiPartParser(Headers({"content-type": content_type}), agen(chunked(body, 1000)))
    with pytest.raises(MultiPartException) as info:
        await parser.parse()
    assert info.value.message == message


@pytest.mark.anyio
@pytest.mark.parametrize("cut", [10, 60, -30, -8, -3])
async def test_multipart_cut_off_body_is_an_error(cut: int) -> None:
    body = multipart_body([("a", "1"), ("f", ("f.txt", b"hello world" * 10, "text/plain"))])
    parser = MultiPartParser(mp_headers(), agen([body[:cut]]))
    with pytest.raises(MultiPartException, match=r"^Invalid multipart data\.$"):
        await parser.parse()
    for _, value in parser.items:
        if isinstance(value, UploadFile):
            assert value.file.closed


@pytest.mark.anyio
async def test_multipart_lenient_decoding_opt_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MultiPartParser, "strict_decoding", False)
    body = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n\r\n'.encode() + b"\xe9\r\n"
    body += f"--{BOUNDARY}--\r\n".encode()
    form = await MultiPartParser(mp_headers(), agen([body])).parse()
    assert form["a"] == "é"


@pytest.mark.anyio
async def test_multipart_limits() -> None:
    body = multipart_body([("a", "1"), ("f1", ("1.txt", b"1", None)), ("f2", ("2.txt", b"2", None))])
    parser = MultiPartParser(mp_headers(), agen([body]), max_files=1)
    with pytest.raises(MultiPartException, match=r"^Too many files\. Maximum number of files is 1\.$"):
        await parser.parse()
    assert all(v.file.closed for _, v in parser.items if isinstance(v, UploadFile))

    body = multipart_body([("a", "1"), ("b", "2"), ("c", "3")])
    with pytest.raises(MultiPartException, match=r"^Too many fields\. Maximum number of fields is 2\.$"):
        await MultiPartParser(mp_headers(), agen([body]), max_fields=2).parse()

    body = multipart_body([("a", "x" * 2049)])
    with pytest.raises(MultiPartException, match=r"^Part exceeded maximum size of 2KB\.$"):
        await MultiPartParser(mp_headers(), agen(chunked(body, 100)), max_part_size=2048).parse()

    # Files have no part-size limit.
    body = multipart_body([("f", ("f.bin", b"y" * 5000, None))])
    form = await MultiPartParser(mp_headers(), agen([body]), max_part_size=2048).parse()
    assert form["f"].size == 5000  # type: ignore[union-attr]
    await form.close()


def test_multipart_class_attributes() -> None:
    assert MultiPartParser.spool_max_size == 1024 * 1024
    assert MultiPartParser.max_part_size == 1024 * 1024
    parser = MultiPartParser(mp_headers(), agen([]), max_part_size=10)
    assert parser.max_part_size == 10


@pytest.mark.anyio
async def test_multipart_disconnect_mid_upload_closes_files() -> None:
    body = multipart_body([("f", ("f.bin", b"z" * 300_000, None)), ("g", ("g.bin", b"q" * 10, None))])
    request = make_request(
        chunked(body[: len(body) - 25], 65536), f"multipart/form-data; boundary={BOUNDARY}", disconnect=True
    )
    created: list[UploadFile] = []
    original = UploadFile.__init__

    def spy(self: UploadFile, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        created.append(self)

    UploadFile.__init__ = spy  # type: ignore[method-assign]
    try:
        with pytest.raises(ClientDisconnect):
            await request.form()
    finally:
        UploadFile.__init__ = original  # type: ignore[method-assign]
    assert len(created) == 2
    assert all(upload.file.closed for upload in created)


@pytest.mark.anyio
async def test_hostile_headers_parse_in_linear_time() -> None:
    # Quadratic parsers take minutes on these; lyre's tokenizer is linear.
    nasty = 'multipart/form-data; boundary=abc; x="' + ";" * 200_000
    parser = MultiPartParser(Headers({"content-type": nasty}), agen([b"--abc--\r\n"]))
    form = await parser.parse()
    assert len(form) == 0
    assert formparsers._parse_options('a; b="' + '\\";' * 100_000)[0] == "a"


def test_parse_options() -> None:
    parse = formparsers._parse_options
    assert parse("Form-Data") == ("form-data", {})
    assert parse('form-data; Name="a b"; filename="x\\"y.txt"') == (
        "form-data",
        {"name": "a b", "filename": 'x"y.txt'},
    )
    assert parse("multipart/form-data; boundary=abc ; charset=utf-8") == (
        "multipart/form-data",
        {"boundary": "abc", "charset": "utf-8"},
    )
    assert parse("form-data; name=\"a;b\"; filename*=utf-8''x") == ("form-data", {"name": "a;b"})
    assert parse("form-data; name") == ("form-data", {"name": ""})


def test_parse_options_header_reexported() -> None:
    from python_multipart.multipart import parse_options_header

    assert formparsers.parse_options_header is parse_options_header
    with pytest.raises(AttributeError):
        formparsers.does_not_exist  # noqa: B018


def test_form_message_deprecated() -> None:
    with pytest.warns(
        StarletteDeprecationWarning,
        match="`FormMessage` is deprecated and will be removed in a future version.",
    ):
        assert FormMessage(1) is FormMessage.FIELD_START
    assert FormMessage.END.value == 5
    assert [m.name for m in FormMessage] == ["FIELD_START", "FIELD_NAME", "FIELD_DATA", "FIELD_END", "END"]


def test_multipart_part_dataclass() -> None:
    part = MultipartPart()
    assert part == MultipartPart(None, "", bytearray(), None, [])
    assert part.data is not MultipartPart().data
    assert "MultipartPart(" in repr(part)
    with pytest.raises(TypeError):
        hash(part)


def test_multipart_exception() -> None:
    exc = MultiPartException("boom")
    assert exc.message == "boom"
    assert str(exc) == "boom"
    assert isinstance(exc, Exception)


# request.form() ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_request_form_errors_are_400_http_exceptions() -> None:
    request = make_request([b"a=1&b=2"], "application/x-www-form-urlencoded")
    with pytest.raises(HTTPException) as info:
        await request.form(max_fields=1)
    exc = info.value
    assert exc.status_code == 400
    assert exc.detail == "Too many fields. Maximum number of fields is 1."
    assert isinstance(exc, MultiPartException)
    assert isinstance(exc, MalformedFormError)


@pytest.mark.anyio
async def test_request_form_content_type_dispatch_case_insensitive() -> None:
    request = make_request([multipart_body([("a", "1")])], f"Multipart/Form-Data ; boundary={BOUNDARY}")
    assert (await request.form())["a"] == "1"
    request = make_request([b"x=1"], "APPLICATION/X-WWW-FORM-URLENCODED; charset=utf-8")
    assert (await request.form())["x"] == "1"
    request = make_request([b"x=1"], "text/plain")
    assert await request.form() == FormData()


@pytest.mark.anyio
async def test_request_form_async_with_closes_files() -> None:
    body = multipart_body([("f", ("a.txt", b"hello", "text/plain"))])
    request = make_request([body], f"multipart/form-data; boundary={BOUNDARY}")
    async with request.form() as form:
        upload = form["f"]
        assert isinstance(upload, UploadFile)
        assert await upload.read() == b"hello"
        assert not upload.file.closed
    assert upload.file.closed


@pytest.mark.anyio
async def test_request_close_closes_form_files() -> None:
    body = multipart_body([("f", ("a.txt", b"hello", "text/plain"))])
    request = make_request([body], f"multipart/form-data; boundary={BOUNDARY}")
    form = await request.form()
    await request.close()
    assert form["f"].file.closed  # type: ignore[union-attr]
    await Request({"type": "http"}).close()  # no form: nothing to do


@pytest.mark.anyio
async def test_missing_python_multipart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formparsers, "_multipart", None)
    monkeypatch.setitem(sys.modules, "python_multipart", None)
    request = make_request([b"a=1"], "application/x-www-form-urlencoded")
    with pytest.raises(
        AssertionError, match="The `python-multipart` library must be installed to use form parsing."
    ) as info:
        await request.form()
    assert isinstance(info.value, ImportError)
    assert "lyre-asgi[full]" in str(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "payload",
    [
        (f"\r\n--{'b' * 199}").encode() * 2000,  # near-boundary prefixes everywhere
        b"\r\n-" * 50_000,
        b"\r" * 70_000 + b"\n" * 70_000,
        b"--" + b"b" * 200 + b"-",  # boundary text without the leading CRLF is data
    ],
)
async def test_multipart_hostile_file_data_is_preserved(payload: bytes) -> None:
    boundary = "b" * 200
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="f"; filename="x"\r\n\r\n'.encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )
    for size in (65536, 4099):
        parser = MultiPartParser(mp_headers(boundary=boundary), agen(chunked(body, size)))
        form = await parser.parse()
        upload = form["f"]
        assert isinstance(upload, UploadFile)
        assert upload.size == len(payload)
        assert await upload.read() == payload
        await form.close()


@pytest.mark.anyio
async def test_multipart_preamble_crlf_junk_is_skipped() -> None:
    body = b"\r\n" * 100_000 + multipart_body([("a", "1")])
    form = await MultiPartParser(mp_headers(), agen(chunked(body, 65536))).parse()
    assert form["a"] == "1"


@pytest.mark.anyio
async def test_small_upload_read_back_is_zero_copy_and_seekable() -> None:
    data = b"abc" * 1000
    body = multipart_body([("f", ("a.txt", data, "text/plain"))])
    form = await MultiPartParser(mp_headers(), agen([body])).parse()
    upload = form["f"]
    assert isinstance(upload, UploadFile)
    assert upload.size == len(data)
    assert await upload.read(3) == b"abc"
    await upload.seek(0)
    assert await upload.read() == data
    await upload.write(b"more")
    assert upload.size == len(data) + 4
    await upload.seek(0)
    assert await upload.read() == data + b"more"
    await form.close()


def test_formparser_callback_api_name_with_equals_and_limit() -> None:
    parser = FormParser(Headers(), agen([]), max_fields=1)
    parser.on_field_start()
    parser.on_field_name(b"a=b", 0, 3)
    parser.on_field_data(b"c", 0, 1)
    parser.on_field_end()
    assert parser._items == [("a=b", "c")]
    parser.on_field_start()
    with pytest.raises(MultiPartException, match="Too many fields"):
        parser.on_field_end()
    parser = FormParser(Headers(), agen([]), max_part_size=3)
    parser.on_field_start()
    with pytest.raises(MultiPartException, match="Field exceeded maximum size of 0KB."):
        parser.on_field_data(b"abcd", 0, 4)


@pytest.mark.anyio
async def test_urlencoded_long_field_in_one_byte_chunks() -> None:
    body = b"k=" + b"v" * 20_000 + b"&x=%41+b"
    form = await FormParser(Headers(), agen(chunked(body, 1))).parse()
    assert form["k"] == "v" * 20_000
    assert form["x"] == "A b"


@pytest.mark.anyio
async def test_urlencoded_many_fields_one_chunk() -> None:
    body = "&".join(f"f{i}=v+{i}" for i in range(1000)).encode()
    form = await FormParser(Headers(), agen([body])).parse()
    assert len(form) == 1000
    assert form["f999"] == "v 999"
    with pytest.raises(MultiPartException, match="Maximum number of fields is 999"):
        await FormParser(Headers(), agen([body]), max_fields=999).parse()


def test_importing_lyre_requests_does_not_import_python_multipart() -> None:
    import subprocess

    code = (
        "import sys, lyre.requests, lyre.formparsers\n"
        "assert 'python_multipart' not in sys.modules, 'imported too early'\n"
        "from lyre.requests import parse_options_header\n"
        "assert 'python_multipart' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.anyio
async def test_multipart_mutable_chunks_are_copied() -> None:
    data = b"0123456789" * 1000
    body = multipart_body([("f", ("a.bin", data, None))])
    buffer = bytearray()

    async def reused_buffer() -> AsyncGenerator[bytes, None]:
        for i in range(0, len(body), 1000):
            buffer[:] = body[i : i + 1000]
            yield buffer  # type: ignore[misc]
            buffer[:] = b"X" * len(buffer)  # the producer reuses its buffer

    form = await MultiPartParser(mp_headers(), reused_buffer()).parse()
    assert await form["f"].read() == data  # type: ignore[union-attr]
    await form.close()


@pytest.mark.anyio
async def test_multipart_random_chunkings_give_identical_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    # Small spool and batch sizes so that in-memory, rolled-over and batched paths all run.
    monkeypatch.setattr(MultiPartParser, "spool_max_size", 3000)
    monkeypatch.setattr(formparsers, "_DISK_BATCH", 2000)
    rng = random.Random(1234)
    for round_ in range(40):
        parts: list[tuple[str, Any]] = []
        for i in range(rng.randint(1, 6)):
            if rng.random() < 0.5:
                size = rng.choice([0, 1, 100, 2999, 3000, 3001, 7000])
                data = bytes(rng.getrandbits(8) for _ in range(size))
                parts.append((f"f{i}", (f"n{i}.bin", data, "application/octet-stream")))
            else:
                parts.append((f"t{i}", "v" * rng.randint(0, 50)))
        body = multipart_body(parts)
        cuts = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randint(0, 40))))
        chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        form = await MultiPartParser(mp_headers(), agen(chunks)).parse()
        got = form.multi_items()
        assert [k for k, _ in got] == [k for k, _ in parts], round_
        for (_, value), (_, expected) in zip(got, parts, strict=True):
            if isinstance(expected, tuple):
                assert isinstance(value, UploadFile)
                assert value.filename == expected[0]
                assert value.size == len(expected[1])
                assert await value.read() == expected[1], round_
            else:
                assert value == expected
        await form.close()


@pytest.mark.anyio
@pytest.mark.parametrize("size", [1, 2, 5, 100])
async def test_urlencoded_plus_and_encoded_plus(size: int) -> None:
    body = b"a+b=1+2%2B3&%2B=%25+&x=%zz+%"
    form = await FormParser(Headers(), agen(chunked(body, size))).parse()
    assert form.multi_items() == [("a b", "1 2+3"), ("+", "% "), ("x", "%zz %")]


@pytest.mark.anyio
async def test_multipart_one_byte_chunks_do_not_inflate_memory() -> None:
    import tracemalloc

    data = bytes(range(256)) * 64  # 16 KiB, as 16 K one-byte chunks
    body = multipart_body([("f", ("x.bin", data, None))])
    tracemalloc.start()
    try:
        form = await MultiPartParser(mp_headers(), agen(chunked(body, 1))).parse()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert await form["f"].read() == data  # type: ignore[union-attr]
    await form.close()
    assert peak < 1024 * 1024


@pytest.mark.anyio
async def test_multipart_empty_body_is_an_empty_form() -> None:
    """As in Starlette (FastAPI reports the missing fields as 422 from it); a cut body stays a 400."""
    parser = MultiPartParser(Headers({"content-type": f"multipart/form-data; boundary={BOUNDARY}"}), agen([]))
    form = await parser.parse()
    assert list(form.multi_items()) == []
    cut = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n\r\nx'.encode()
    parser = MultiPartParser(
        Headers({"content-type": f"multipart/form-data; boundary={BOUNDARY}"}), agen([cut])
    )
    with pytest.raises(MultiPartException, match="Invalid multipart data."):
        await parser.parse()


# Limits inside one chunk, charsets, substituted temp files -------------------------------------


@pytest.mark.anyio
async def test_urlencoded_field_limit_stops_inside_one_big_chunk() -> None:
    body = b"&".join(b"k%d=v" % i for i in range(50_000))
    parser = FormParser(Headers(), agen([body]), max_fields=5)
    with pytest.raises(MultiPartException, match=r"^Too many fields\. Maximum number of fields is 5\.$"):
        await parser.parse()
    # Counting stopped at the first field over the limit; only the allowed ones were kept.
    assert parser._current_fields == 6
    assert len(parser._items) == 5


@pytest.mark.anyio
@pytest.mark.parametrize("prefix", [b"", b"a=1&"])
async def test_urlencoded_oversized_value_in_one_chunk_is_not_buffered(prefix: bytes) -> None:
    parser = FormParser(Headers(), agen([prefix + b"big=" + b"z" * 2_000_000]), max_part_size=2048)
    with pytest.raises(MultiPartException, match=r"^Field exceeded maximum size of 2KB\.$"):
        await parser.parse()
    assert len(parser._field_name) + len(parser._field_value) <= 2048


@pytest.mark.anyio
@pytest.mark.parametrize("size", [1, 4, 9, 5000])
async def test_urlencoded_carried_field_and_exact_size_limit(size: int) -> None:
    # "abcd=efgh" is 8 bytes of name and value: allowed at max_part_size=8, refused at 7.
    body = b"x=1&abcd=efgh&y=%41+"
    form = await FormParser(Headers(), agen(chunked(body, size)), max_part_size=8).parse()
    assert form.multi_items() == [("x", "1"), ("abcd", "efgh"), ("y", "A ")]
    with pytest.raises(MultiPartException, match="Field exceeded"):
        await FormParser(Headers(), agen(chunked(body, size)), max_part_size=7).parse()


def charset_body(value: bytes) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="v"\r\n\r\n'.encode()
        + value
        + f'\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="w"\r\n\r\nw\r\n--{BOUNDARY}--\r\n'.encode()
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("charset", "value", "expected"),
    [
        ("no-such-codec", b"\xe9t\xe9", "\xe9t\xe9"),  # unknown: latin-1, as Starlette
        ("base64", b"\xfcber", "\xfcber"),  # not a text encoding: latin-1 too
        ("iso-8859-2", b"\xb1", "\u0105"),
        ("UTF8", "\u017c\xf3\u0142w".encode(), "\u017c\xf3\u0142w"),
    ],
)
async def test_multipart_charset_resolution(charset: str, value: bytes, expected: str) -> None:
    form = await MultiPartParser(
        mp_headers(extra=f"; charset={charset}"), agen([charset_body(value)])
    ).parse()
    assert form.multi_items() == [("v", expected), ("w", "w")]


@pytest.mark.anyio
async def test_multipart_charset_is_looked_up_once_per_form() -> None:
    import codecs

    seen: list[str] = []

    def search(name: str) -> None:
        seen.append(name)

    codecs.register(search)
    try:
        form = await MultiPartParser(
            mp_headers(extra="; charset=lyre-unknown"), agen([charset_body(b"x")])
        ).parse()
    finally:
        codecs.unregister(search)
    assert form["v"] == "x"
    assert seen == ["lyre_unknown"]


@pytest.mark.anyio
async def test_multipart_invalid_bytes_in_known_charset_stay_a_400() -> None:
    with pytest.raises(MultiPartException, match=r"^Invalid utf-8 data in multipart\.$"):
        await MultiPartParser(mp_headers(extra="; charset=utf-8"), agen([charset_body(b"\xe9")])).parse()


@pytest.mark.anyio
async def test_multipart_substituted_temp_file_write_errors_propagate_and_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tempfile import SpooledTemporaryFile

    closed: list[bool] = []

    class Broken(SpooledTemporaryFile):  # type: ignore[type-arg]
        def write(self, s: Any) -> int:
            raise OSError("no space left")

        def close(self) -> None:
            closed.append(True)
            super().close()

    monkeypatch.setattr(formparsers, "SpooledTemporaryFile", Broken)
    body = multipart_body([("f", ("f.txt", b"payload", "text/plain"))])
    with pytest.raises(OSError, match="no space left"):
        await MultiPartParser(mp_headers(), agen([body])).parse()
    assert closed


@pytest.mark.anyio
async def test_multipart_substituted_temp_file_gets_write_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    from tempfile import SpooledTemporaryFile

    writes: list[int] = []

    class Recording(SpooledTemporaryFile):  # type: ignore[type-arg]
        def write(self, s: Any) -> int:
            writes.append(len(s))
            return super().write(s)

    monkeypatch.setattr(formparsers, "SpooledTemporaryFile", Recording)
    data = bytes(range(256)) * 40
    form = await MultiPartParser(
        mp_headers(), agen(chunked(multipart_body([("f", ("f", data, None))]), 3000))
    ).parse()
    upload = form["f"]
    assert isinstance(upload, UploadFile)
    assert await upload.read() == data
    assert sum(writes) == len(data)
    await form.close()


def test_python_multipart_names_resolve_lazily() -> None:
    import python_multipart

    assert formparsers.multipart is python_multipart
    assert formparsers.FormParserError is python_multipart.exceptions.FormParserError
    with pytest.raises(AttributeError):
        formparsers.no_such_name  # noqa: B018
