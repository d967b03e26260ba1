"""URLs, headers, query strings, multi-value dicts, form data, uploads and state bags.

These sit on every request's hot path, so the common cases are kept flat:

* ``URL(scope=...)`` builds its string with one f-string and, when the pieces are already clean,
  pre-fills the ``SplitResult`` so ``request.url.path`` never re-parses.
* ``Headers`` wraps the raw ``(bytes, bytes)`` list without copying or decoding anything; a lookup is a
  tight loop over the raw pairs that decodes only the value it returns.  Nothing derived from the list
  is cached on the instance (the list is shared with the scope / response and may be edited in
  place), only the ``str -> lower-cased latin-1 bytes`` key encoding is memoised module-wide.
* ``QueryParams`` parses with a small splitter that only calls ``unquote`` on pieces containing
  ``%`` (same results as ``urllib.parse.parse_qsl(..., keep_blank_values=True)``).

lyre decisions (safety; invisible to well-formed traffic, see ``docs/decisions.md``):

* ``MutableHeaders`` and ``Headers(headers=...)`` refuse header names or values containing CR, LF
  or NUL (``ValueError``): such a value would split or corrupt the HTTP message (header injection).
* ``QueryParams`` parses every field of a query string, in linear time (never a silently dropped
  pair); a *request* whose query string has more than ``MAX_QUERY_PAIRS`` fields is refused with a
  ``414`` by the admission checks (``lyre._admission``) before any application code runs.
* Query-string bytes that are not valid UTF-8 in ``URL(scope=...)`` are kept percent-encoded
  instead of raising ``UnicodeDecodeError`` (which would become a 500).
* Lone surrogates in query keys/values are percent-encoded (``surrogatepass``) by ``str()`` of a
  ``QueryParams`` and by the ``URL`` query helpers instead of raising ``UnicodeEncodeError``.
* ``URL(scope=...)``: with an authority, a path not starting with ``/`` gets one (``OPTIONS *``);
  a ``None`` server port (unix socket) is omitted.
* ``Headers`` lookups with keys that cannot be present (non-``str``, non-latin-1) find nothing
  instead of raising.

``UploadFile`` keeps the event loop off the disk: with a ``SpooledTemporaryFile`` still in memory,
reads/seeks/writes that stay in memory run inline; the write that would roll it over, and every
operation once rolled (or on any non-spooled file), runs in a worker thread.
"""

from __future__ import annotations

import codecs
import ipaddress as ipaddress
import re
import shlex
from collections.abc import (
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    MutableMapping,
    Sequence,
    ValuesView,
)
from operator import itemgetter
from typing import Any, BinaryIO, ClassVar, Literal, NamedTuple, TypeVar, cast, overload
from urllib.parse import SplitResult, quote_plus, unquote, urlsplit
from urllib.parse import parse_qsl as parse_qsl  # (``X as X``: re-exported, as Starlette has them)
from urllib.parse import urlencode as urlencode

from lyre._utils import parse_host_header
from lyre.concurrency import run_in_threadpool
from lyre.types import Scope

__all__ = [
    "MAX_QUERY_PAIRS",
    "URL",
    "Address",
    "CommaSeparatedStrings",
    "FormData",
    "Headers",
    "ImmutableMultiDict",
    "MultiDict",
    "MutableHeaders",
    "QueryParams",
    "Scope",
    "Secret",
    "State",
    "URLPath",
    "UploadFile",
    "parse_host_header",
    "run_in_threadpool",
]

#: Upper bound on the number of ``&``-separated fields (empty ones count) in a request's query string:
#: a request with more is answered ``414`` naming the limit before any application code runs
#: (``lyre._admission.refusal``).  ``QueryParams`` itself never truncates: it parses every field, in
#: linear time.  Read on every request, so ``lyre.datastructures.MAX_QUERY_PAIRS = n`` reconfigures it
#: process-wide; ``None`` lifts it.
MAX_QUERY_PAIRS: int | None = 10_000

_KeyType = TypeVar("_KeyType")
_CovariantValueType = TypeVar("_CovariantValueType", covariant=True)


# --------------------------------------------------------------------------------------------------
# Small value types
# --------------------------------------------------------------------------------------------------


class Address(NamedTuple):
    """``(host, port)`` of the client, as given by the server in ``scope["client"]``."""

    host: str
    port: int


