"""Addresses as a socket sees them, so that two spellings of one address collide in checks.

``localhost`` and ``127.0.0.1`` are the same IPv4 loopback address; ``::ffff:127.0.0.1`` is
it too; ``0.0.0.0`` (or ``::``) binds every interface of its host, so it collides with any
address on the same port. Names other than ``localhost`` are compared case-insensitively,
without their trailing dot: resolving them would make checking a file depend on the network.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator

WILDCARD = "*"
_WILDCARDS = frozenset({"0.0.0.0", "::", ""})
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def host_problem(host: str) -> str | None:
    """Why ``host`` cannot be an address (None when it can)."""
    if not host.isascii():
        return "host must be ASCII (an IP address or a DNS name; IDN names in punycode)"
    if any(ch.isspace() for ch in host):
        return "host must not contain spaces"
    return None


def valid_host(value: str) -> str:
    """Pydantic validator: an ASCII host name or address."""
    problem = host_problem(value)
    if problem is not None or not value:
        raise ValueError(problem or "must not be empty")
    return value


def _host_port(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ValueError("must be host:port")
    if not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise ValueError("port must be 1..65535 in ASCII digits")
    valid_host(host)
    return value


#: ``"127.0.0.1:8101"``: a host and a port 1..65535.
HostPort = Annotated[str, AfterValidator(_host_port)]


def split_host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host, int(port)


def canonical_host(host: str) -> str:
    """One spelling per address: ``127.0.0.1`` for ``localhost``, ``*`` for a wildcard."""
    bare = host.strip().removeprefix("[").removesuffix("]").lower().rstrip(".")
    if bare in _WILDCARDS:
        return WILDCARD
    if bare in _LOOPBACK_NAMES:
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        return bare
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified:
        return WILDCARD
    return str(address)


@dataclass(frozen=True)
class Endpoint:
    """A host and port of one protocol (``tcp`` or ``udp``), canonical."""

    protocol: str
    host: str
    port: int

    @classmethod
    def of(cls, protocol: str, host: str, port: int) -> Endpoint:
        return cls(protocol, canonical_host(host), port)

    def collides(self, other: Endpoint) -> bool:
        """Both would bind (or name) the same socket on one host."""
        if self.protocol != other.protocol or self.port != other.port:
            return False
        return WILDCARD in (self.host, other.host) or self.host == other.host
