"""Behaviour of lyre.datastructures as the spec describes it (datastructures.md)."""

from __future__ import annotations

import copy
import io
import pickle
import threading
from collections.abc import Mapping, Sequence
from tempfile import SpooledTemporaryFile
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit

import pytest

import lyre.datastructures as ds
from lyre.datastructures import (
    URL,
    Address,
    CommaSeparatedStrings,
    FormData,
    Headers,
    ImmutableMultiDict,
    MultiDict,
    MutableHeaders,
    QueryParams,
    Secret,
    State,
    UploadFile,
    URLPath,
)

# --------------------------------------------------------------------------------------------------
# Import surface
# --------------------------------------------------------------------------------------------------


def test_every_reference_name_is_importable() -> None:
    from lyre._utils import parse_host_header
    from lyre.concurrency import run_in_threadpool
    from lyre.types import Scope

    for name in [
        "Address",
        "URL",
        "URLPath",
        "Secret",
        "CommaSeparatedStrings",
        "ImmutableMultiDict",
        "MultiDict",
        "QueryParams",
        "UploadFile",
        "FormData",
        "Headers",
        "MutableHeaders",
        "State",
        "Scope",
        "parse_host_header",
        "run_in_threadpool",
    ]:
        assert hasattr(ds, name), name
    assert ds.parse_host_header is parse_host_header
    assert ds.run_in_threadpool is run_in_threadpool
    assert ds.Scope is Scope


# --------------------------------------------------------------------------------------------------
# Address
# --------------------------------------------------------------------------------------------------


def test_address() -> None:
    addr = Address("1.2.3.4", 5)
    assert repr(addr) == "Address(host='1.2.3.4', port=5)"
    host, port = addr
    assert (host, port) == ("1.2.3.4", 5)
    assert addr == ("1.2.3.4", 5)
    assert addr.host == "1.2.3.4" and addr.port == 5
    assert addr[0] == "1.2.3.4"


# --------------------------------------------------------------------------------------------------
# URL
# --------------------------------------------------------------------------------------------------

FULL = "https://user:pw@Example.COM:8443/a/b?x=1&y=2#frag"


def test_url_properties() -> None:
    url = URL(FULL)
    assert url.components == urlsplit(FULL)
    assert url.scheme == "https"
    assert url.netloc == "user:pw@Example.COM:8443"
    assert url.path == "/a/b"
    assert url.query == "x=1&y=2"
    assert url.fragment == "frag"
    assert url.username == "user"
    assert url.password == "pw"
    assert url.hostname == "example.com"
    assert url.port == 8443
    assert url.is_secure is True


def test_url_defaults_and_ports() -> None:
    url = URL("http://example.com/")
    assert url.port is None
    assert url.username is None and url.password is None
    assert url.is_secure is False
    assert URL("http://example.com:80/").port == 80
    assert URL("wss://h/").is_secure is True
    assert URL("ws://h/").is_secure is False
    assert URL("http://[::1]:8000/").hostname == "::1"
    assert str(URL()) == ""
    assert URL().path == ""


def test_url_str_eq_hash_repr() -> None:
    url = URL(FULL)
    assert str(url) == FULL
    assert url == FULL
    assert url == URL(FULL)
    assert url != URL("https://example.com/")
    with pytest.raises(TypeError):
        hash(url)
    assert repr(url) == "URL('https://user:********@Example.COM:8443/a/b?x=1&y=2#frag')"
    assert str(url) == FULL  # str still shows the password
    assert repr(URL("http://example.com/a")) == "URL('http://example.com/a')"
    # No normalisation at all.
    assert str(URL("HTTP://Example.com:80//a/../b?")) == "HTTP://Example.com:80//a/../b?"


def test_url_construction_conflicts() -> None:
    with pytest.raises(AssertionError, match='^Cannot set both "url" and "scope".$'):
        URL("http://a/", scope={"type": "http", "path": "/"})
    with pytest.raises(AssertionError, match=r'^Cannot set both "scope" and "\*\*components".$'):
        URL(scope={"type": "http", "path": "/"}, path="/x")
    with pytest.raises(AssertionError, match=r'^Cannot set both "url" and "\*\*components".$'):
        URL("http://a/", path="/x")


def test_url_from_components() -> None:
    assert str(URL(scheme="https", netloc="example.org", path="/x", query="a=1", fragment="f")) == (
        "https://example.org/x?a=1#f"
    )
    assert str(URL(path="/only")) == "/only"
    with pytest.raises(ValueError):
        URL(nope="x")


def test_url_replace() -> None:
    url = URL("https://user:pw@Example.COM:8443/a")
    assert str(url.replace(port=None)) == "https://user:pw@Example.COM/a"
    assert str(url.replace(hostname="h.org")) == "https://user:pw@h.org:8443/a"
    assert str(url.replace(port=1)) == "https://user:pw@Example.COM:1/a"
    assert str(url.replace(username="bob", password=None)) == "https://bob@Example.COM:8443/a"
    assert str(url.replace(scheme="http", path="/b")) == "http://user:pw@Example.COM:8443/b"
    assert str(URL("http://h/").replace(hostname="::1")) == "http://[::1]/"
    assert str(URL("http://[::1]:80/").replace(port=81)) == "http://[::1]:81/"
    assert str(URL("http://[::1]/").replace(port=81)) == "http://[::1]:81/"
    assert type(url.replace(path="/")) is URL

    class MyURL(URL):
        pass

    assert type(MyURL("http://a/").replace(path="/b")) is MyURL
    with pytest.raises(ValueError):
        url.replace(bogus=1)


def test_url_replace_hostname_carrying_a_port() -> None:
    base = URL("http://a.test:9000/x")
    # One colon: a host with its port, used verbatim (no brackets, no ValueError from urlsplit).
    moved = base.replace(hostname="b.test:7000", port=None)
    assert moved == "http://b.test:7000/x"
    assert (moved.hostname, moved.port) == ("b.test", 7000)
    assert repr(moved) == "URL('http://b.test:7000/x')"
    # Already bracketed IPv6, with or without a port, is also used verbatim.
    assert base.replace(hostname="[2001:db8::5]:81", port=None) == "http://[2001:db8::5]:81/x"
    # A bare IPv6 address still gets brackets.
    assert base.replace(hostname="2001:db8::5") == "http://[2001:db8::5]:9000/x"


