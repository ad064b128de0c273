"""The outbound guard: tenants configure destination URLs, so a URL must not reach our own network.

Two checks, both raising ``UnsafeDestinationError`` (permanent: retrying cannot make it safe):

1. ``check_url`` when a connector is built: https only (plain http only to a loopback host, and
   only when ``allow_loopback`` is set, for tests and the sandbox), and an IP-literal host is
   judged right away, because aiohttp never asks a resolver about IP literals.
2. ``GuardedResolver`` when aiohttp connects: every address a host name resolves to is judged
   before aiohttp may open a socket to it. Checking here rather than before the request closes the
   DNS-rebinding gap (a name that resolves to a public address when checked and to 169.254.169.254
   a moment later, when the socket opens).

Which addresses are refused, and why the stdlib ``ipaddress`` properties are not used alone
(Python 3.11):

- ``is_private`` misses CGNAT 100.64/10 and multicast, so those ranges are listed explicitly.
- ``is_global`` calls IPv4 multicast (224/4) and 6to4 (2002::/16) global, and ``is_reserved``
  calls all of NAT64 64:ff9b::/96 reserved, even around a public IPv4. Addresses that embed an
  IPv4 address (``::ffff:a.b.c.d``, NAT64 ``64:ff9b::a.b.c.d``, 6to4 ``2002:AABB:CCDD::``) are
  therefore unwrapped first and judged by the IPv4 address they lead to.
- After the explicit table, anything ``is_multicast``, ``is_reserved``, ``is_unspecified`` or not
  ``is_global`` is refused as well: documentation, benchmarking and other special-purpose ranges
  have no business being a CRM.

The allow-list (CIDRs, or exact host names) is for internal systems an operator vouches for; it
relaxes the address check, not the https rule.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from streams.errors import UnsafeDestinationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
_REFUSED: tuple[tuple[str, tuple[IPNetwork, ...]], ...] = (
    ("loopback", (_V4("127.0.0.0/8"), _V6("::1/128"))),
    ("private", (_V4("10.0.0.0/8"), _V4("172.16.0.0/12"), _V4("192.168.0.0/16"), _V6("fc00::/7"))),
    ("link-local", (_V4("169.254.0.0/16"), _V6("fe80::/10"))),
    ("carrier-grade NAT", (_V4("100.64.0.0/10"),)),
    ("'this network'", (_V4("0.0.0.0/8"), _V6("::/128"))),
    ("multicast", (_V4("224.0.0.0/4"), _V6("ff00::/8"))),
    ("reserved", (_V4("240.0.0.0/4"), _V6("64:ff9b:1::/48"))),
)
_NAT64 = _V6("64:ff9b::/96")
_LOOPBACK_NAMES = frozenset({"localhost", "localhost."})


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def refusal(address: IPAddress) -> str | None:
    """Why we refuse to connect to ``address`` ("link-local", ...), or ``None`` if it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_v4(address)
        if embedded is not None:
            return refusal(embedded)
    for reason, networks in _REFUSED:
        if any(address in network for network in networks):
            return reason
    if address.is_multicast:
        return "multicast"
    if address.is_reserved or address.is_unspecified or not address.is_global:
        return "special-purpose"
    return None


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """What this process may call besides public https hosts. Process-wide, never per tenant."""

    allow_loopback: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_allow_list(cls, entries: Iterable[str], *, allow_loopback: bool = False) -> OutboundPolicy:
        """Entries are CIDRs or addresses ("10.20.0.0/16", "fd00::5") or exact host names ("crm.internal")."""
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                hosts.add(entry.strip().lower().rstrip("."))
        return cls(allow_loopback, tuple(networks), frozenset(hosts))

    def check_address(self, address: IPAddress, host: str) -> None:
        """Refuse ``address`` (reached through ``host``) unless it is public or allowed."""
        if host.lower().rstrip(".") in self.allowed_hosts:
            return
        if any(address in network for network in self.allowed_networks):
            return
        reason = refusal(address)
        if reason is None or (reason == "loopback" and self.allow_loopback):
            return
        raise UnsafeDestinationError(f"{host} resolves to a {reason} address ({address}), which crmbus does not call")

    def check_url(self, url: str) -> URL:
        """The parsed URL if its scheme and (IP-literal) host may be called; UnsafeDestinationError if not."""
        try:
            parsed = URL(url)
        except (TypeError, ValueError):
            raise UnsafeDestinationError("the destination URL cannot be parsed") from None
        host = parsed.host
        if not parsed.absolute or not host:
            raise UnsafeDestinationError("the destination URL must be absolute, with a host")
        if parsed.user or parsed.password:
            raise UnsafeDestinationError("the destination URL must not carry credentials; use the secret")
        if parsed.scheme == "http":
            if not (is_loopback_host(host) and self.allow_loopback):
                raise UnsafeDestinationError(f"{host}: destinations must use https")
        elif parsed.scheme != "https":
            raise UnsafeDestinationError(f"{host}: destinations must use https")
        self.check_host(host)
        return parsed

    def check_host(self, host: str) -> None:
        """Refuse a host that is an IP literal we do not call, or a number posing as a name.

        Host names are judged later, by the addresses they resolve to when connecting.
        """
        literal = _ip_literal(host)
        if literal is None and _ends_in_a_number(host):
            # 127.1, 2130706433, 0x7f.0.0.1: resolvers read these as IPv4; nobody means them as names.
            raise UnsafeDestinationError(f"{host} is not a canonical IP address nor a host name")
        if literal is not None:
            self.check_address(literal, host)


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback IP literal: the only hosts crmbus may call without TLS."""
    literal = _ip_literal(host)
    return host.lower() in _LOOPBACK_NAMES or (literal is not None and refusal(literal) == "loopback")


def _ends_in_a_number(host: str) -> bool:
    last = host.rstrip(".").rsplit(".", 1)[-1].lower()
    return last.isdigit() or (last.startswith("0x") and all(c in "0123456789abcdef" for c in last[2:]))


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


class GuardedResolver(AbstractResolver):
    """Resolves with ``inner`` and refuses the whole name if any address it got is not allowed.

    A name that mixes a public and an internal address is misconfigured or hostile; neither is a
    reason to pick the public one and carry on.
    """

    def __init__(self, inner: AbstractResolver, policy: OutboundPolicy) -> None:
        self._inner = inner
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            self._policy.check_address(ipaddress.ip_address(result["host"].split("%", 1)[0]), host)
        return results

    async def close(self) -> None:
        await self._inner.close()
