"""Speed and ratio of gzip, brotli (``brotli`` and ``brotlicffi``) and zstd on typical response bodies.

Run ``.venv/bin/python bench/compression.py`` (``--quick`` for a short run). Prints a markdown table
per payload: compressed size and ratio, compression time per response and throughput, for one-shot
responses and for a stream of 4 KiB chunks flushed one by one (what a streaming response costs).
The payloads are generated deterministically: an HTML listing page (~64 KiB) and a JSON API answer
(~64 KiB) with realistic repetition (tags, keys) and variety (words, numbers, ids).
A missing library is reported and skipped. CompressionMiddleware's default levels come from here.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import zlib
from collections.abc import Callable

WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
    "quebec romeo sierra tango uniform victor whiskey xray yankee zulu order invoice customer product "
    "shipping pending delivered cancelled review rating price discount account settings profile search"
).split()


def html_payload(rng: random.Random, size: int = 64 * 1024) -> bytes:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Orders</title>"
        "<link rel='stylesheet' href='/static/site.css'></head><body><nav class='top'>"
        "<a href='/'>Home</a> <a href='/orders'>Orders</a> <a href='/account'>Account</a></nav>"
        "<main><h1>Recent orders</h1><table class='orders'><thead><tr><th>#</th><th>Customer</th>"
        "<th>Item</th><th>Status</th><th>Total</th></tr></thead><tbody>"
    ]
    n = 0
    while sum(map(len, parts)) < size:
        n += 1
        name = " ".join(rng.choice(WORDS).capitalize() for _ in range(2))
        item = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5)))
        status = rng.choice(["pending", "shipped", "delivered", "cancelled"])
        parts.append(
            f"<tr class='row {status}'><td><a href='/orders/{100000 + n}'>{100000 + n}</a></td>"
            f"<td>{name}</td><td>{item}</td><td><span class='badge badge-{status}'>{status}</span></td>"
            f"<td class='num'>{rng.randint(1, 99999) / 100:.2f} EUR</td></tr>"
        )
    parts.append("</tbody></table></main><footer>&copy; lyre bench</footer></body></html>")
    return "".join(parts).encode()


def json_payload(rng: random.Random, size: int = 64 * 1024) -> bytes:
    items: list[dict[str, object]] = []
    while len(json.dumps(items)) < size:
        items.append(
            {
                "id": rng.randint(1, 10**9),
                "name": " ".join(rng.choice(WORDS) for _ in range(3)),
                "email": f"{rng.choice(WORDS)}.{rng.choice(WORDS)}@example.com",
                "active": rng.random() < 0.7,
                "score": round(rng.random() * 100, 3),
                "tags": rng.sample(WORDS, 3),
                "created_at": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T12:{rng.randint(0, 59):02d}:00Z",
            }
        )
    return json.dumps({"count": len(items), "items": items}).encode()


Stream = Callable[[list[bytes]], bytes]


def gzip_stream(level: int) -> Stream:
    def run(chunks: list[bytes]) -> bytes:
        c = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        out = [c.compress(chunk) + c.flush(zlib.Z_SYNC_FLUSH) for chunk in chunks[:-1]]
        out.append(c.compress(chunks[-1]) + c.flush(zlib.Z_FINISH))
        return b"".join(out)

    return run


def brotli_stream(module: object, level: int) -> Stream:
    def run(chunks: list[bytes]) -> bytes:
        c = module.Compressor(quality=level)  # type: ignore[attr-defined]
        out = [c.process(chunk) + c.flush() for chunk in chunks[:-1]]
        out.append(c.process(chunks[-1]) + c.finish())
        return b"".join(out)

    return run


def zstd_stream(module: object, level: int) -> Stream:
    def run(chunks: list[bytes]) -> bytes:
        c = module.ZstdCompressor(level=level).compressobj()  # type: ignore[attr-defined]
        block = module.COMPRESSOBJ_FLUSH_BLOCK  # type: ignore[attr-defined]
        out = [c.compress(chunk) + c.flush(block) for chunk in chunks[:-1]]
        out.append(c.compress(chunks[-1]) + c.flush())
        return b"".join(out)

    return run


def candidates() -> list[tuple[str, int, Stream]]:
    found: list[tuple[str, int, Stream]] = [("gzip", level, gzip_stream(level)) for level in (1, 4, 6, 9)]
    try:
        import brotli

        found += [("brotli", level, brotli_stream(brotli, level)) for level in (0, 1, 3, 4, 5, 6, 8, 11)]
    except ImportError:
        print("brotli not installed: skipped")
    try:
        import brotlicffi

        found += [("brotlicffi", level, brotli_stream(brotlicffi, level)) for level in (4, 11)]
    except ImportError:
        print("brotlicffi not installed: skipped")
    try:
        import zstandard

        found += [("zstd", level, zstd_stream(zstandard, level)) for level in (1, 3, 6, 10, 19)]
    except ImportError:
        print("zstandard not installed: skipped")
    return found


def best_time(function: Callable[[], object], budget: float) -> float:
    """The fastest of repeated runs within ``budget`` seconds (at least 3 runs)."""
    best = float("inf")
    start = time.perf_counter()
    runs = 0
    while runs < 3 or time.perf_counter() - start < budget:
        t0 = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - t0)
        runs += 1
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short timing budget per cell")
    args = parser.parse_args()
    budget = 0.05 if args.quick else 0.4
    rng = random.Random(17)
    payloads = {"HTML": html_payload(rng), "JSON": json_payload(rng)}
    for label, body in payloads.items():
        whole = [body]
        chunks = [body[i : i + 4096] for i in range(0, len(body), 4096)]
        print(f"\n### {label} payload: {len(body)} bytes\n")
        print("| coding | level | size | ratio | one-shot µs | MB/s | 4 KiB-chunk stream size | stream µs |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, level, run in candidates():
            size = len(run(whole))
            seconds = best_time(lambda: run(whole), budget)
            stream_size = len(run(chunks))
            stream_seconds = best_time(lambda: run(chunks), budget)
            print(
                f"| {name} | {level} | {size} | {len(body) / size:.2f} | {seconds * 1e6:.0f} | "
                f"{len(body) / seconds / 1e6:.0f} | {stream_size} | {stream_seconds * 1e6:.0f} |"
            )


if __name__ == "__main__":
    main()