def test_url_replace_without_authority_does_not_crash() -> None:
    url = URL("/path")
    assert isinstance(url.replace(port=8000), URL)
    assert isinstance(url.replace(hostname="x"), URL)
    assert isinstance(url.replace(username="u"), URL)
    assert str(url.replace(query="a=1")) == "/path?a=1"


def test_url_query_helpers() -> None:
    url = URL("https://h/a?x=1&y=2&x=3")
    assert str(url.include_query_params(x=9, z="a b")) == "https://h/a?y=2&x=9&z=a+b"
    assert str(url.replace_query_params(k="v w", n=1)) == "https://h/a?k=v+w&n=1"
    assert str(url.remove_query_params("x")) == "https://h/a?y=2"
    assert str(url.remove_query_params(["x", "y"])) == "https://h/a"
    assert str(url.replace_query_params()) == "https://h/a"
    # Fragment and the rest are preserved; blank values are kept.
    url = URL("http://u:p@h:1/p?a=&b=2#frag")
    assert str(url.include_query_params(c="é")) == "http://u:p@h:1/p?a=&b=2&c=%C3%A9#frag"
    assert str(url.remove_query_params("b")) == "http://u:p@h:1/p?a=#frag"
    assert str(url.replace_query_params(q=1)) == "http://u:p@h:1/p?q=1#frag"


# --------------------------------------------------------------------------------------------------
# URL(scope=...)
# --------------------------------------------------------------------------------------------------


def make_scope(
    path: str = "/p",
    *,
    scheme: str | None = None,
    host: bytes | None = None,
    server: tuple[str, int | None] | None = None,
    query_string: bytes = b"",
    root_path: str = "",
) -> dict[str, Any]:
    scope: dict[str, Any] = {"type": "http", "path": path, "query_string": query_string, "headers": []}
    if scheme is not None:
        scope["scheme"] = scheme
    if host is not None:
        scope["headers"].append((b"host", host))
    if server is not None:
        scope["server"] = server
    if root_path:
        scope["root_path"] = root_path
    return scope


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (make_scope(scheme="https", host=b"example.com:8080"), "https://example.com:8080/p"),
        (make_scope(scheme="https", host=b"example.com:443"), "https://example.com:443/p"),
        (make_scope(server=("10.0.0.1", 80)), "http://10.0.0.1/p"),
        (make_scope(scheme="https", server=("10.0.0.1", 8000)), "https://10.0.0.1:8000/p"),
        (make_scope(scheme="https", server=("10.0.0.1", 443)), "https://10.0.0.1/p"),
        (make_scope(scheme="wss", server=("10.0.0.1", 443)), "wss://10.0.0.1/p"),
        (make_scope(scheme="ws", server=("10.0.0.1", 80)), "ws://10.0.0.1/p"),
        (make_scope(scheme="ws", server=("10.0.0.1", 443)), "ws://10.0.0.1:443/p"),
        (make_scope(server=("::1", 8000)), "http://[::1]:8000/p"),
        (make_scope(server=("[::1]", 8000)), "http://[::1]:8000/p"),
        (make_scope(host=b"bad host/x", server=("1.2.3.4", 81)), "http://1.2.3.4:81/p"),
        (make_scope(host=b"a.com:99999", server=("1.2.3.4", 81)), "http://1.2.3.4:81/p"),
        (make_scope(host=b"a.com:", server=("1.2.3.4", 81)), "http://1.2.3.4:81/p"),
        (make_scope(host=b"", server=("1.2.3.4", 81)), "http://1.2.3.4:81/p"),
        (make_scope(host=b"[::1", server=("1.2.3.4", 81)), "http://1.2.3.4:81/p"),
        (make_scope(host=b"[::zz]", server=("1.2.3.4", 81)), "http://1.2.3.4:81/p"),
        (make_scope(host=b"a.com:0065535"), "http://a.com:0065535/p"),
        (make_scope(host=b"Example.COM"), "http://Example.COM/p"),
        (make_scope(host=b"[::1]:8000"), "http://[::1]:8000/p"),
        (make_scope(host=b"[v1.fe]"), "http://[v1.fe]/p"),
        (make_scope(), "/p"),
        (make_scope("//evil.com/x"), "/%2Fevil.com/x"),
        (make_scope("//evil.com/x", query_string=b"a=1"), "/%2Fevil.com/x?a=1"),
        (make_scope("/a?b#c\\d", host=b"a.com", query_string=b"x=1"), "http://a.com/a%3Fb%23c%5Cd?x=1"),
        (make_scope("/sub/p", host=b"a.com", root_path="/sub"), "http://a.com/sub/p"),
        (make_scope(host=b"a.com", query_string=b"q=%C3%A9&r=\xc3\xa9"), "http://a.com/p?q=%C3%A9&r=\xe9"),
    ],
)
def test_url_from_scope(scope: dict[str, Any], expected: str) -> None:
    url = URL(scope=scope)
    assert str(url) == expected
    # Whatever shortcut is used for the components, they are what urlsplit reports.
    assert url.components == urlsplit(expected)


def test_url_from_scope_first_host_header_only() -> None:
    scope = make_scope(host=b"first.com")
    scope["headers"].append((b"host", b"second.com"))
    assert str(URL(scope=scope)) == "http://first.com/p"


def test_url_from_scope_minimal_scope() -> None:
    # No headers, no scheme, no query string keys at all.
    assert str(URL(scope={"type": "http", "path": "/x"})) == "/x"
    assert URL(scope={"type": "http", "path": "/x"}).path == "/x"


def test_url_from_scope_components_match_urlsplit_with_odd_pieces() -> None:
    # Tabs/newlines in a decoded path and '#' in a raw query are what urlsplit strips or splits
    # on: the components must still be exactly urlsplit's.
    for path, qs in [("/a\tb", b""), ("/a\nb", b"x=1"), ("/p", b"q#f"), ("/p", b"t\tx"), ("/%2F", b"")]:
        url = URL(scope=make_scope(path, host=b"a.com", query_string=qs))
        assert url.components == urlsplit(str(url))


