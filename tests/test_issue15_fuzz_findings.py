"""Regressions for what the fuzzer (``make fuzz``, tests/fuzz/) found in lyre."""

from __future__ import annotations

import pytest

from lyre import Lyre
from lyre.requests import MalformedJSONError, Request
from lyre.responses import JSONResponse, Response
from lyre.routing import Route
from lyre.testclient import TestClient


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