class Secret:
    """A string that never shows its value in ``repr()`` (tracebacks, logs); ``str()`` reveals it."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}('**********')"

    def __str__(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)


class CommaSeparatedStrings(Sequence[str]):
    """An immutable list of strings parsed from ``"a, 'b, c', d"`` (shell-style quoting) or copied."""

    __slots__ = ("_parts",)

    def __init__(self, value: str | Sequence[str]):
        self._parts: list[str] = _split_on_commas(value) if isinstance(value, str) else [*value]

    def __str__(self) -> str:
        return ", ".join([repr(part) for part in self._parts])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._parts!r})"

    def __getitem__(self, index: int | slice) -> Any:
        return self._parts[index]

    def __len__(self) -> int:
        return len(self._parts)

    def __iter__(self) -> Iterator[str]:
        return iter(self._parts)


def _split_on_commas(text: str) -> list[str]:
    """Comma-separated, shell-quoted items with surrounding blanks trimmed: ``"a, 'b, c'"`` -> 2 items."""
    tokens = shlex.shlex(text, posix=True)
    tokens.whitespace, tokens.whitespace_split = ",", True
    return [token.strip() for token in tokens]


class State:
    """Attribute (and item) access over a dict it does not copy: ``request.state`` writes go into
    ``scope["state"]``.  A missing attribute raises ``AttributeError``; deleting one, ``KeyError``."""

    _state: dict[str, Any]

    def __init__(self, state: dict[str, Any] | None = None):
        object.__setattr__(self, "_state", {} if state is None else state)

    def __setattr__(self, key: Any, value: Any) -> None:
        self._state[key] = value

    def __delattr__(self, key: Any) -> None:
        del self._state[key]

    # Item access is attribute access under another spelling.
    __setitem__ = __setattr__
    __delitem__ = __delattr__

    def __getattr__(self, key: Any) -> Any:
        # ``_state`` itself is only missing on a half-built instance (copy/pickle): never recurse.
        if key != "_state":
            try:
                return self._state[key]
            except KeyError:
                pass
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{key}'")
        raise AttributeError(key)

    def __getitem__(self, key: str) -> Any:
        return self._state[key]

    def __len__(self) -> int:
        return len(self._state)

    def __iter__(self) -> Iterator[str]:
        return iter(self._state)


# --------------------------------------------------------------------------------------------------
# Query-string helpers
# --------------------------------------------------------------------------------------------------


def _parse_query(qs: str) -> list[tuple[str, str]]:
    """``parse_qsl(qs, keep_blank_values=True)`` semantics: every field, in linear time.

    ``&`` separates fields, empty fields are skipped, ``name`` without ``=`` has value ``""``,
    ``+`` is a space and percent escapes are decoded as UTF-8 with replacement.  Never raises, never
    drops a field (the request-level bound is ``MAX_QUERY_PAIRS``, enforced at admission).
    """
    if not qs:
        return []
    fields = qs.split("&")
    pairs: list[tuple[str, str]] = []
    append = pairs.append
    # PERF (query): no '%' and no '+' in the string: skip the per-field checks;
    # measured: 0.91 µs vs 1.17 µs per call (1.3x)
    if "%" not in qs and "+" not in qs:
        for field in fields:
            if field:
                name, _, value = field.partition("=")
                append((name, value))
        return pairs
    for field in fields:
        if not field:
            continue
        name, _, value = field.partition("=")
        if "+" in name:
            name = name.replace("+", " ")
        if "%" in name:
            name = unquote(name)
        if "+" in value:
            value = value.replace("+", " ")
        if "%" in value:
            value = unquote(value)
        append((name, value))
    return pairs


def _quote(text: str) -> str:
    """``quote_plus(text)`` that percent-encodes lone surrogates instead of raising."""
    # PERF (no bench cell: query building): plain ASCII alphanumeric pieces skip quote_plus;
    # measured: 0.12 µs vs 1.16 µs per key+value pair (9.7x)
    if text.isascii() and text.isalnum():
        return text
    return quote_plus(text, errors="surrogatepass")


def _urlencode(pairs: Iterable[tuple[str, str]]) -> str:
    """``urlencode(pairs)`` for ``str`` pairs (spaces as ``+``)."""
    return "&".join([f"{_quote(k)}={_quote(v)}" for k, v in pairs])


def _percent_encode_errors(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: keep undecodable bytes as ``%XX`` escapes."""
    if not isinstance(exc, UnicodeDecodeError):  # pragma: no cover - only registered for decoding
        raise exc
    bad = exc.object[exc.start : exc.end]
    return "".join(f"%{b:02X}" for b in bad), exc.end


codecs.register_error("lyre.percentencode", _percent_encode_errors)


# --------------------------------------------------------------------------------------------------
# URL
# --------------------------------------------------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_PATH_ESCAPES = str.maketrans({"?": "%3F", "#": "%23", "\\": "%5C"})