def test_url_from_scope_invalid_utf8_query_does_not_raise() -> None:
    # lyre decision: undecodable bytes stay percent-encoded (Starlette raises UnicodeDecodeError).
    url = URL(scope=make_scope(host=b"a.com", query_string=b"x=\xff\xfe&y=%C3&z=\xc3"))
    assert str(url) == "http://a.com/p?x=%FF%FE&y=%C3&z=%C3"
    assert url.query == "x=%FF%FE&y=%C3&z=%C3"


def test_url_from_scope_path_without_leading_slash() -> None:
    # lyre decision: ``OPTIONS *``-style paths cannot merge into the authority.
    assert str(URL(scope=make_scope("*", host=b"a.com"))) == "http://a.com/*"
    assert URL(scope=make_scope("@evil.com", host=b"a.com")).hostname == "a.com"
    assert URL(scope=make_scope("@evil.com", server=("1.2.3.4", 80))).hostname == "1.2.3.4"


def test_url_from_scope_unix_socket_server() -> None:
    # lyre decision: a None port is omitted.
    assert str(URL(scope=make_scope(server=("localhost", None)))) == "http://localhost/p"


def test_url_from_scope_accepts_tuple_headers() -> None:
    scope = make_scope()
    scope["headers"] = ((b"host", b"t.com"),)
    assert str(URL(scope=scope)) == "http://t.com/p"


# --------------------------------------------------------------------------------------------------
# URLPath
# --------------------------------------------------------------------------------------------------


def test_urlpath() -> None:
    p = URLPath("/foo", "http")
    assert isinstance(p, str)
    assert p == "/foo"
    assert p.protocol == "http"
    assert p.host == ""
    assert URLPath("/x", host="h").host == "h"
    assert URLPath("/x").protocol == ""
    assert URLPath("/a\\b") == "/a%5Cb"
    assert URLPath("//evil.com/x") == "/%2Fevil.com/x"
    assert URLPath("\\\\evil.com") == "%5C%5Cevil.com"
    with pytest.raises(AssertionError):
        URLPath("/x", "ftp")  # type: ignore[arg-type]


def test_urlpath_make_absolute_url() -> None:
    absolute = URLPath("/foo", "http").make_absolute_url("https://example.org/root/")
    assert isinstance(absolute, URL)
    assert str(absolute) == "https://example.org/root/foo"
    assert str(URLPath("/ws", "websocket").make_absolute_url("https://e.org")) == "wss://e.org/ws"
    assert str(URLPath("/ws", "websocket").make_absolute_url(URL("http://e.org"))) == "ws://e.org/ws"
    assert str(URLPath("/a", "http").make_absolute_url("http://e.org/")) == "http://e.org/a"
    assert str(URLPath("/a", "http").make_absolute_url("wss://e.org/")) == "https://e.org/a"
    assert str(URLPath("/a").make_absolute_url("ftp://e.org/r?q=1")) == "ftp://e.org/r/a"
    assert str(URLPath("/a", "http", host="other.org").make_absolute_url("http://e.org/r")) == (
        "http://other.org/r/a"
    )
    # The base query and fragment are dropped.
    assert str(URLPath("/a", "http").make_absolute_url("http://e.org/?q=1#f")) == "http://e.org/a"


# --------------------------------------------------------------------------------------------------
# Secret, CommaSeparatedStrings
# --------------------------------------------------------------------------------------------------


def test_secret() -> None:
    secret = Secret("hunter2")
    assert repr(secret) == "Secret('**********')"
    assert repr(Secret("")) == "Secret('**********')"
    assert str(secret) == "hunter2"
    assert bool(secret) is True
    assert bool(Secret("")) is False
    assert secret != Secret("hunter2")  # identity comparison
    assert "hunter2" not in f"{secret!r}"


def test_comma_separated_strings() -> None:
    css = CommaSeparatedStrings("a, 'b, c', d")
    assert list(css) == ["a", "b, c", "d"]
    assert repr(css) == "CommaSeparatedStrings(['a', 'b, c', 'd'])"
    assert str(css) == "'a', 'b, c', 'd'"
    assert len(css) == 3
    assert css[1] == "b, c"
    assert css[-1] == "d"
    assert css[0:2] == ["a", "b, c"]
    assert isinstance(css[0:2], list)
    assert isinstance(css, Sequence)
    assert list(CommaSeparatedStrings(["x", "y"])) == ["x", "y"]
    assert list(CommaSeparatedStrings("")) == []
    assert list(CommaSeparatedStrings(' a , "b c" ,d')) == ["a", "b c", "d"]
    with pytest.raises(ValueError):
        CommaSeparatedStrings("'unbalanced")


# --------------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------------


def test_state_attribute_access() -> None:
    assert State({"name": "Bo"}).name == "Bo"
    backing: dict[str, Any] = {}
    state = State(backing)
    state.x = 1
    assert backing == {"x": 1}  # no copy
    assert state.x == 1
    del state.x
    assert backing == {}
    with pytest.raises(AttributeError) as info:
        state.nope  # noqa: B018
    assert str(info.value) == "'State' object has no attribute 'nope'"
    with pytest.raises(KeyError):
        del state.nope

    class MyState(State):
        pass

    with pytest.raises(AttributeError, match="^'MyState' object has no attribute 'nope'$"):
        MyState().nope  # noqa: B018


def test_state_item_access_len_iter() -> None:
    state = State()
    state["a"] = 1
    state.b = 2
    assert state["a"] == 1
    assert state["b"] == 2
    assert len(state) == 2
    assert list(state) == ["a", "b"]
    assert "a" in state
    assert "z" not in state
    del state["a"]
    assert list(state) == ["b"]
    with pytest.raises(KeyError):
        state["a"]
    assert getattr(state, "missing", "default") == "default"
    assert not hasattr(state, "missing")


def test_state_new_dict_each_time() -> None:
    a, b = State(), State()
    a.x = 1
    assert not hasattr(b, "x")


