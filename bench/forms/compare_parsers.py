"""Form parsing benchmarks for lyre (results in bench/forms/README.md).

    python bench/forms/compare_parsers.py parsers     # multipart parser libraries, raw parse cost
    python bench/forms/compare_parsers.py frameworks  # 1 MiB upload, lyre vs Starlette, in-process ASGI
    python bench/forms/compare_parsers.py memory      # 100 MiB upload through lyre: peak memory
    python bench/forms/compare_parsers.py all

Run it with the interpreter of `.venv-bench` (which has starlette==1.10.0, python-multipart,
multipart and streaming-form-data); lyre is imported from this checkout. Libraries that are not
installed are skipped. Timings are medians of repeated runs, on the same machine in the same run.
"""

from __future__ import annotations

import gc
import importlib.util
import io
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

BOUNDARY = "----lyreBenchBoundary3f9a1c"
CHUNK = 64 * 1024


# Bodies ----------------------------------------------------------------------------------------


def file_part(name: str, filename: str, data: bytes) -> bytes:
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + data + b"\r\n"


def field_part(name: str, value: str) -> bytes:
    return f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()


def closing() -> bytes:
    return f"--{BOUNDARY}--\r\n".encode()


def upload_body(size: int) -> bytes:
    data = os.urandom(size)
    return field_part("title", "holiday") + file_part("file", "data.bin", data) + closing()


def fields_body(n: int) -> bytes:
    return b"".join(field_part(f"field{i}", f"value number {i}") for i in range(n)) + closing()