def _splits_cleanly(path: str, query: str) -> bool:
    """True when urlsplit would neither strip (tab, CR, LF) nor split (``#``) inside path/query."""
    # PERF (no bench cell: URL(scope=...).components): C-level substring scans, not a regex call;
    # measured: 0.15 µs vs 0.33 µs per call (2.1x)
    return not (
        "\t" in path
        or "\n" in path
        or "\r" in path
        or "#" in query
        or "\t" in query
        or "\n" in query
        or "\r" in query
    )


_has_url_special = re.compile(r"[\t\r\n?#]").search
_has_netloc_special = re.compile(r"[\t\r\n?#/\[\]]").search

_Pieces = tuple[str, str, str, str]  # scheme, netloc, path, query of a URL built from a scope


def _url_from_scope(scope: Scope) -> tuple[str, _Pieces | None]:
    """The URL the client asked for, plus its pieces when they are what ``urlsplit`` would find."""
    scheme: str = scope.get("scheme", "http")
    path: str = scope["path"]
    # PERF (no bench cell: URL(scope=...)): plain ``in`` tests, translate only when needed; measured:
    # 0.08-0.14 µs vs 0.23 µs (regex test, 1.7-2.8x) or 0.97 µs (always translate) per call
    if "?" in path or "#" in path or "\\" in path:
        path = path.translate(_PATH_ESCAPES)
    qs: bytes = scope.get("query_string", b"")
    if qs:
        try:
            query = qs.decode()
        except UnicodeDecodeError:
            # lyre decision: undecodable bytes stay percent-encoded; no UnicodeDecodeError (-> 500).
            query = qs.decode("utf-8", "lyre.percentencode")
    else:
        query = ""

    host_header: str | None = None
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host_header = value.decode("latin-1")
            break
    parsed_host = parse_host_header(host_header)
    if host_header is not None and parsed_host is not None and parsed_host.is_valid_port:
        # lyre decision: a path that does not start with '/' (e.g. ``OPTIONS *``) gets one, so it
        # cannot be read as part of the authority.
        if path and path[0] != "/":
            path = "/" + path
        url = f"{scheme}://{host_header}{path}?{query}" if query else f"{scheme}://{host_header}{path}"
        if scheme in _DEFAULT_PORTS:
            return url, (scheme, host_header, path, query)
        return url, None

    server = scope.get("server")
    if server is not None:
        host, port = server[0], server[1]
        if ":" in host and host[:1] != "[":
            host = f"[{host}]"
        # lyre decision: a ``None`` port (unix socket) is omitted instead of rendered as ``:None``.
        netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
        if path and path[0] != "/":
            path = "/" + path
        url = f"{scheme}://{netloc}{path}"
    else:
        if path[:2] == "//":
            path = "/%2F" + path[2:]
        url = path
    return (f"{url}?{query}" if query else url), None