def test_state_copy_and_pickle() -> None:
    state = State({"a": [1]})
    assert copy.copy(state).a == [1]
    deep = copy.deepcopy(state)
    assert deep.a == [1] and deep.a is not state.a
    assert pickle.loads(pickle.dumps(state)).a == [1]


# --------------------------------------------------------------------------------------------------
# ImmutableMultiDict / MultiDict
# --------------------------------------------------------------------------------------------------


def test_immutable_multidict() -> None:
    d = ImmutableMultiDict([("a", "1"), ("b", "2"), ("a", "3")])
    assert d["a"] == "3"
    assert d.get("a") == "3"
    assert d.get("z") is None
    assert d.get("z", "dflt") == "dflt"
    assert d.getlist("a") == ["1", "3"]
    assert d.getlist("z") == []
    assert list(d.keys()) == ["a", "b"]
    assert list(d.values()) == ["3", "2"]
    assert list(d.items()) == [("a", "3"), ("b", "2")]
    assert d.multi_items() == [("a", "1"), ("b", "2"), ("a", "3")]
    assert len(d) == 2
    assert "a" in d and "z" not in d
    assert list(d) == ["a", "b"]
    assert repr(d) == "ImmutableMultiDict([('a', '1'), ('b', '2'), ('a', '3')])"
    with pytest.raises(KeyError):
        d["z"]
    with pytest.raises(TypeError):
        d["a"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        hash(d)
    # multi_items returns a new list each time
    items = d.multi_items()
    items.append(("c", "9"))
    assert "c" not in d


def test_immutable_multidict_constructor_forms() -> None:
    assert ImmutableMultiDict().multi_items() == []
    assert ImmutableMultiDict({"a": 1, "b": 2}).multi_items() == [("a", 1), ("b", 2)]
    src = MultiDict([("a", 1), ("a", 2)])
    assert ImmutableMultiDict(src).multi_items() == [("a", 1), ("a", 2)]
    assert ImmutableMultiDict([("a", 1)], b=2, c=3).multi_items() == [("a", 1), ("b", 2), ("c", 3)]
    assert ImmutableMultiDict(x=1).multi_items() == [("x", 1)]
    assert ImmutableMultiDict(iter([("g", 1)])).multi_items() == [("g", 1)]
    with pytest.raises(AssertionError, match=r"^Too many arguments\.$"):
        ImmutableMultiDict([("a", 1)], [("b", 2)])  # type: ignore[call-arg]
    # The source list is copied.
    pairs = [("a", 1)]
    d = ImmutableMultiDict(pairs)
    pairs.append(("b", 2))
    assert d.multi_items() == [("a", 1)]


def test_multidict_equality_rules() -> None:
    assert QueryParams("a=1&b=2") == QueryParams("b=2&a=1")
    assert QueryParams("a=1&a=2") != QueryParams("a=2&a=1")
    assert QueryParams("a=1") != {"a": "1"}
    assert ImmutableMultiDict([("a", "1")]) != QueryParams("a=1")
    assert QueryParams("a=1") != ImmutableMultiDict([("a", "1")])
    assert ImmutableMultiDict([("a", "1")]) == ImmutableMultiDict([("a", "1")])
    assert MultiDict([("a", 1), ("b", 2)]) == MultiDict([("b", 2), ("a", 1)])
    assert ImmutableMultiDict([("a", 1)]) != [("a", 1)]
    # Values need not be orderable.
    f1, f2 = UploadFile(io.BytesIO()), UploadFile(io.BytesIO())
    assert FormData([("f", f1), ("f", f2)]) == FormData([("f", f1), ("f", f2)])
    assert FormData([("f", f1), ("f", f2)]) != FormData([("f", f2), ("f", f1)])


def test_multidict_mutations() -> None:
    d = MultiDict([("a", 1), ("b", 2), ("a", 3)])
    d["a"] = 9
    assert d.multi_items() == [("b", 2), ("a", 9)]
    d.append("b", 4)
    assert d["b"] == 4
    assert d.getlist("b") == [2, 4]
    del d["b"]
    assert d.multi_items() == [("a", 9)]
    with pytest.raises(KeyError):
        del d["b"]
    assert d.pop("a") == 9
    assert d.pop("a") is None
    assert d.pop("a", "dflt") == "dflt"
    assert d.multi_items() == []


def test_multidict_popitem_poplist_clear() -> None:
    d = MultiDict([("a", 1), ("b", 2), ("a", 3)])
    assert d.popitem() == ("b", 2)
    assert d.multi_items() == [("a", 1), ("a", 3)]
    assert d.poplist("a") == [1, 3]
    assert d.poplist("a") == []
    with pytest.raises(KeyError):
        d.popitem()
    d = MultiDict([("a", 1), ("a", 2), ("b", 3)])
    assert d.popitem() == ("b", 3)
    assert d.popitem() == ("a", 2)
    d = MultiDict([("a", 1)])
    d.clear()
    assert d.multi_items() == [] and len(d) == 0


def test_multidict_setdefault_setlist_update() -> None:
    d = MultiDict([("a", 1)])
    assert d.setdefault("a", 5) == 1
    assert d.setdefault("b", 5) == 5
    assert d.setdefault("c") is None
    assert d.multi_items() == [("a", 1), ("b", 5), ("c", None)]
    d = MultiDict([("a", 1), ("b", 2), ("a", 3)])
    d.setlist("a", [7, 8])
    assert d.multi_items() == [("b", 2), ("a", 7), ("a", 8)]
    assert d["a"] == 8
    d.setlist("a", [])
    assert d.multi_items() == [("b", 2)]
    assert "a" not in d
    d.setlist("n", [1])
    assert d.multi_items() == [("b", 2), ("n", 1)]
    d = MultiDict([("b", 2)])
    d.update({"b": 9}, c=1)
    assert d.multi_items() == [("b", 9), ("c", 1)]
    d = MultiDict([("a", 1), ("b", 2), ("a", 3)])
    d.update([("a", 4), ("a", 5)])
    assert d.multi_items() == [("b", 2), ("a", 4), ("a", 5)]
    d.update(MultiDict(z=0))
    assert d.multi_items() == [("b", 2), ("a", 4), ("a", 5), ("z", 0)]
    assert repr(MultiDict([("a", 1)])) == "MultiDict([('a', 1)])"


# --------------------------------------------------------------------------------------------------
# QueryParams
# --------------------------------------------------------------------------------------------------


def test_query_params_from_str() -> None:
    q = QueryParams("a=1&b=2&a=3&c=&d")
    assert q.multi_items() == [("a", "1"), ("b", "2"), ("a", "3"), ("c", ""), ("d", "")]
    assert q["a"] == "3"
    assert q.getlist("a") == ["1", "3"]
    assert str(q) == "a=1&b=2&a=3&c=&d="
    assert repr(q) == "QueryParams('a=1&b=2&a=3&c=&d=')"


def test_query_params_parsing_rules() -> None:
    assert QueryParams("a=1;b=2").multi_items() == [("a", "1;b=2")]
    assert QueryParams("a=1&&b=2&").multi_items() == [("a", "1"), ("b", "2")]
    assert QueryParams("=e&=").multi_items() == [("", "e"), ("", "")]
    assert QueryParams("a+b=c+d&e=%20f%2B").multi_items() == [("a b", "c d"), ("e", " f+")]
    assert QueryParams("k=a=b").multi_items() == [("k", "a=b")]
    assert QueryParams("é=ü").multi_items() == [("é", "ü")]
    assert QueryParams("").multi_items() == []
    assert QueryParams(b"").multi_items() == []
    assert QueryParams().multi_items() == []


def test_query_params_bytes_are_latin1() -> None:
    assert QueryParams(b"x=%C3%A9")["x"] == "é"
    # Raw bytes are decoded latin-1 first (spec): raw UTF-8 'é' is two latin-1 characters.
    assert QueryParams("x=é".encode())["x"] == "Ã©"
    assert QueryParams(b"x=\xe9")["x"] == "é"


def test_query_params_other_forms_are_stringified() -> None:
    assert QueryParams({"a": 1})["a"] == "1"
    assert QueryParams([("a", 1), (2, True)]).multi_items() == [("a", "1"), ("2", "True")]
    assert QueryParams(MultiDict([("a", 1), ("a", 2)])).multi_items() == [("a", "1"), ("a", "2")]
    assert QueryParams("a=1", b=2).multi_items() == [("a", "1"), ("b", "2")]
    assert QueryParams(b"a=1", b=2).multi_items() == [("a", "1"), ("b", "2")]
    assert QueryParams(x="y z").multi_items() == [("x", "y z")]
    with pytest.raises(AssertionError, match=r"^Too many arguments\.$"):
        QueryParams("a=1", "b=2")  # type: ignore[call-arg]


def test_query_params_str_encoding() -> None:
    assert str(QueryParams([("a b", "c&d=e"), ("é", "~._-")])) == "a+b=c%26d%3De&%C3%A9=~._-"
    assert str(QueryParams([("x", "")])) == "x="
    assert str(QueryParams()) == ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"a=%zz&b=%", [("a", "%zz"), ("b", "%")]),
        (b"a=%C3", [("a", "\ufffd")]),
        (b"a=%ff%fe", [("a", "\ufffd\ufffd")]),
        (b"a=%ED%A0%80", [("a", "\ufffd\ufffd\ufffd")]),
        (b"\xff=\x00", [("\xff", "\x00")]),
        (b"%=%%=&%2", [("%", "%%="), ("%2", "")]),
    ],
)
def test_query_params_malformed_input_never_raises(raw: bytes, expected: list[tuple[str, str]]) -> None:
    q = QueryParams(raw)
    assert q.multi_items() == expected
    str(q)  # round-trips to text without raising
    repr(q)


