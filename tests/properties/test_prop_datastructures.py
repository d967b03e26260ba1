"""Properties of URLs, query strings and headers: round-trips hold and nothing raises."""

from __future__ import annotations

import string
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lyre.datastructures import URL, Headers, MutableHeaders, QueryParams

from ._drive import budget

# Text without lone surrogates (what a decoded request can hold).
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
UNRESERVED = string.ascii_letters + string.digits + "-._~"
SEGMENT = st.text(st.sampled_from(UNRESERVED + "!$&'()*+,;=:@%"), max_size=8).map(
    lambda s: s.replace("%", "%25")
)
HOST = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9]{0,5}){0,2}", fullmatch=True)
PORT = st.none() | st.integers(1, 65535)
QUERY = st.text(st.sampled_from(UNRESERVED + "=&+%2F"), max_size=20)
FRAGMENT = st.text(st.sampled_from(UNRESERVED + "/?"), max_size=8)


@st.composite
def urls(draw: st.DrawFn) -> tuple[str, dict[str, object]]:
    scheme = draw(st.sampled_from(["http", "https", "ws", "wss"]))
    host, port = draw(HOST), draw(PORT)
    path = "/" + "/".join(draw(st.lists(SEGMENT, max_size=4)))
    query, fragment = draw(QUERY), draw(FRAGMENT)
    text = f"{scheme}://{host}{'' if port is None else f':{port}'}{path}"
    text += f"?{query}" if query else ""
    text += f"#{fragment}" if fragment else ""
    parts: dict[str, object] = {
        "scheme": scheme,
        "hostname": host,
        "port": port,
        "path": path,
        "query": query,
        "fragment": fragment,
    }
    return text, parts


@budget(60)
@given(urls())
def test_url_parts_round_trip(case: tuple[str, dict[str, object]]) -> None:
    text, parts = case
    url = URL(text)
    assert str(url) == text
    for name, value in parts.items():
        assert getattr(url, name) == value, name
    assert URL(str(url)) == url


@budget(60)
@given(urls(), urls())
def test_url_replace_takes_each_component(
    case: tuple[str, dict[str, object]], other: tuple[str, dict[str, object]]
) -> None:
    url = URL(case[0])
    _, new = other
    replaced = url.replace(
        scheme=new["scheme"], hostname=new["hostname"], port=new["port"], path=new["path"], query=new["query"]
    )
    for name in ("scheme", "hostname", "port", "path", "query"):
        assert getattr(replaced, name) == new[name], name
    assert replaced.fragment == url.fragment
    assert URL(str(replaced)) == replaced


@budget(60)
@given(urls(), st.dictionaries(TEXT, TEXT, max_size=4))
def test_url_query_helpers(case: tuple[str, dict[str, object]], params: dict[str, str]) -> None:
    url = URL(case[0])
    included = QueryParams(url.include_query_params(**{"k": "v"}, **{}).query)
    assert included["k"] == "v"
    replaced = URL(str(url)).replace_query_params(**{"x": "1"})
    assert QueryParams(replaced.query).multi_items() == [("x", "1")]
    with_params = url.replace_query_params(**{f"p{i}": v for i, v in enumerate(params.values())})
    assert dict(QueryParams(with_params.query)) == {f"p{i}": v for i, v in enumerate(params.values())}
    removed = with_params.remove_query_params(["p0"])
    assert "p0" not in QueryParams(removed.query)


@budget(80)
@given(st.lists(st.tuples(TEXT, TEXT), max_size=8))
def test_query_params_round_trip(pairs: list[tuple[str, str]]) -> None:
    params = QueryParams(pairs)
    assert QueryParams(str(params)).multi_items() == pairs
    assert QueryParams(str(params).encode("ascii")).multi_items() == pairs


@budget(100)
@given(st.text(max_size=60))
def test_query_params_parse_anything_like_parse_qsl(text: str) -> None:
    # Any text (lone surrogates, stray %, &, =, +) parses, every field kept, as parse_qsl does.
    try:
        expected = parse_qsl(text, keep_blank_values=True)
    except UnicodeEncodeError:  # lone surrogates next to an escape: parse_qsl itself gives up
        expected = None
    parsed = QueryParams(text).multi_items()
    if expected is not None:
        assert parsed == expected
    str(QueryParams(text))  # and it renders back without raising


def test_query_params_parse_is_linear() -> None:
    import time

    def seconds(n: int) -> float:
        text = "&".join(["a%20b=c+d"] * n)
        started = time.perf_counter()
        QueryParams(text)
        return time.perf_counter() - started

    small, large = min(seconds(4_000) for _ in range(5)), min(seconds(40_000) for _ in range(3))
    assert large < small * 40  # 10x the input: linear is ~10x; a quadratic parse would be ~100x


HEADER_NAME = st.text(st.sampled_from(string.ascii_letters + string.digits + "-_"), min_size=1, max_size=10)
HEADER_VALUE = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=12
)


@budget(60)
@given(
    st.lists(st.tuples(HEADER_NAME, HEADER_VALUE), max_size=6),
    st.lists(
        st.tuples(st.sampled_from(["set", "append", "del", "setdefault"]), HEADER_NAME, HEADER_VALUE),
        max_size=8,
    ),
)
def test_mutable_headers_follow_a_list_model(
    raw: list[tuple[str, str]], ops: list[tuple[str, str, str]]
) -> None:
    model = [(k.lower(), v) for k, v in raw]
    headers = MutableHeaders(raw=[(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in raw])
    for op, name, value in ops:
        key = name.lower()
        if op == "set":
            headers[name] = value
            first = next((i for i, (k, _) in enumerate(model) if k == key), None)
            model = [(k, v) for k, v in model if k != key]
            model.insert(len(model) if first is None else first, (key, value))
        elif op == "append":
            headers.append(name, value)
            model.append((key, value))
        elif op == "del":
            del headers[name]  # a missing name is a no-op, as in Starlette
            model = [(k, v) for k, v in model if k != key]
        else:
            got = headers.setdefault(name, value)
            if not any(k == key for k, _ in model):
                model.append((key, value))
            assert got == next(v for k, v in model if k == key)
        assert headers.items() == model
        for k in {k for k, _ in model}:
            assert headers.getlist(k.upper()) == [v for m, v in model if m == k]
    assert Headers(raw=headers.raw).items() == model


@budget(40)
@given(HEADER_NAME, HEADER_VALUE, st.sampled_from(["\r", "\n", "\x00"]), st.integers(0, 12))
def test_mutable_headers_refuse_injection(name: str, value: str, bad: str, at: int) -> None:
    poisoned = value[:at] + bad + value[at:]
    headers = MutableHeaders()
    with pytest.raises(ValueError):
        headers[name] = poisoned
    with pytest.raises(ValueError):
        headers.append(name + bad, value)
    assert headers.raw == []