class URL:
    """An immutable URL value backed by its exact string; components are parsed lazily.

    ``URL("...")``, ``URL(scope=scope)`` (what the client asked for) or ``URL(**components)``.
    Equality compares ``str()`` forms (so a URL equals the same plain string); not hashable.
    """

    __slots__ = ("_components", "_url")

    _url: str
    # The cached SplitResult; or, for URL(scope=...), the pieces it was built from (not yet checked).
    _components: SplitResult | _Pieces | None

    def __init__(self, url: str = "", scope: Scope | None = None, **components: Any) -> None:
        if scope is not None:
            assert not url, 'Cannot set both "url" and "scope".'
            assert not components, 'Cannot set both "scope" and "**components".'
            self._url, self._components = _url_from_scope(scope)
            return
        if components:
            assert not url, 'Cannot set both "url" and "**components".'
            url = URL("").replace(**components).components.geturl()
        self._url = url
        self._components = None

    @property
    def components(self) -> SplitResult:
        """The ``urlsplit`` result (cached)."""
        c = self._components
        if type(c) is SplitResult:
            return c
        if c is not None and _splits_cleanly(c[2], c[3]):
            # PERF (no bench cell: request.url): clean scope pieces skip urlsplit's re-parse; measured:
            # 0.53 µs vs 0.31 µs per call, urlsplit's cache warm (0.6x); 0.75 vs 4.3 µs cold (5.7x)
            result: SplitResult = tuple.__new__(SplitResult, (*c, ""))
        else:
            result = urlsplit(self._url)
        self._components = result
        return result

    # The five stored fields are read by position (SplitResult is a plain tuple underneath:
    # scheme, netloc, path, query, fragment), which skips the namedtuple field descriptor.

    @property
    def path(self) -> str:
        return self.components[2]

    @property
    def query(self) -> str:
        return self.components[3]

    @property
    def scheme(self) -> str:
        return self.components[0]

    @property
    def is_secure(self) -> bool:
        return self.components[0] in ("https", "wss")

    @property
    def netloc(self) -> str:
        return self.components[1]

    @property
    def fragment(self) -> str:
        return self.components[4]

    # The rest are derived from the netloc by SplitResult itself.

    @property
    def hostname(self) -> str | None:
        return self.components.hostname

    @property
    def port(self) -> int | None:
        return self.components.port

    @property
    def username(self) -> str | None:
        return self.components.username

    @property
    def password(self) -> str | None:
        return self.components.password

    def replace(self, **kwargs: Any) -> URL:
        """A new URL with the given ``SplitResult`` fields and/or ``username``, ``password``,
        ``hostname``, ``port`` replaced (the latter four rebuild the netloc)."""
        if "username" in kwargs or "password" in kwargs or "hostname" in kwargs or "port" in kwargs:
            c = self.components
            hostname = kwargs.pop("hostname", None)
            port = kwargs.pop("port", c.port)
            username = kwargs.pop("username", c.username)
            password = kwargs.pop("password", c.password)
            if hostname is None:
                hostname = c.netloc.rpartition("@")[2]
                if not hostname.endswith("]"):
                    hostname = hostname.rpartition(":")[0] if ":" in hostname else hostname
            elif hostname.count(":") > 1 and not hostname.startswith("["):
                # A bare IPv6 address (two or more colons) gets its brackets; a ``host:port`` given
                # as the hostname (one colon) is used as it is.
                hostname = f"[{hostname}]"
            netloc = hostname if port is None else f"{hostname}:{port}"
            if username is not None:
                userinfo = username if password is None else f"{username}:{password}"
                netloc = f"{userinfo}@{netloc}"
            kwargs["netloc"] = netloc
        return type(self)(self.components._replace(**kwargs).geturl())

    def include_query_params(self, **kwargs: Any) -> URL:
        """Set each given key to the single value ``str(value)`` (moved to the end), keep the rest."""
        params = MultiDict(_parse_query(self.components.query))
        params.update({str(k): str(v) for k, v in kwargs.items()})
        return self.replace(query=_urlencode(params.multi_items()))

    def replace_query_params(self, **kwargs: Any) -> URL:
        """The query becomes exactly the given pairs."""
        return self.replace(query=_urlencode((str(k), str(v)) for k, v in kwargs.items()))

    def remove_query_params(self, keys: str | Sequence[str]) -> URL:
        """Drop every value of the given key(s)."""
        drop = {keys} if isinstance(keys, str) else set(keys)
        pairs = [(k, v) for k, v in _parse_query(self.components.query) if k not in drop]
        return self.replace(query=_urlencode(pairs))

    def __eq__(self, other: Any) -> bool:
        return self._url == str(other)

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        return self._url

    def __repr__(self) -> str:
        url = self._url
        if self.components.password:
            url = str(self.replace(password="********"))
        return f"{type(self).__name__}({url!r})"


class URLPath(str):
    """A path returned by ``url_path_for()``, with the ``protocol`` and ``host`` it belongs to.

    A ``\\`` becomes ``%5C`` and a leading ``//`` becomes ``/%2F`` so the path cannot be read as an
    authority by browsers or ``urlsplit``.
    """

    protocol: str
    host: str

    def __new__(cls, path: str, protocol: Literal["http", "websocket", ""] = "", host: str = "") -> URLPath:
        assert protocol in ("http", "websocket", "")
        if "\\" in path:
            path = path.replace("\\", "%5C")
        if path[:2] == "//":
            path = "/%2F" + path[2:]
        self = str.__new__(cls, path)
        self.protocol = protocol
        self.host = host
        return self

    def __init__(self, path: str, protocol: Literal["http", "websocket", ""] = "", host: str = "") -> None:
        pass  # everything happens in __new__ (str is immutable)

    def make_absolute_url(self, base_url: str | URL) -> URL:
        """Join onto ``base_url`` (its path prefix kept, its query dropped)."""
        if isinstance(base_url, str):
            base_url = URL(base_url)
        c = base_url.components
        if self.protocol == "http":
            scheme = "https" if base_url.is_secure else "http"
        elif self.protocol == "websocket":
            scheme = "wss" if base_url.is_secure else "ws"
        else:
            scheme = c.scheme
        netloc = self.host or c.netloc
        path = c.path.rstrip("/") + str(self)
        if (
            scheme
            and netloc
            and (not path or path[0] == "/")
            and not _has_url_special(path)
            and (not self.host or not _has_netloc_special(netloc))
        ):
            # PERF (no bench cell: url_for): the f-string urlunsplit would give, not URL(**components);
            # measured: 0.29 µs vs 6.1 µs per call (21x)
            return URL(f"{scheme}://{netloc}{path}")
        return URL(scheme=scheme, netloc=netloc, path=path)