def test_query_params_lone_surrogates() -> None:
    q = QueryParams("a=\ud800&\udcff=b")
    assert q["a"] == "\ud800"
    # lyre decision: encoded with surrogatepass instead of raising UnicodeEncodeError.
    assert str(q) == "a=%ED%A0%80&%ED%B3%BF=b"
    assert repr(q) == "QueryParams('a=%ED%A0%80&%ED%B3%BF=b')"
    assert str(URL("http://h/").include_query_params(s="\ud800")) == "http://h/?s=%ED%A0%80"


def test_query_params_parse_every_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    # The request-level bound (``MAX_QUERY_PAIRS``, a 414 at admission) never truncates a parse.
    assert ds.MAX_QUERY_PAIRS == 10_000
    big = "&".join(f"k{i}={i}" for i in range(12_000))
    q = QueryParams(big)
    assert len(q.multi_items()) == 12_000
    assert q.multi_items()[-1] == ("k11999", "11999")
    monkeypatch.setattr(ds, "MAX_QUERY_PAIRS", 3)
    assert len(QueryParams("a=1&b=2&c=3&d=4&e=5").multi_items()) == 5
    assert QueryParams(b"a=%31&b=2&c=3&d=4").multi_items() == [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]
    assert QueryParams("&&&a=1").multi_items() == [("a", "1")]
    assert str(URL("http://h/?a=1&b=2&c=3&d=4").include_query_params(e=5)) == "http://h/?a=1&b=2&c=3&d=4&e=5"


def test_query_params_read_only() -> None:
    q = QueryParams("a=1")
    with pytest.raises(TypeError):
        q["a"] = "2"  # type: ignore[index]
    assert isinstance(q, ImmutableMultiDict)
    assert not isinstance(q, MultiDict)


# --------------------------------------------------------------------------------------------------
# Headers
# --------------------------------------------------------------------------------------------------


def test_headers_from_mapping() -> None:
    h = Headers({"Content-Type": "text/plain", "X-A": "1"})
    assert h.raw == [(b"content-type", b"text/plain"), (b"x-a", b"1")]
    assert h["content-type"] == "text/plain"
    assert h["CONTENT-TYPE"] == "text/plain"
    assert h.get("x-a") == "1"
    assert h.get("x-b") is None
    assert h.get("x-b", "d") == "d"
    assert "X-a" in h
    assert "x-b" not in h
    with pytest.raises(KeyError) as info:
        h["X-Missing"]
    assert info.value.args == ("X-Missing",)
    assert Headers({"X": "é"}).raw == [(b"x", b"\xe9")]
    with pytest.raises(UnicodeEncodeError):
        Headers({"X": "€"})


