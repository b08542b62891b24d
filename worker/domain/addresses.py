"""Which network addresses a feed may be fetched from.

A feed is fetched from public addresses only, unless ``FEED_ALLOW_PRIVATE``
lists the host: a loopback, private, link-local or otherwise non-public
address would let whoever writes a feed (or answers its redirect) make the
worker read its own network. :func:`address_class` names what an address
is; :class:`AllowList` is the setting, read by :func:`allow_list`.

An entry of the setting is a host name, an IP address or a CIDR network,
each optionally with ``:port`` (IPv6 in brackets: ``[fd00::/8]:8443``), or
``*`` for everything. A host name matches the URL's host as written (case
aside); an address or network matches the address the name resolved to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network

IPAddress = IPv4Address | IPv6Address

# Carrier-grade NAT (RFC 6598): neither private nor global to ipaddress.
_SHARED = IPv4Network("100.64.0.0/10")
# NAT64's well-known prefix (RFC 6052) carries an IPv4 address in its last 32 bits.
_NAT64 = IPv6Network("64:ff9b::/96")
_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")
_DIGITS = re.compile(r"[0-9]+")
_BRACKETED = re.compile(r"\[(?P<host>[^\]]+)\](?::(?P<port>[^:]*))?")


def address_class(address: IPAddress) -> str | None:
    """What kind of non-public address ``address`` is ("a loopback
    address"), or None for a public one. An IPv6 address carrying an IPv4
    one (IPv4-mapped, 6to4, NAT64) is judged by the IPv4 address."""
    inner = embedded_ipv4(address) or address
    if inner.is_global and not inner.is_multicast:
        return None
    kinds = (
        (inner.is_unspecified, "an unspecified"),
        (inner.is_loopback, "a loopback"),
        (inner.is_link_local, "a link-local"),
        (inner.is_multicast, "a multicast"),
        (inner in _SHARED, "a shared (carrier-grade NAT)"),
        (inner.is_reserved, "a reserved"),
        (inner.is_private, "a private"),
    )
    return next((f"{kind} address" for found, kind in kinds if found), "a non-public address")


def embedded_ipv4(address: IPAddress) -> IPv4Address | None:
    """The IPv4 address an IPv6 one stands for, if it stands for one."""
    if isinstance(address, IPv4Address):
        return None
    if address.ipv4_mapped or address.sixtofour:
        return address.ipv4_mapped or address.sixtofour
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class AllowEntry:
    """One entry of ``FEED_ALLOW_PRIVATE``: everything (``*``), a host name,
    or a network (an address is a network of one), on one port or any."""

    name: str | None = None
    network: IPv4Network | IPv6Network | None = None
    port: int | None = None

    def allows(self, host: str, address: IPAddress, port: int) -> bool:
        """Whether this entry lets ``host`` (as the URL writes it), resolved
        to ``address``, be fetched on ``port``."""
        if self.port is not None and self.port != port:
            return False
        if self.name is not None:
            return self.name == _host_key(host)
        if self.network is not None:
            return (embedded_ipv4(address) or address) in self.network
        return True


@dataclass(frozen=True)
class AllowList:
    """The hosts a feed may be fetched from although they are not public."""

    entries: tuple[AllowEntry, ...] = ()

    def allows(self, host: str, address: IPAddress, port: int) -> bool:
        """Whether any entry lets ``host`` at ``address`` be fetched on ``port``."""
        return any(entry.allows(host, address, port) for entry in self.entries)


def allow_list(entries: Iterable[str]) -> AllowList:
    """The ``FEED_ALLOW_PRIVATE`` entries read; ValueError names the first
    that is not a host name, address or network, or has a bad port."""
    return AllowList(tuple(_entry(text.strip()) for text in entries if text.strip()))


def _entry(text: str) -> AllowEntry:
    if text == "*":
        return AllowEntry()
    bracketed = _BRACKETED.fullmatch(text)
    if bracketed:
        host, port = bracketed["host"], bracketed["port"]
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:  # no port, or an IPv6 address or network without brackets
        host, port = text, None
    if port and not _DIGITS.fullmatch(port):  # not a port: "http://feeds.internal"
        raise ValueError(f"{text!r} is not a host name, IP address or network")
    return AllowEntry(*_host(host, text), port=_port(port, text))


def _host(host: str, entry: str) -> tuple[str | None, IPv4Network | IPv6Network | None]:
    try:
        return None, ip_network(host, strict=False)
    except ValueError:
        pass
    name = _host_key(host)
    if "/" in host or ":" in host or not _HOST_NAME.fullmatch(name):
        raise ValueError(f"{entry!r} is not a host name, IP address or network")
    return name, None


def _port(port: str | None, entry: str) -> int | None:
    if port is None:
        return None
    if not _DIGITS.fullmatch(port) or len(port) > 5 or not 0 < int(port) < 65536:
        raise ValueError(f"{entry!r} has a bad port (1 to 65535)")
    return int(port)


def _host_key(host: str) -> str:
    """A host name as compared: lowercase, without a trailing dot."""
    return host.lower().rstrip(".")
