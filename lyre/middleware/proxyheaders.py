"""``ProxyHeadersMiddleware``: the client address, scheme and host as seen by your reverse proxy.

Behind a proxy, ``scope["client"]`` is the proxy and ``scope["scheme"]`` is how the proxy talked to
us. The proxy reports the real values in headers; this middleware puts them back into the scope, so
``request.client``, ``request.url`` (scheme, host, port) and ``url_for`` describe the client's view.

Spoofing rules:

* Headers are honoured only when the direct peer (``scope["client"]``) is in ``trusted_hosts``
  (IP addresses and CIDR ranges; nothing by default). ``"*"`` trusts every peer: only for a server
  that no client can reach except through the proxy.
* A client can send forwarding headers of its own, which proxies append to. The middleware walks
  the hops from the right (the proxies nearest to us) and takes the first hop that is not itself a
  trusted proxy: the address our outermost trusted proxy saw, not what the client claims.
* Only one header family is read, chosen by ``header``: ``"x-forwarded"`` (default:
  ``X-Forwarded-For``, ``X-Forwarded-Proto``, ``X-Forwarded-Host``) or ``"forwarded"`` (RFC 7239).
  The other family is ignored entirely: if your proxy does not set it, it contains whatever the
  client sent, so letting it take precedence would let clients choose their address.

Malformed values (an address that is not an IP, a scheme other than http/https, a host with
characters a host cannot have, an unparsable ``Forwarded``, more than ``MAX_HOPS`` hops or more than
``MAX_HEADER_LENGTH`` bytes) make the middleware ignore that header: the scope keeps what the server
set. A hop named ``unknown`` or an obfuscated identifier (``_hidden``, RFC 7239 section 6.3) is an
untrusted hop: ``scope["client"]`` becomes ``(identifier, 0)``.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from typing import Literal

from lyre.types import ASGIApp, Receive, Scope, Send

__all__ = ["MAX_HEADER_LENGTH", "MAX_HOPS", "ProxyHeadersMiddleware"]

#: Forwarding headers longer than this (all lines of one header joined) are ignored.
MAX_HEADER_LENGTH = 8192
#: Forwarding headers listing more hops than this are ignored.
MAX_HOPS = 64

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# host, or host:port; host a DNS name / IPv4 or a bracketed IPv6 literal.
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")
_OBFUSCATED = re.compile(r"_[A-Za-z0-9._\-]{1,64}")
# RFC 7239: pair = token "=" (token / quoted-string); elements split on "," and pairs on ";".
_FORWARDED_PAIR = re.compile(
    r'[ \t]*([!#$%&\'*+\-.^_`|~0-9A-Za-z]+)=("(?:[^"\\]|\\.){0,256}"|[!#$%&\'*+\-.^_`|~0-9A-Za-z:\[\]]{0,256})[ \t]*'
)
_DEFAULT_PORT = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _valid_host(host: str) -> bool:
    """``host`` or ``host:port`` as a Host header may carry it (port 0-65535)."""
    if not _HOST.fullmatch(host):
        return False
    _, colon, port = host.rpartition(":")
    return not colon or not port.isdigit() or host.endswith("]") or int(port) <= 65535


@functools.lru_cache(maxsize=1024)
def _parse_ip(value: str) -> _Address | None:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _split_node(node: str) -> tuple[str, int] | None:
    """``ip``, ``ip:port``, ``[v6]``, ``[v6]:port``, ``unknown`` or ``_obfuscated`` -> (host, port)."""
    if node.startswith("["):
        end = node.find("]")
        if end < 0:
            return None
        host, rest = node[1:end], node[end + 1 :]
        if _parse_ip(host) is None or ":" not in host:
            return None
    elif node.count(":") == 1:
        host, _, port_text = node.partition(":")
        rest = ":" + port_text
    else:
        host, rest = node, ""
    port = 0
    if rest:
        if rest[0] != ":" or not rest[1:].isdigit() or len(rest) > 6:
            if not (rest[0] == ":" and _OBFUSCATED.fullmatch(rest[1:])):  # RFC 7239 obfuscated port
                return None
        else:
            port = int(rest[1:])
            if port > 65535:
                return None
    if _parse_ip(host) is None and host.lower() != "unknown" and not _OBFUSCATED.fullmatch(host):
        return None
    return host, port


def _split_list(value: str) -> list[str] | None:
    items = [item.strip() for item in value.split(",")]
    if len(items) > MAX_HOPS or any(not item for item in items):
        return None
    return items


def _parse_forwarded(value: str) -> list[dict[str, str]] | None:
    """The elements of a ``Forwarded`` header (parameter names lower-cased), or ``None`` if malformed."""
    elements: list[dict[str, str]] = []
    position, length = 0, len(value)
    current: dict[str, str] = {}
    while True:
        match = _FORWARDED_PAIR.match(value, position)
        if match is None:
            return None
        name, raw = match.group(1).lower(), match.group(2)
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        if name in current:
            return None
        current[name] = raw
        position = match.end()
        if position == length:
            elements.append(current)
            return elements
        separator = value[position]
        position += 1
        if separator == ",":
            elements.append(current)
            current = {}
            if len(elements) >= MAX_HOPS:
                return None
            while position < length and value[position] in " \t,":  # empty list elements are allowed
                position += 1
        elif separator != ";":
            return None


class ProxyHeadersMiddleware:
    """Set ``client``, ``scheme`` and the host from the forwarding headers of trusted proxies.

    ``trusted_hosts``: the proxies' IP addresses or CIDR ranges (``"10.0.0.0/8"``), or ``"*"``
    (every peer: dangerous unless the app is reachable through the proxy only).
    ``header``: which header family your proxy sets, ``"x-forwarded"`` or ``"forwarded"``.
    """

    def __init__(
        self,
        app: ASGIApp,
        trusted_hosts: str | Iterable[str] = (),
        *,
        header: Literal["x-forwarded", "forwarded"] = "x-forwarded",
    ) -> None:
        self.app = app
        if header not in ("x-forwarded", "forwarded"):
            raise ValueError("header must be 'x-forwarded' or 'forwarded'")
        self.header = header
        self._wanted = (
            (b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host")
            if header == "x-forwarded"
            else (b"forwarded",)
        )
        if isinstance(trusted_hosts, str):
            trusted_hosts = [host.strip() for host in trusted_hosts.split(",") if host.strip()]
        self.trust_all = False
        networks: list[_Network] = []
        for entry in trusted_hosts:
            if entry == "*":
                self.trust_all = True
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"trusted host {entry!r} is not an IP address or CIDR range") from None
        self.networks = tuple(networks)
        self._trusted_cache: dict[str, bool] = {}

    def is_trusted(self, host: str) -> bool:
        """Whether ``host`` (an IP address as text) is one of the trusted proxies."""
        if self.trust_all:
            return True
        cache = self._trusted_cache
        known = cache.get(host)
        if known is not None:
            return known
        address = _parse_ip(host)
        if address is not None and isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        trusted = address is not None and any(address in network for network in self.networks)
        if len(cache) < 4096:
            cache[host] = trusted
        return trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            client = scope.get("client")
            if (client and self.is_trusted(client[0])) or (not client and self.trust_all):
                self._apply(scope)
        await self.app(scope, receive, send)

    def _apply(self, scope: Scope) -> None:
        values: dict[bytes, str] = {}
        wanted = self._wanted
        for name, value in scope.get("headers", ()):
            if name in wanted:
                text = value.decode("latin-1")
                values[name] = values[name] + "," + text if name in values else text
        if not values:
            return
        if any(len(value) > MAX_HEADER_LENGTH for value in values.values()):
            return
        if self.header == "forwarded":
            self._apply_forwarded(scope, values[b"forwarded"])
            return

        index: int | None = None
        hops: list[str] | None = None
        forwarded_for = values.get(b"x-forwarded-for")
        if forwarded_for is not None:
            hops = _split_list(forwarded_for)
            nodes = [_split_node(hop) for hop in hops] if hops is not None else None
            if nodes is not None and all(node is not None for node in nodes):
                index = self._pick(nodes)  # type: ignore[arg-type]
                scope["client"] = nodes[index]
        count = len(hops) if hops is not None else 0
        proto = _pick_aligned(values.get(b"x-forwarded-proto"), index, count)
        host = _pick_aligned(values.get(b"x-forwarded-host"), index, count)
        _set_scheme_and_host(scope, proto, host)

    def _pick(self, nodes: list[tuple[str, int]]) -> int:
        """Index of the rightmost hop that is not a trusted proxy (the leftmost if all are)."""
        for position in range(len(nodes) - 1, -1, -1):
            if not self.is_trusted(nodes[position][0]):
                return position
        return 0

    def _apply_forwarded(self, scope: Scope, value: str) -> None:
        elements = _parse_forwarded(value)
        if not elements:
            return
        nodes: list[tuple[str, int] | None] = []
        for element in elements:
            named = element.get("for")
            nodes.append(_split_node(named) if named is not None else None)
        # The rightmost element whose ``for`` is not a trusted proxy (an element without ``for``
        # says nothing about the hop: it is skipped, as a trusted one).
        chosen = 0
        for position in range(len(elements) - 1, -1, -1):
            hop = nodes[position]
            if elements[position].get("for") is not None and hop is None:
                return  # a malformed address: the header is ignored
            if hop is not None and not self.is_trusted(hop[0]):
                chosen = position
                break
        element = elements[chosen]
        proto = element.get("proto")
        host = element.get("host")
        if proto is not None and proto.lower() not in ("http", "https"):
            return
        if host is not None and not _valid_host(host):
            return
        node = nodes[chosen]
        if node is not None:
            scope["client"] = node
        _set_scheme_and_host(scope, proto, host)


def _pick_aligned(value: str | None, index: int | None, count: int) -> str | None:
    """The entry of a list header for hop ``index`` when the lists align, else its last entry."""
    if value is None:
        return None
    items = _split_list(value)
    if items is None:
        return None
    if index is not None and len(items) == count:
        return items[index]
    return items[-1]


def _set_scheme_and_host(scope: Scope, proto: str | None, host: str | None) -> None:
    if proto is not None:
        proto = proto.lower()
        if proto not in ("http", "https"):
            proto = None
    if host is not None and not _valid_host(host):
        host = None
    if proto is not None:
        if scope["type"] == "websocket":
            scope["scheme"] = "wss" if proto == "https" else "ws"
        else:
            scope["scheme"] = proto
    if host is not None:
        scope["headers"] = [(k, v) for k, v in scope.get("headers", ()) if k != b"host"]
        scope["headers"].append((b"host", host.encode("latin-1")))
        name, _, port_text = host.rpartition(":") if not host.endswith("]") else (host, "", "")
        if not name or name.endswith(":"):  # no port given (or an unbracketed IPv6 literal)
            name, port_text = host, ""
        port = int(port_text) if port_text else _DEFAULT_PORT.get(scope.get("scheme", "http"), 80)
        scope["server"] = (name.strip("[]"), port)