def test_headers_raw_is_not_copied_or_lowercased() -> None:
    raw = [(b"B", b"1"), (b"a", b"2")]
    h = Headers(raw=raw)
    assert "b" not in h
    assert h.get("b") is None
    assert h["a"] == "2"
    raw.append((b"c", b"3"))
    assert h["c"] == "3"  # same list object
    assert h.raw == raw and h.raw is not raw  # Headers.raw is a copy


def test_headers_from_scope() -> None:
    scope: dict[str, Any] = {"headers": [(b"a", b"1")]}
    original = scope["headers"]
    h = Headers(scope=scope)
    assert h["a"] == "1"
    assert scope["headers"] == [(b"a", b"1")]
    assert scope["headers"] is original  # already a list: shared, not copied
    scope2: dict[str, Any] = {"headers": ((b"a", b"1"), (b"b", b"2"))}
    h2 = Headers(scope=scope2)
    assert isinstance(scope2["headers"], list)  # converted and written back
    assert h2.raw == [(b"a", b"1"), (b"b", b"2")]
    scope3: dict[str, Any] = {}
    assert len(Headers(scope=scope3)) == 0
    assert scope3["headers"] == []


def test_headers_constructor_conflicts() -> None:
    with pytest.raises(AssertionError, match='^Cannot set both "headers" and "raw".$'):
        Headers(headers={}, raw=[])
    with pytest.raises(AssertionError, match='^Cannot set both "headers" and "scope".$'):
        Headers(headers={}, scope={})
    with pytest.raises(AssertionError, match='^Cannot set both "raw" and "scope".$'):
        Headers(raw=[], scope={})
    assert len(Headers()) == 0
    assert Headers().raw == []


def test_headers_multi_values() -> None:
    h = Headers(raw=[(b"set-cookie", b"a=1"), (b"x", b"y"), (b"set-cookie", b"b=2")])
    assert h["set-cookie"] == "a=1"  # first value
    assert h.getlist("Set-Cookie") == ["a=1", "b=2"]
    assert h.getlist("nope") == []
    assert h.keys() == ["set-cookie", "x", "set-cookie"]
    assert h.values() == ["a=1", "y", "b=2"]
    assert h.items() == [("set-cookie", "a=1"), ("x", "y"), ("set-cookie", "b=2")]
    assert isinstance(h.keys(), list)
    assert list(h) == ["set-cookie", "x", "set-cookie"]
    assert len(h) == 3
    assert dict(h) == {"set-cookie": "a=1", "x": "y"}
    assert isinstance(h, Mapping)


def test_headers_odd_keys() -> None:
    h = Headers(raw=[(b"a", b"1")])
    assert "€" not in h
    assert h.get("€") is None
    assert h.getlist("€") == []
    assert 1 not in h  # type: ignore[comparison-overlap]
    assert None not in h
    with pytest.raises(KeyError):
        h["€"]


def test_headers_equality_and_hash() -> None:
    a = Headers(raw=[(b"a", b"1"), (b"b", b"2")])
    assert a == Headers(raw=[(b"b", b"2"), (b"a", b"1")])
    assert a != Headers(raw=[(b"a", b"1"), (b"b", b"2"), (b"b", b"2")])
    assert a != {"a": "1", "b": "2"}
    assert a == MutableHeaders(raw=[(b"a", b"1"), (b"b", b"2")])
    with pytest.raises(TypeError):
        hash(a)


def test_headers_repr() -> None:
    assert repr(Headers({"content-type": "text/plain", "x-a": "1"})) == (
        "Headers({'content-type': 'text/plain', 'x-a': '1'})"
    )
    assert repr(Headers(raw=[(b"a", b"1"), (b"a", b"2")])) == "Headers(raw=[(b'a', b'1'), (b'a', b'2')])"
    assert repr(MutableHeaders({"a": "1"})) == "MutableHeaders({'a': '1'})"
    assert repr(Headers()) == "Headers({})"


def test_headers_mutablecopy() -> None:
    raw = [(b"a", b"1")]
    h = Headers(raw=raw)
    m = h.mutablecopy()
    assert isinstance(m, MutableHeaders)
    m["b"] = "2"
    assert raw == [(b"a", b"1")]
    assert m.raw == [(b"a", b"1"), (b"b", b"2")]


# --------------------------------------------------------------------------------------------------
# MutableHeaders
# --------------------------------------------------------------------------------------------------


def test_mutable_headers_setitem() -> None:
    raw = [(b"a", b"1"), (b"b", b"2"), (b"a", b"3"), (b"c", b"4"), (b"a", b"5")]
    h = MutableHeaders(raw=raw)
    h["A"] = "9"
    assert raw == [(b"a", b"9"), (b"b", b"2"), (b"c", b"4")]  # edited in place
    assert h.raw is raw
    h["New"] = "x"
    assert raw[-1] == (b"new", b"x")


def test_mutable_headers_delitem_setdefault_update_append() -> None:
    h = MutableHeaders(raw=[(b"a", b"1"), (b"b", b"2"), (b"a", b"3")])
    del h["A"]
    assert h.raw == [(b"b", b"2")]
    del h["absent"]  # no error
    assert h.setdefault("b", "x") == "2"
    assert h.setdefault("C", "3") == "3"
    assert h.raw == [(b"b", b"2"), (b"c", b"3")]
    h.update({"B": "20", "d": "4"})
    assert h.raw == [(b"b", b"20"), (b"c", b"3"), (b"d", b"4")]
    h.append("Set-Cookie", "a=1")
    h.append("set-cookie", "b=2")
    assert h.getlist("set-cookie") == ["a=1", "b=2"]


def test_mutable_headers_add_vary_header() -> None:
    h = MutableHeaders({"Vary": "Origin"})
    h.add_vary_header("Cookie")
    assert h.raw == [(b"vary", b"Origin, Cookie")]
    h = MutableHeaders(raw=[(b"vary", b"Origin, Cookie"), (b"x", b"1"), (b"vary", b"Accept")])
    h.add_vary_header("X")
    assert h.raw == [(b"vary", b"Origin, Cookie, Accept, X"), (b"x", b"1")]
    h = MutableHeaders()
    h.add_vary_header("Origin")
    h.add_vary_header("Origin")  # no de-duplication
    assert h["vary"] == "Origin, Origin"