# --------------------------------------------------------------------------------------------------
# Multi-value dicts
# --------------------------------------------------------------------------------------------------


def _pairs_of(value: Any) -> list[Any]:
    """The ``(key, value)`` pairs of a multidict, a mapping or an iterable of pairs, as a new list."""
    multi_items = getattr(value, "multi_items", None)
    if multi_items is not None:
        return list(multi_items())
    if hasattr(value, "keys"):
        return list(value.items())
    return list(value)


class ImmutableMultiDict(Mapping[_KeyType, _CovariantValueType]):
    """A read-only mapping keeping every ``(key, value)`` pair in order; ``d[key]`` is the last value.

    ``_list`` holds all pairs, ``_dict`` the last value per key (first-insertion key order).
    """

    __slots__ = ("_dict", "_list")

    _list: list[tuple[Any, Any]]
    _dict: dict[Any, Any]

    def __init__(
        self,
        *args: ImmutableMultiDict[_KeyType, _CovariantValueType]
        | Mapping[_KeyType, _CovariantValueType]
        | Iterable[tuple[_KeyType, _CovariantValueType]],
        **kwargs: Any,
    ) -> None:
        assert len(args) < 2, "Too many arguments."
        pairs = _pairs_of(args[0]) if args else []
        if kwargs:
            pairs.extend(kwargs.items())
        self._list = pairs
        self._dict = dict(pairs)

    # -- the multi-valued view, over ``_list``

    def multi_items(self) -> list[tuple[_KeyType, _CovariantValueType]]:
        """A new list of all pairs in order."""
        return self._list.copy()

    def getlist(self, key: Any) -> list[_CovariantValueType]:
        """Every value of ``key`` in order (``[]`` if absent)."""
        return [value for name, value in self._list if name == key]

    # -- the plain-mapping view (last value wins), over ``_dict``

    def items(self) -> ItemsView[_KeyType, _CovariantValueType]:
        return self._dict.items()

    def keys(self) -> KeysView[_KeyType]:
        return self._dict.keys()

    def values(self) -> ValuesView[_CovariantValueType]:
        return self._dict.values()

    @overload
    def get(self, key: _KeyType) -> _CovariantValueType | None: ...
    @overload
    def get(self, key: _KeyType, default: Any) -> Any: ...

    def get(self, key: Any, default: Any = None) -> Any:
        # PERF (query): one dict call instead of Mapping.get's __getitem__ + try/except;
        # measured: 0.07 µs vs 0.12 µs per call (1.75x)
        return self._dict.get(key, default)

    def __getitem__(self, key: _KeyType) -> _CovariantValueType:
        return cast(_CovariantValueType, self._dict[key])

    def __contains__(self, key: Any) -> bool:
        return key in self._dict

    def __iter__(self) -> Iterator[_KeyType]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, type(self)):
            return False
        # Stable sort on the key only: key order is irrelevant, value order under one key is not,
        # and values need not be orderable.
        by_key = itemgetter(0)
        return sorted(self._list, key=by_key) == sorted(other._list, key=by_key)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._list!r})"


class MultiDict(ImmutableMultiDict[Any, Any]):
    """The mutable multidict: ``d[k] = v`` replaces all values of ``k``; ``append`` adds one."""

    __slots__ = ()

    def __setitem__(self, key: Any, value: Any) -> None:
        self.setlist(key, [value])

    def __delitem__(self, key: Any) -> None:
        del self._dict[key]
        self._list = [p for p in self._list if p[0] != key]

    def pop(self, key: Any, default: Any = None) -> Any:
        if key not in self._dict:
            return default
        self._list = [p for p in self._list if p[0] != key]
        return self._dict.pop(key)

    def popitem(self) -> tuple[Any, Any]:
        key, value = self._dict.popitem()
        self._list = [p for p in self._list if p[0] != key]
        return key, value

    def poplist(self, key: Any) -> list[Any]:
        if key not in self._dict:
            return []
        values = [v for k, v in self._list if k == key]
        self._list = [p for p in self._list if p[0] != key]
        del self._dict[key]
        return values

    def clear(self) -> None:
        self._dict.clear()
        self._list.clear()

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self._dict:
            self._dict[key] = default
            self._list.append((key, default))
        return self._dict[key]

    def setlist(self, key: Any, values: list[Any]) -> None:
        if not values:
            self.pop(key, None)
            return
        kept = [p for p in self._list if p[0] != key] if key in self._dict else self._list
        kept.extend((key, v) for v in values)
        self._list = kept
        self._dict[key] = values[-1]

    def append(self, key: Any, value: Any) -> None:
        self._list.append((key, value))
        self._dict[key] = value

    def update(self, *args: MultiDict | Mapping[Any, Any] | list[tuple[Any, Any]], **kwargs: Any) -> None:
        new = MultiDict(*args, **kwargs)
        replaced = new._dict
        self._list = [p for p in self._list if p[0] not in replaced]
        self._list.extend(new._list)
        self._dict.update(replaced)


