"""Regressions for what the fuzzer (``make fuzz``, tests/fuzz/) found in lyre."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from lyre import Lyre
from lyre.middleware import Middleware
from lyre.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from lyre.requests import MalformedJSONError, Request
from lyre.responses import JSONResponse, Response, StreamingResponse
from lyre.routing import Route
from lyre.testclient import TestClient
from tests.fuzz.harness import Case, run_case


async def _echo_json(request: Request) -> Response:
    return JSONResponse(await request.json())


@pytest.mark.parametrize(
    "body", [b"NaN", b"Infinity", b"-Infinity", b"[1, NaN]", b'{"a": 1e999}', b"-1e400", b"[Infinity]"]
)
def test_json_that_jsonresponse_cannot_send_back_is_a_400(body: bytes) -> None:
    # Found by the fuzzer: `JSONResponse(await request.json())` answered 500 to a body of `NaN`, since
    # json.loads reads NaN/Infinity (and turns 1e999 into inf) but JSONResponse refuses them.
    client = TestClient(Lyre(routes=[Route("/", _echo_json, methods=["POST"])]))
    response = client.post("/", content=body)
    assert response.status_code == 400
    assert response.text.startswith("Invalid JSON: ")


@pytest.mark.parametrize("body", [b"NaN", b"[1e999]"])
def test_non_finite_json_is_a_value_error_too(body: bytes) -> None:
    with pytest.raises(ValueError) as info:
        Request._parse_json(body)
    assert isinstance(info.value, MalformedJSONError)


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (b"[1.5, -0.0, 1e308, 2]", [1.5, -0.0, 1e308, 2]),
        (b'{"nan": "NaN"}', {"nan": "NaN"}),
        (b"\xef\xbb\xbf{}", {}),
        ('{"a": 1}'.encode("utf-16"), {"a": 1}),
    ],
)
def test_finite_json_still_reads_as_json_loads_does(body: bytes, value: object) -> None:
    assert Request._parse_json(body) == value


# -- a StreamingResponse whose iterator reads the request body ------------------------------------------


async def _proxy(request: Request) -> Response:
    return StreamingResponse(request.stream(), media_type="application/octet-stream")


async def _transform(request: Request) -> Response:
    async def upper() -> AsyncIterator[bytes]:
        async for chunk in request.stream():
            yield chunk.upper()
        yield b"|" + (b"gone" if await request.is_disconnected() else b"here")

    return StreamingResponse(upper())


class _Pass(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        return await call_next(request)


def _streaming_app(layers: int) -> Lyre:
    return Lyre(
        routes=[Route("/proxy", _proxy, methods=["POST"]), Route("/upper", _transform, methods=["POST"])],
        middleware=[Middleware(_Pass)] * layers,
    )


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("layers", [0, 1])
@pytest.mark.parametrize(
    "chunks", [[b""], [b"abc"], [b"a", b"", b"b", b"c"]], ids=["empty", "one", "several"]
)
def test_streaming_the_request_body_back_does_not_hang(
    backend: str, layers: int, chunks: list[bytes]
) -> None:
    # Found by the fuzzer: below ASGI 2.4 the StreamingResponse's disconnect listener took the body
    # messages, so `StreamingResponse(request.stream())` waited forever (as on uvicorn, which speaks
    # 2.3 and holds receive() until the response is complete). Starlette 1.10 hangs the same way.
    app = _streaming_app(layers)
    for path, expected in [("/proxy", b"".join(chunks)), ("/upper", b"".join(chunks).upper() + b"|here")]:
        case = Case(method="POST", path=path, chunks=chunks, headers=[(b"host", b"testserver")], spec="2.3")
        outcome, problems = run_case(app, case, backend, time_limit=10)
        assert problems == []
        assert b"".join(m.get("body", b"") for m in outcome.messages[1:]) == expected


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("disconnect_at", [1, 2, 3, 4])
def test_streaming_the_request_body_back_ends_when_the_client_leaves(
    backend: str, disconnect_at: int
) -> None:
    app = _streaming_app(1)
    chunks = [b"a", b"b", b"c"]
    case = Case(
        method="POST",
        path="/proxy",
        chunks=chunks,
        headers=[(b"host", b"testserver")],
        disconnect_at=disconnect_at,
    )
    outcome, problems = run_case(app, case, backend, time_limit=10)
    assert problems == []
    assert outcome.error is None