def test_mutable_headers_or_operators() -> None:
    h = MutableHeaders({"a": "1"})
    new = h | {"b": "2"}
    assert isinstance(new, MutableHeaders)
    assert new.raw == [(b"a", b"1"), (b"b", b"2")]
    assert h.raw == [(b"a", b"1")]
    same = h
    same |= {"A": "9"}
    assert same is h
    assert h.raw == [(b"a", b"9")]
    with pytest.raises(TypeError, match="^Expected a mapping but got list$"):
        h | [("a", "b")]  # type: ignore[operator]
    with pytest.raises(TypeError, match="^Expected a mapping but got list$"):
        h |= [("a", "b")]  # type: ignore[arg-type]
    assert (h | Headers({"z": "1"}))["z"] == "1"


def test_mutable_headers_scope_message_edited_in_place() -> None:
    shared = [(b"content-type", b"text/plain")]
    message: dict[str, Any] = {"type": "http.response.start", "status": 200, "headers": shared}
    h = MutableHeaders(scope=message)
    h.append("x-added", "1")
    assert message["headers"] == [(b"content-type", b"text/plain"), (b"x-added", b"1")]
    # The list shared with e.g. a reused response object is not modified.
    assert shared == [(b"content-type", b"text/plain")]
    h["content-type"] = "text/html"
    assert message["headers"][0] == (b"content-type", b"text/html")
    # headers absent or not a list
    message2: dict[str, Any] = {"type": "http.response.start", "status": 200}
    MutableHeaders(scope=message2).append("a", "b")
    assert message2["headers"] == [(b"a", b"b")]
    message3: dict[str, Any] = {"headers": ((b"a", b"1"),)}
    MutableHeaders(scope=message3)["b"] = "2"
    assert message3["headers"] == [(b"a", b"1"), (b"b", b"2")]


@pytest.mark.parametrize("bad", ["a\rb", "a\nb", "a\r\nSet-Cookie: x=1", "a\x00b"])
def test_mutable_headers_reject_cr_lf_nul(bad: str) -> None:
    h = MutableHeaders()
    message = "^Header .* has a name or value containing CR, LF or NUL, which is not allowed$"
    with pytest.raises(ValueError, match=message):
        h["x-ok"] = bad
    with pytest.raises(ValueError, match=message):
        h[bad] = "ok"
    with pytest.raises(ValueError, match=message):
        h.append("x-ok", bad)
    with pytest.raises(ValueError, match=message):
        h.append(bad, "ok")
    with pytest.raises(ValueError, match=message):
        h.setdefault("x-ok", bad)
    with pytest.raises(ValueError, match=message):
        h.update({"x-ok": bad})
    with pytest.raises(ValueError, match=message):
        h.add_vary_header(bad)
    with pytest.raises(ValueError, match=message):
        h |= {bad: "x"}
    with pytest.raises(ValueError, match=message):
        Headers({"x-ok": bad})
    assert h.raw == []
    # Looking a bad name up is harmless, and does not let it slip past validation later.
    assert bad not in h
    with pytest.raises(ValueError, match=message):
        h.append(bad, "ok")


def test_mutable_headers_allows_tabs_and_latin1() -> None:
    h = MutableHeaders()
    h["x"] = "a\tb é"
    assert h.raw == [(b"x", b"a\tb \xe9")]


# --------------------------------------------------------------------------------------------------
# UploadFile / FormData
# --------------------------------------------------------------------------------------------------


def test_upload_file_attributes() -> None:
    f = io.BytesIO()
    up = UploadFile(f, filename="x.txt", headers=Headers({"content-type": "text/plain"}))
    assert up.file is f
    assert up.filename == "x.txt"
    assert up.size is None
    assert up.content_type == "text/plain"
    assert repr(up) == (
        "UploadFile(filename='x.txt', size=None, headers=Headers({'content-type': 'text/plain'}))"
    )
    bare = UploadFile(io.BytesIO())
    assert bare.content_type is None
    assert bare.headers == Headers()
    assert bare.filename is None


class RecordingSpooled(SpooledTemporaryFile):  # type: ignore[type-arg]
    """A spooled file that records which thread each blocking call ran on."""

    _rolled: bool  # the stdlib's own flag (not in its type stubs): true once the data is on disk

    def __init__(self, max_size: int) -> None:
        super().__init__(max_size=max_size)
        self.calls: list[tuple[str, bool]] = []

    def _record(self, name: str) -> None:
        self.calls.append((name, threading.current_thread() is threading.main_thread()))

    def write(self, s: Any) -> int:
        self._record("write")
        return super().write(s)

    def read(self, *args: Any) -> Any:
        self._record("read")
        return super().read(*args)

    def seek(self, *args: Any) -> Any:
        self._record("seek")
        return super().seek(*args)

    def close(self) -> None:
        self._record("close")
        super().close()


@pytest.mark.anyio
async def test_upload_file_in_memory_runs_on_loop_thread() -> None:
    spooled = RecordingSpooled(max_size=100)
    up = UploadFile(cast(BinaryIO, spooled), size=0)
    await up.write(b"hello")
    await up.write(b" world")
    assert up.size == 11
    await up.seek(0)
    assert await up.read() == b"hello world"
    await up.seek(6)
    assert await up.read(3) == b"wor"
    await up.close()
    assert spooled.calls == [
        ("write", True),
        ("write", True),
        ("seek", True),
        ("read", True),
        ("seek", True),
        ("read", True),
        ("close", True),
    ]