class QueryParams(ImmutableMultiDict[str, str]):
    """Query-string parameters; ``str``/``bytes`` (latin-1) are parsed like ``parse_qsl``.

    Every field of a string is parsed (linear time, never truncated); parsing never raises.
    """

    __slots__ = ()

    def __init__(
        self,
        *args: ImmutableMultiDict[Any, Any] | Mapping[Any, Any] | list[tuple[Any, Any]] | str | bytes,
        **kwargs: Any,
    ) -> None:
        assert len(args) < 2, "Too many arguments."
        if args:
            value = args[0]
            if isinstance(value, bytes):
                # PERF (no bench cell: empty query strings): no decoding or parsing of b"";
                # measured: 0.07 µs vs 0.12 µs per call (1.7x)
                value = value.decode("latin-1") if value else ""
            if isinstance(value, str):
                pairs = _parse_query(value) if value else []
            else:
                pairs = [(str(k), str(v)) for k, v in _pairs_of(value)]
        else:
            pairs = []
        if kwargs:
            pairs.extend((str(k), str(v)) for k, v in kwargs.items())
        self._list = pairs
        self._dict = dict(pairs)

    def __str__(self) -> str:
        return _urlencode(self._list)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


# --------------------------------------------------------------------------------------------------
# Uploads and forms
# --------------------------------------------------------------------------------------------------


class UploadFile:
    """One uploaded file.  Blocking file I/O runs in a worker thread once the data lives on disk.

    With a ``SpooledTemporaryFile`` that has not rolled over (``_rolled`` false) reads, seeks and
    writes that stay under ``max_size`` are done directly (memory only); a write that would roll the
    file over, and every operation on a rolled or non-spooled file, runs via ``run_in_threadpool``.
    """

    def __init__(
        self,
        file: BinaryIO,
        *,
        size: int | None = None,
        filename: str | None = None,
        headers: Headers | None = None,
    ) -> None:
        self.file, self.filename, self.size = file, filename, size
        self.headers = headers if headers is not None else Headers()

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(filename={self.filename!r}, size={self.size!r}, headers={self.headers!r})"

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    @property
    def _in_memory(self) -> bool:
        # A file object without ``_rolled`` (not spooled) counts as on disk.
        return not getattr(self.file, "_rolled", True)

    def _fits_in_memory(self, extra: int) -> bool:
        """Whether writing ``extra`` more bytes leaves a still-spooled file below its roll-over size."""
        if not self._in_memory:
            return False
        limit: int = getattr(self.file, "_max_size", 0)
        return not limit or self.file.tell() + extra <= limit

    async def read(self, size: int = -1) -> bytes:
        if not self._in_memory:
            return await run_in_threadpool(self.file.read, size)
        return self.file.read(size)

    async def write(self, data: bytes) -> None:
        count = len(data)
        if not self._fits_in_memory(count):
            await run_in_threadpool(self.file.write, data)
        else:
            self.file.write(data)
        if self.size is not None:
            self.size += count

    async def seek(self, offset: int) -> None:
        if not self._in_memory:
            await run_in_threadpool(self.file.seek, offset)
            return
        self.file.seek(offset)

    async def close(self) -> None:
        if not self._in_memory:
            await run_in_threadpool(self.file.close)
            return
        self.file.close()


