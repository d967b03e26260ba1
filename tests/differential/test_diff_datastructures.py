"""Datastructures, lyre against Starlette: URL (parts, replace, query helpers), QueryParams,
Headers / MutableHeaders and MultiDict under generated, well-formed input and edit sequences."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from tests.differential._harness import (
    FAST,
    PKGS,
    Pkg,
    header_values,
    lower_tokens,
    path_segments,
    query_pairs,
)


def both(fn: Callable[[Pkg], Any]) -> Any:
    """``fn`` run against each package: the results (or exception types) must be equal."""
    results = []
    for pkg in PKGS:
        try:
            results.append(fn(pkg))
        except Exception as exc:
            results.append(("raised", type(exc).__name__))
    assert results[1] == results[0], f"starlette: {results[0]!r}\nlyre:      {results[1]!r}"
    return results[0]


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "ws", "wss"]))
    userinfo = draw(st.sampled_from(["", "user@", "user:pass@", "u%40x:p%3Aw@"]))
    host = draw(
        st.sampled_from(["example.com", "EXAMPLE.org", "127.0.0.1", "[::1]", "[2001:db8::1]", "a-b.c"])
    )
    port = draw(st.sampled_from(["", ":80", ":443", ":8080"]))
    path = "/" + "/".join(quote(s) for s in draw(st.lists(path_segments, max_size=3)))
    query = draw(st.sampled_from(["", "?", "?a=1", "?a=1&b=2&a=3", "?x=%20y&z"]))
    fragment = draw(st.sampled_from(["", "#", "#frag", "#a/b?c"]))
    if draw(st.integers(0, 6)) == 0:
        return path + query + fragment  # a relative reference
    return f"{scheme}://{userinfo}{host}{port}{path}{query}{fragment}"


def url_parts(url: Any) -> list[Any]:
    return [
        str(url),
        url.scheme,
        url.netloc,
        url.path,
        url.query,
        url.fragment,
        url.username,
        url.password,
        url.hostname,
        url.port,
        url.is_secure,
    ]


@FAST
@given(urls())
def test_url_parts(raw: str) -> None:
    both(lambda pkg: url_parts(pkg.datastructures.URL(raw)))


replacements = st.fixed_dictionaries(
    {},
    optional={
        "scheme": st.sampled_from(["http", "https", "wss"]),
        "path": st.sampled_from(["", "/", "/x y", "/a/b"]),
        "query": st.sampled_from(["", "q=1", "a=b&c=d"]),
        "fragment": st.sampled_from(["", "f"]),
        "hostname": st.sampled_from(["other.org", "10.0.0.1"]),
        "port": st.sampled_from([None, 81, 8443]),
        "username": st.sampled_from([None, "bob"]),
        "password": st.sampled_from([None, "pw"]),
        "netloc": st.sampled_from(["n.example:1"]),
    },
)


@FAST
@given(urls(), replacements)
def test_url_replace(raw: str, changes: dict[str, Any]) -> None:
    both(lambda pkg: url_parts(pkg.datastructures.URL(raw).replace(**changes)))


@FAST
@given(
    urls(), st.dictionaries(st.text("abc", min_size=1, max_size=2), st.text("xy z&=", max_size=3), max_size=3)
)
def test_url_query_helpers(raw: str, params: dict[str, str]) -> None:
    keys = list(params)

    def ops(pkg: Pkg) -> list[str]:
        url = pkg.datastructures.URL(raw)
        return [
            str(url.include_query_params(**params)),
            str(url.replace_query_params(**params)),
            str(url.remove_query_params(keys)),
            str(url.remove_query_params("a")),
        ]

    both(ops)


def query_view(q: Any) -> list[Any]:
    return [
        str(q),
        q.multi_items(),
        list(q.keys()),
        list(q.values()),
        list(q.items()),
        len(q),
        [q.getlist(k) for k in q.keys()],
        repr(q),
    ]


@FAST
@given(query_pairs, st.sampled_from(["str", "bytes", "list", "dict"]))
def test_query_params(pairs: list[tuple[str, str]], form: str) -> None:
    from urllib.parse import urlencode

    def view(pkg: Pkg) -> list[Any]:
        QP = pkg.datastructures.QueryParams
        if form == "str":
            q = QP(urlencode(pairs))
        elif form == "bytes":
            q = QP(urlencode(pairs).encode())
        elif form == "list":
            q = QP(pairs)
        else:
            q = QP(dict(pairs))
        return query_view(q)

    both(view)


header_names = lower_tokens | st.sampled_from(["Vary", "X-Thing", "content-type", "SET-COOKIE"])
header_ops = st.lists(
    st.tuples(
        st.sampled_from(["set", "setdefault", "append", "del", "update", "vary", "get", "getlist", "in"]),
        header_names,
        header_values,
    ),
    max_size=8,
)


@FAST
@given(st.lists(st.tuples(lower_tokens, header_values), max_size=4), header_ops)
def test_headers_and_mutable_headers(raw: list[tuple[str, str]], ops: list[tuple[str, str, str]]) -> None:
    encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in raw]

    def run_ops(pkg: Pkg) -> list[Any]:
        ds = pkg.datastructures
        seen: list[Any] = [ds.Headers(raw=list(encoded)).items(), repr(ds.Headers(raw=list(encoded)))]
        headers = ds.MutableHeaders(raw=list(encoded))
        for op, name, value in ops:
            if op == "set":
                headers[name] = value
            elif op == "setdefault":
                seen.append(headers.setdefault(name, value))
            elif op == "append":
                headers.append(name, value)
            elif op == "del":
                if name in headers:
                    del headers[name]
            elif op == "update":
                headers.update({name: value})
            elif op == "vary":
                headers.add_vary_header(value)
            elif op == "get":
                seen.append(headers.get(name))
            elif op == "getlist":
                seen.append(headers.getlist(name))
            else:
                seen.append(name in headers)
        seen += [headers.raw, list(headers.keys()), headers.items(), dict(headers), len(headers)]
        return seen

    both(run_ops)


multidict_ops = st.lists(
    st.tuples(
        st.sampled_from(
            ["set", "append", "del", "pop", "popitem", "poplist", "setdefault", "setlist", "update", "clear"]
        ),
        st.sampled_from(["a", "b", "c"]),
        st.text("xyz", max_size=2),
    ),
    max_size=8,
)


@FAST
@given(
    st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.text("xyz", max_size=2)), max_size=5),
    multidict_ops,
)
def test_multidict(items: list[tuple[str, str]], ops: list[tuple[str, str, str]]) -> None:
    def run_ops(pkg: Pkg) -> list[Any]:
        ds = pkg.datastructures
        frozen = ds.ImmutableMultiDict(items)
        seen: list[Any] = [
            frozen.multi_items(),
            list(frozen.items()),
            repr(frozen),
            frozen == ds.ImmutableMultiDict(items),
        ]
        md = ds.MultiDict(items)
        for op, key, value in ops:
            try:
                if op == "set":
                    md[key] = value
                elif op == "append":
                    md.append(key, value)
                elif op == "del":
                    del md[key]
                elif op == "pop":
                    seen.append(md.pop(key, None))
                elif op == "popitem":
                    seen.append(md.popitem())
                elif op == "poplist":
                    seen.append(md.poplist(key))
                elif op == "setdefault":
                    seen.append(md.setdefault(key, value))
                elif op == "setlist":
                    md.setlist(key, [value, value + "2"])
                elif op == "update":
                    md.update([(key, value), (key, value + "!")])
                else:
                    md.clear()
            except KeyError:
                seen.append("KeyError")
            seen.append(md.multi_items())
        seen += [list(md.keys()), list(md.values()), md.getlist("a"), repr(md), len(md)]
        return seen

    both(run_ops)