@pytest.mark.anyio
async def test_upload_file_rollover_and_disk_io_run_in_worker_thread() -> None:
    spooled = RecordingSpooled(max_size=10)
    up = UploadFile(cast(BinaryIO, spooled), size=0)
    await up.write(b"12345")  # stays in memory
    await up.write(b"6789012")  # crosses max_size: rolls over -> thread
    assert spooled._rolled
    await up.write(b"xyz")  # on disk -> thread
    await up.seek(0)
    assert await up.read() == b"123456789012xyz"
    await up.close()
    assert up.size == 15
    assert spooled.calls == [
        ("write", True),
        ("write", False),
        ("write", False),
        ("seek", False),
        ("read", False),
        ("close", False),
    ]


@pytest.mark.anyio
async def test_upload_file_exact_max_size_stays_in_memory() -> None:
    spooled = RecordingSpooled(max_size=10)
    up = UploadFile(cast(BinaryIO, spooled))
    await up.write(b"0123456789")
    assert not spooled._rolled
    assert up.size is None  # size stays None when it started as None
    assert spooled.calls == [("write", True)]
    await up.close()


class RecordingBytesIO(io.BytesIO):
    """A plain (non-spooled) file object: counts as on disk."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[bool] = []

    def write(self, b: Any) -> int:
        self.threads.append(threading.current_thread() is threading.main_thread())
        return super().write(b)

    def read(self, *args: Any) -> bytes:
        self.threads.append(threading.current_thread() is threading.main_thread())
        return super().read(*args)


@pytest.mark.anyio
async def test_upload_file_plain_file_uses_thread_pool() -> None:
    f = RecordingBytesIO()
    up = UploadFile(f)
    await up.write(b"abc")
    await up.seek(0)
    assert await up.read() == b"abc"
    await up.close()
    assert f.closed
    assert f.threads == [False, False]


def test_form_data() -> None:
    up = UploadFile(io.BytesIO(), filename="f.txt")
    form = FormData([("a", "1"), ("f", up)])
    assert form["a"] == "1"
    assert form["f"] is up
    assert (
        repr(form)
        == "FormData([('a', '1'), ('f', UploadFile(filename='f.txt', size=None, headers=Headers({})))])"
    )
    assert FormData({"a": "1"}, b="2").multi_items() == [("a", "1"), ("b", "2")]
    assert FormData().multi_items() == []
    assert isinstance(form, ImmutableMultiDict)


@pytest.mark.anyio
async def test_form_data_close_closes_every_upload() -> None:
    f1, f2 = SpooledTemporaryFile(max_size=10), SpooledTemporaryFile(max_size=1)
    f2.write(b"rolled to disk")
    form = FormData(
        [("a", "1"), ("f", UploadFile(cast(BinaryIO, f1))), ("f", UploadFile(cast(BinaryIO, f2)))]
    )
    await form.close()
    assert f1.closed and f2.closed


@pytest.mark.anyio
async def test_form_data_close_closes_uploads_given_every_way() -> None:
    by_mapping, by_keyword, by_copy = (SpooledTemporaryFile(max_size=10) for _ in range(3))
    await FormData({"f": UploadFile(cast(BinaryIO, by_mapping))}).close()
    await FormData(f=UploadFile(cast(BinaryIO, by_keyword))).close()
    await FormData(FormData([("f", UploadFile(cast(BinaryIO, by_copy)))])).close()
    assert by_mapping.closed and by_keyword.closed and by_copy.closed
    await FormData().close()  # nothing to close


# --------------------------------------------------------------------------------------------------
# Differential checks against the standard library (seeded, deterministic)
# --------------------------------------------------------------------------------------------------


def _random_text(rng: Any, alphabet: str, max_len: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, max_len)))


def test_query_params_match_parse_qsl_and_urlencode() -> None:
    import random
    from urllib.parse import parse_qsl, urlencode

    rng = random.Random(1234)
    alphabet = "ab=&+%2C3F0 é;\t#?/\\xyz"
    for _ in range(3000):
        text = _random_text(rng, alphabet, 16)
        expected = parse_qsl(text, keep_blank_values=True)
        assert QueryParams(text).multi_items() == expected, text
        assert QueryParams(text.encode("latin-1")).multi_items() == expected, text
        assert str(QueryParams(text)) == urlencode(expected), text


def test_url_from_scope_components_always_match_urlsplit() -> None:
    import random

    rng = random.Random(99)
    hosts = [b"example.com", b"Example.com:8080", b"[::1]:80", b"[::1", b"a b", b"a.com:99999", b"", b"x@y"]
    paths = ["/p", "//e.com/x", "/a?b#c\\d", "/", "", "/%2F", "/a\tb", "/a\nb", "/a\rb", "/é"]
    queries = [b"", b"x=1", b"a=%20&b", b"q#f", b"t\tx", b"\xc3\xa9=1", b"n\nl"]
    for _ in range(2000):
        scope: dict[str, Any] = {
            "type": "http",
            "path": rng.choice(paths),
            "query_string": rng.choice(queries),
            "headers": [],
        }
        if rng.random() < 0.5:
            scope["scheme"] = rng.choice(["http", "https", "ws", "wss"])
        if rng.random() < 0.7:
            scope["headers"].append((b"host", rng.choice(hosts)))
        if rng.random() < 0.6:
            scope["server"] = rng.choice([("1.2.3.4", 80), ("1.2.3.4", 443), ("::1", 8000), ("h", 1)])
        url = URL(scope=scope)
        assert url.components == urlsplit(str(url)), scope
        assert url == URL(str(url))


class FailingClose(io.BytesIO):
    def close(self) -> None:
        super().close()
        raise OSError("disk gone")


@pytest.mark.anyio
async def test_form_data_close_closes_all_even_if_one_fails() -> None:
    bad = FailingClose()
    good = SpooledTemporaryFile(max_size=10)
    form = FormData([("a", UploadFile(bad)), ("b", UploadFile(cast(BinaryIO, good)))])
    with pytest.raises(OSError, match="disk gone"):
        await form.close()
    assert good.closed


def test_urlpath_make_absolute_url_odd_host_matches_urlsplit_join() -> None:
    # A host with a '/' cannot stay a netloc: the result is what splitting the joined text gives.
    assert str(URLPath("/a", "http", host="h/x").make_absolute_url("http://e.org")) == "http://h/x/a"
    assert str(URLPath("a", "http").make_absolute_url("http://e.org")) == "http://e.org/a"