class FormData(ImmutableMultiDict[str, UploadFile | str]):
    """Parsed form fields (``str``) and files (``UploadFile``); ``await close()`` closes the files."""

    __slots__ = ("_may_hold_files",)

    def __init__(
        self,
        *args: FormData | Mapping[str, str | UploadFile] | list[tuple[str, str | UploadFile]],
        **kwargs: str | UploadFile,
    ) -> None:
        super().__init__(*args, **kwargs)
        # False when known to hold no ``UploadFile`` (an empty form, or what the urlencoded parser
        # made), so closing it is free. PERF (form): measured with ``make bench-instructions``.
        self._may_hold_files = bool(args or kwargs)

    async def close(self) -> None:
        if not getattr(self, "_may_hold_files", True):  # (a subclass may skip __init__)
            return
        # Every file gets closed even if one close() fails; the first error is re-raised after.
        error: Exception | None = None
        for _, value in self._list:
            if isinstance(value, UploadFile):
                try:
                    await value.close()
                except Exception as exc:
                    error = error or exc
        if error is not None:
            raise error


# --------------------------------------------------------------------------------------------------
# Headers
# --------------------------------------------------------------------------------------------------

# str -> lower-cased latin-1 bytes, for names free of CR/LF/NUL only (so a cache hit is also a
# validity proof when encoding).  Bounded: past the limit names are just not memoised.
_KEY_CACHE: dict[str, bytes] = {}
_KEY_CACHE_MAX = 1024


def _has_ctl(text: str) -> bool:
    # PERF (no bench cell: header-name cache misses): three C-level scans, not a regex call;
    # measured: 0.08-0.10 µs vs 0.15 µs per call (1.4-1.8x)
    return "\r" in text or "\n" in text or "\0" in text


def _header_key(key: str) -> bytes:
    """``key.lower().encode("latin-1")``, memoised (header names repeat across requests)."""
    encoded = key.lower().encode("latin-1")
    if len(_KEY_CACHE) < _KEY_CACHE_MAX and not _has_ctl(key):
        _KEY_CACHE[key] = encoded
    return encoded


def _lookup_key(key: Any) -> bytes | None:
    """The raw name to look for, or ``None`` when ``key`` cannot be present (not a latin-1 str)."""
    encoded = _KEY_CACHE.get(key) if type(key) is str else None
    if encoded is None:
        if not isinstance(key, str):
            return None
        try:
            encoded = _header_key(key)
        except UnicodeEncodeError:
            return None
    return encoded


def _bad_header(key: str) -> ValueError:
    return ValueError(f"Header {key!r} has a name or value containing CR, LF or NUL, which is not allowed")


def _encode_header(key: str, value: str) -> tuple[bytes, bytes]:
    """Encode one header for the wire, refusing CR, LF and NUL (header injection)."""
    name = _KEY_CACHE.get(key)
    if name is None:
        if _has_ctl(key):
            raise _bad_header(key)
        name = _header_key(key)
    if "\r" in value or "\n" in value or "\0" in value:
        raise _bad_header(key)
    return name, value.encode("latin-1")