def chunks_of(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


# Parser adapters: each parses the chunks, writes part data into a BytesIO per part, returns parts.


def parse_python_multipart(chunks: list[bytes], names: list[str]) -> int:
    from python_multipart.multipart import MultipartParser

    parts: list[io.BytesIO] = []
    current: list[io.BytesIO] = []

    def on_part_begin() -> None:
        sink = io.BytesIO()
        parts.append(sink)
        current[:] = [sink]

    def on_part_data(data: bytes, start: int, end: int) -> None:
        current[0].write(memoryview(data)[start:end])

    headers: list[bytes] = []

    def on_header_value(data: bytes, start: int, end: int) -> None:
        headers.append(data[start:end])

    parser = MultipartParser(
        BOUNDARY.encode(),
        {"on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_header_value": on_header_value},
    )
    for chunk in chunks:
        parser.write(chunk)
    parser.finalize()
    return len(parts)


def _load_defnull_multipart() -> Any:
    # `python-multipart` also installs a `multipart` package that shadows the `multipart` module of
    # the `multipart` distribution; load the latter from its file.
    for entry in sys.path:
        candidate = Path(entry) / "multipart.py"
        if candidate.is_file():
            spec = importlib.util.spec_from_file_location("defnull_multipart", candidate)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    raise ImportError("multipart (defnull) is not installed")


def parse_multipart(chunks: list[bytes], names: list[str]) -> int:
    mp = DEFNULL
    parts: list[io.BytesIO] = []
    sink = io.BytesIO()
    with mp.PushMultipartParser(BOUNDARY, max_segment_count=100_000) as parser:
        for chunk in [*chunks, b""]:
            for event in parser.parse(chunk):
                if isinstance(event, mp.MultipartSegment):
                    sink = io.BytesIO()
                    parts.append(sink)
                elif event:
                    sink.write(event)
    return len(parts)


def parse_streaming_form_data(chunks: list[bytes], names: list[str]) -> int:
    from streaming_form_data import StreamingFormDataParser
    from streaming_form_data.targets import BaseTarget

    class Sink(BaseTarget):
        def __init__(self) -> None:
            super().__init__()
            self.buf = io.BytesIO()

        def on_data_received(self, chunk: bytes) -> None:
            self.buf.write(chunk)

    parser = StreamingFormDataParser(headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    # streaming-form-data only delivers fields registered up front (unknown names are dropped).
    sinks = [Sink() for _ in names]
    for name, sink in zip(names, sinks, strict=True):
        parser.register(name, sink)
    for chunk in chunks:
        parser.data_received(chunk)
    return len(sinks)


def parse_own(chunks: list[bytes], names: list[str]) -> int:
    from own_parser import OwnMultipartParser

    parts: list[io.BytesIO] = []
    current: list[io.BytesIO] = []

    def on_part_begin() -> None:
        sink = io.BytesIO()
        parts.append(sink)
        current[:] = [sink]

    def on_part_data(data: bytes, start: int, end: int) -> None:
        current[0].write(memoryview(data)[start:end])

    headers: list[bytes] = []

    def on_header_value(data: bytes, start: int, end: int) -> None:
        headers.append(data[start:end])

    parser = OwnMultipartParser(
        BOUNDARY.encode(),
        {"on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_header_value": on_header_value},
    )
    for chunk in chunks:
        parser.write(chunk)
    parser.finalize()
    return len(parts)


PARSERS: dict[str, Callable[[list[bytes], list[str]], int]] = {}
try:
    import python_multipart  # noqa: F401

    PARSERS["python-multipart"] = parse_python_multipart
except ImportError:
    pass
try:
    DEFNULL = _load_defnull_multipart()
    PARSERS["multipart"] = parse_multipart
except ImportError:
    pass
try:
    import streaming_form_data  # noqa: F401

    PARSERS["streaming-form-data"] = parse_streaming_form_data
except ImportError:
    pass
sys.path.insert(0, str(Path(__file__).resolve().parent))
PARSERS["own prototype"] = parse_own


def timed(fn: Callable[[], Any], repeat: int) -> float:
    """Median seconds of ``repeat`` runs (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_parsers() -> None:
    small_file_form = b"".join(field_part(f"f{i}", "x" * 20) for i in range(10))
    small_file_form += file_part("file", "small.bin", os.urandom(16 * 1024)) + closing()
    scenarios = [
        ("1 MiB upload, 64 KiB chunks", chunks_of(upload_body(1024 * 1024), CHUNK), ["title", "file"], 30),
        (
            "50 MiB upload, 64 KiB chunks",
            chunks_of(upload_body(50 * 1024 * 1024), CHUNK),
            ["title", "file"],
            5,
        ),
        ("1,000 small fields", chunks_of(fields_body(1000), CHUNK), [f"field{i}" for i in range(1000)], 30),
        (
            "17 KiB form in 1-byte chunks",
            chunks_of(small_file_form, 1),
            [*(f"f{i}" for i in range(10)), "file"],
            5,
        ),
    ]
    print(f"python {sys.version.split()[0]}; median time per parse (lower is better)\n")
    header = "| scenario | " + " | ".join(PARSERS) + " |"
    print(header)
    print("|" + "---|" * (len(PARSERS) + 1))
    for title, chunks, names, repeat in scenarios:
        size = sum(map(len, chunks))
        cells = []
        for parser in PARSERS.values():
            seconds = timed(lambda p=parser: p(chunks, names), repeat)  # type: ignore[misc]
            cells.append(f"{seconds * 1000:.2f} ms ({size / seconds / 1e6:.0f} MB/s)")
        print(f"| {title} | " + " | ".join(cells) + " |")


# Frameworks ------------------------------------------------------------------------------------


def asgi_driver(app: Any, body_chunks: list[bytes], content_type: str) -> Callable[[], Any]:
    headers = [
        (b"host", b"testserver"),
        (b"content-type", content_type.encode()),
        (b"content-length", str(sum(map(len, body_chunks))).encode()),
    ]
    base_scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/upload",
        "raw_path": b"/upload",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5000),
    }
    last = len(body_chunks) - 1

    async def one_request() -> None:
        index = 0
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            nonlocal index
            if index > last:
                return {"type": "http.disconnect"}
            message = {"type": "http.request", "body": body_chunks[index], "more_body": index < last}
            index += 1
            return message

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(dict(base_scope), receive, send)
        assert status == [200], status

    return one_request


def build_lyre_app() -> Any:
    from lyre.applications import Lyre
    from lyre.responses import PlainTextResponse
    from lyre.routing import Route

    async def upload(request: Any) -> Any:
        form = await request.form()
        data = await form["file"].read()
        await form.close()
        return PlainTextResponse(str(len(data)))

    return Lyre(routes=[Route("/upload", upload, methods=["POST"])], max_body_size=None)


def build_starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def upload(request: Any) -> Any:
        form = await request.form()
        data = await form["file"].read()
        await form.close()
        return PlainTextResponse(str(len(data)))

    return Starlette(routes=[Route("/upload", upload, methods=["POST"])])


def framework_once(name: str, payload_kind: str, heap: str = "compact", n: int = 300) -> float:
    """Median seconds per request of ``n`` requests against one app, in this process.

    ``heap="pinned"`` keeps the whole request body alive as one 1 MiB object (as a server holding any
    long-lived large object would): glibc then serves the request's own ~1 MiB buffers by mmap and
    page-faults them on every request instead of reusing heap memory.
    """
    import anyio

    if payload_kind == "random":
        payload = os.urandom(1024 * 1024)
    else:  # every byte value in turn, as bench/harness.py's multipart scenario
        payload = bytes(range(256)) * 4096
    whole = field_part("title", "report") + file_part("file", "data.bin", payload) + closing()
    body = chunks_of(whole, CHUNK)
    if heap != "pinned":
        del whole
    app = build_lyre_app() if name == "lyre" else build_starlette_app()
    driver = asgi_driver(app, body, f"multipart/form-data; boundary={BOUNDARY}")

    async def run() -> float:
        for _ in range(20):
            await driver()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            await driver()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    return anyio.run(run)


def bench_frameworks(rounds: int = 3) -> None:
    """Each (framework, payload) measured in ``rounds`` fresh processes, alternating the order.

    Fresh processes matter: a 1 MiB buffer is cheap when glibc serves it from an already-grown heap
    and ~1 ms slower when it is mmapped and page-faulted anew, and which one happens depends on what
    the process allocated before.
    """
    try:
        import starlette  # noqa: F401

        names = ["lyre", "starlette"]
    except ImportError:
        print("(starlette not installed: lyre only)")
        names = ["lyre"]
    print("1 MiB upload + one text field, 64 KiB chunks, in-process ASGI on asyncio;")
    print(f"median µs/request of 300 requests, in each of {rounds} fresh processes\n")
    print("| payload, heap | " + " | ".join(names) + (" | Starlette / lyre |" if len(names) == 2 else " |"))
    print("|---|" + "---|" * len(names) + ("---|" if len(names) == 2 else ""))
    for payload_kind, heap in (
        ("random", "compact"),
        ("periodic", "compact"),
        ("random", "pinned"),
        ("periodic", "pinned"),
    ):
        samples: dict[str, list[float]] = {name: [] for name in names}
        for r in range(rounds):
            for name in names if r % 2 == 0 else list(reversed(names)):
                out = subprocess.run(
                    [sys.executable, __file__, "framework-once", name, payload_kind, heap],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                samples[name].append(float(out.strip()))
        cells = [" / ".join(f"{v * 1e6:.0f}" for v in samples[name]) for name in names]
        row = f"| {payload_kind}, {heap} | " + " | ".join(cells)
        if len(names) == 2:
            ratios = sorted(s / ly for s, ly in zip(samples["starlette"], samples["lyre"], strict=True))
            row += f" | {ratios[0]:.1f}x - {ratios[-1]:.1f}x"
        print(row + " |")


# Memory ----------------------------------------------------------------------------------------


def bench_memory(total: int = 100 * 1024 * 1024) -> None:
    """Upload ``total`` bytes through the lyre app; the body is generated on the fly."""
    import anyio

    app = build_memory_app()
    head = (
        field_part("title", "big")
        + (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
    )
    tail = b"\r\n" + closing()
    block = os.urandom(CHUNK)
    n_blocks = total // CHUNK
    headers = [
        (b"host", b"testserver"),
        (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/upload",
        "raw_path": b"/upload",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5000),
    }

    async def main() -> list[Any]:
        state = {"i": -1}
        sent: list[Any] = []

        async def receive() -> dict[str, Any]:
            i = state["i"]
            state["i"] += 1
            if i == -1:
                return {"type": "http.request", "body": head, "more_body": True}
            if i < n_blocks:
                return {"type": "http.request", "body": block, "more_body": True}
            if i == n_blocks:
                return {"type": "http.request", "body": tail, "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return sent

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    t0 = time.perf_counter()
    sent = anyio.run(main)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert sent[0]["status"] == 200, sent
    print(f"{total / 1024 / 1024:.0f} MiB upload through lyre (file rolled to disk), 64 KiB chunks:")
    print(f"  response body: {sent[1]['body'].decode()}")
    print(f"  tracemalloc peak: {peak / 1024 / 1024:.2f} MiB (Python allocations, under tracing)")
    print(
        f"  ru_maxrss: {rss_after / 1024:.1f} MiB process peak (was {rss_before / 1024:.1f} MiB before the upload)"
    )
    print(f"  time (with tracemalloc on): {elapsed:.2f} s")


def build_memory_app() -> Any:
    from lyre.applications import Lyre
    from lyre.responses import PlainTextResponse
    from lyre.routing import Route

    async def upload(request: Any) -> Any:
        async with request.form() as form:
            f = form["file"]
            return PlainTextResponse(f"size={f.size} rolled={getattr(f.file, '_rolled', None)}")

    return Lyre(routes=[Route("/upload", upload, methods=["POST"])], max_body_size=None)


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what == "framework-once":
        print(framework_once(sys.argv[2], sys.argv[3], sys.argv[4]))
        sys.exit(0)
    if what in ("parsers", "all"):
        bench_parsers()
        print()
    if what in ("frameworks", "all"):
        bench_frameworks()
        print()
    if what == "memory":
        bench_memory()
    elif what == "all":
        # A fresh process, so that the other benchmarks' data does not count in its peak.
        subprocess.run([sys.executable, __file__, "memory"], check=True)