class Headers(Mapping[str, str]):
    """An immutable, case-insensitive multidict over raw ``(bytes, bytes)`` header pairs.

    ``Headers(raw=...)`` and ``Headers(scope=...)`` do no work up front: the list is used as is (a
    non-list ``scope["headers"]`` is converted once and written back) and lookups scan it.
    """

    __slots__ = ("_list",)

    _list: list[tuple[bytes, bytes]]
    #: ``scope=`` form: copy ``scope["headers"]`` even when it is already a list (MutableHeaders).
    _copy_scope_headers: ClassVar[bool] = False

    def __init__(
        self,
        headers: Mapping[str, str] | None = None,
        raw: list[tuple[bytes, bytes]] | None = None,
        scope: MutableMapping[str, Any] | None = None,
    ) -> None:
        if headers is not None:
            assert raw is None, 'Cannot set both "headers" and "raw".'
            assert scope is None, 'Cannot set both "headers" and "scope".'
            self._list = [_encode_header(k, v) for k, v in headers.items()]
        elif raw is not None:
            assert scope is None, 'Cannot set both "raw" and "scope".'
            self._list = raw
        elif scope is not None:
            found = scope.get("headers")
            if type(found) is not list or self._copy_scope_headers:
                # ASGI allows any iterable (or none): make it a list and share it with the scope.
                found = scope["headers"] = [] if found is None else list(found)
            self._list = found
        else:
            self._list = []

    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        """A copy of the raw pairs (the live list for ``MutableHeaders``)."""
        return list(self._list)

    def keys(self) -> list[str]:  # type: ignore[override]
        return [k.decode("latin-1") for k, _ in self._list]

    def values(self) -> list[str]:  # type: ignore[override]
        return [v.decode("latin-1") for _, v in self._list]

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self._list]

    def getlist(self, key: str) -> list[str]:
        """All values of ``key`` (case-insensitive) in order."""
        name = _KEY_CACHE.get(key)
        if name is None:
            name = _lookup_key(key)
        # PERF (no bench cell): a plain loop, not a list comprehension (its extra frame);
        # measured: 0.35 µs vs 0.52 µs per call (1.5x)
        found = []
        for k, v in self._list:
            if k == name:
                found.append(v.decode("latin-1"))
        return found

    def mutablecopy(self) -> MutableHeaders:
        return MutableHeaders(raw=list(self._list))

    @overload
    def get(self, key: str) -> str | None: ...
    @overload
    def get(self, key: str, default: str) -> str: ...
    @overload
    def get(self, key: str, default: Any) -> Any: ...

    def get(self, key: str, default: Any = None) -> Any:
        # PERF (form, multipart, cookies): a flat loop, only the match decoded, not Mapping.get's
        # __getitem__ + try/except; measured: 0.29 µs vs 0.35 µs per hit (1.2x), 0.22 vs 0.76 per miss
        name = _KEY_CACHE.get(key)
        if name is None:
            name = _lookup_key(key)
        for k, v in self._list:
            if k == name:
                return v.decode("latin-1")
        return default

    def __getitem__(self, key: str) -> str:
        name = _KEY_CACHE.get(key)
        if name is None:
            name = _lookup_key(key)
        for k, v in self._list:
            if k == name:
                return v.decode("latin-1")
        raise KeyError(key)

    def __contains__(self, key: Any) -> bool:
        name = _KEY_CACHE.get(key)
        if name is None:
            name = _lookup_key(key)
        for k, _ in self._list:
            if k == name:
                return True
        return False

    def __len__(self) -> int:
        return len(self._list)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())

    def __eq__(self, other: Any) -> bool:
        # Same pairs, in any order.
        return isinstance(other, Headers) and sorted(self._list) == sorted(other._list)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        name = type(self).__name__
        as_dict = dict(self.items())
        if len(as_dict) == len(self._list):
            return f"{name}({as_dict!r})"
        return f"{name}(raw={self.raw!r})"


class MutableHeaders(Headers):
    """``Headers`` that edit the underlying list in place (a response's ``raw_headers`` or an ASGI
    message's ``headers``).  ``MutableHeaders(scope=message)`` copies ``message["headers"]`` into a
    new list stored back in the message, so a list shared with a reused response is never edited.

    lyre decision: names and values containing CR, LF or NUL raise ``ValueError``.
    """

    __slots__ = ()

    _copy_scope_headers = True

    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        return self._list

    def __setitem__(self, key: str, value: str) -> None:
        """Replace the first ``key`` header in place (dropping later duplicates) or append it."""
        name, encoded = _encode_header(key, value)
        lst = self._list
        for i, pair in enumerate(lst):
            if pair[0] == name:
                lst[i] = (name, encoded)
                tail = lst[i + 1 :]
                for other in tail:
                    if other[0] == name:
                        lst[i + 1 :] = [p for p in tail if p[0] != name]
                        break
                return
        lst.append((name, encoded))

    def __delitem__(self, key: str) -> None:
        """Remove every ``key`` header (no error if absent)."""
        name = _lookup_key(key)
        lst = self._list
        for k, _ in lst:
            if k == name:
                lst[:] = [p for p in lst if p[0] != name]
                return

    def __ior__(self, other: Mapping[str, str]) -> MutableHeaders:
        if not isinstance(other, Mapping):
            raise TypeError(f"Expected a mapping but got {type(other).__name__}")
        self.update(other)
        return self

    def __or__(self, other: Mapping[str, str]) -> MutableHeaders:
        if not isinstance(other, Mapping):
            raise TypeError(f"Expected a mapping but got {type(other).__name__}")
        new = self.mutablecopy()
        new.update(other)
        return new

    def setdefault(self, key: str, value: str) -> str:
        """The first value of ``key``, or append ``value`` and return it."""
        name, encoded = _encode_header(key, value)
        for k, v in self._list:
            if k == name:
                return v.decode("latin-1")
        self._list.append((name, encoded))
        return value

    def update(self, other: Mapping[str, str]) -> None:  # type: ignore[override]
        for key, value in other.items():
            self[key] = value

    def append(self, key: str, value: str) -> None:
        """Add a header, keeping existing ones of the same name (``set-cookie``)."""
        self._list.append(_encode_header(key, value))

    def add_vary_header(self, vary: str) -> None:
        """Append ``vary`` to the (single, comma-joined) ``Vary`` header."""
        existing = self.getlist("vary")
        self["vary"] = ", ".join([*existing, vary]) if existing else vary
