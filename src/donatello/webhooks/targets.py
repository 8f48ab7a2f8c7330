"""Where a delivery may connect: resolve the host, refuse non-public addresses, connect to the address
that was checked.

Checking a name and then letting the HTTP client resolve it again would let DNS answer differently the
second time (DNS rebinding), so the client connects to the checked IP address while the request keeps
the original ``Host`` header and TLS server name (SNI and certificate verification use the hostname).
Every address a name resolves to must be allowed, not just one of them. With
``webhooks_allow_private_targets`` on (development, tests) anything resolvable is allowed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from donatello.webhooks.errors import TargetNotAllowed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: host, port -> the addresses it resolves to (the system resolver by default; tests pass their own).
Resolver = Callable[[str, int], Awaitable[list[str]]]

RESOLVE_TIMEOUT_SECONDS = 5.0
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

#: Blocks that are special-purpose or deprecated yet which Python's ``ipaddress`` (3.11) may call global
#: or merely "not private". Sources: the IANA IPv4 and IPv6 Special-Purpose Address Registries
#: (https://www.iana.org/assignments/iana-ipv4-special-registry, .../iana-ipv6-special-registry, as
#: updated in 2025) and the RFCs that deprecate a block. Anycast service addresses (PCP, TURN, AS112,
#: AMT) are "globally reachable" in the registry, but no webhook receiver lives there. Blocks that
#: ``ipaddress`` already refuses (private, loopback, link-local, multicast, reserved, 100.64.0.0/10)
#: are not repeated.
SPECIAL_PURPOSE: dict[str, str] = {
    "192.0.0.0/24": "IETF protocol assignments (RFC 6890): dummy 192.0.0.8, PCP and TURN anycast",
    "192.31.196.0/24": "AS112-v4 (RFC 7535)",
    "192.52.193.0/24": "AMT (RFC 7450)",
    "192.88.99.0/24": "6to4 relay anycast, deprecated (RFC 7526)",
    "192.175.48.0/24": "AS112 direct delegation (RFC 7534)",
    "fec0::/10": "site-local, deprecated (RFC 3879)",
    "3ffe::/16": "6bone, returned to IANA (RFC 3701)",
    "3fff::/20": "documentation (RFC 9637)",
    "2001::/23": "IETF protocol assignments (RFC 2928): Teredo, ORCHID, AMT, AS112 anycast",
    "2001:db8::/32": "documentation (RFC 3849)",
    "2620:4f:8000::/48": "AS112 direct delegation (RFC 7534)",
    "5f00::/16": "SRv6 segment identifiers (RFC 9602)",
    "64:ff9b:1::/48": "local-use IPv4/IPv6 translation (RFC 8215)",
    "100::/64": "discard-only (RFC 6666)",
    "100:0:0:1::/64": "dummy prefix (RFC 9780)",
}
_SPECIAL = [ipaddress.ip_network(block) for block in SPECIAL_PURPOSE]


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    address: str  # the checked IP address the connection goes to


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` may not be a webhook target (None: it is a public unicast address)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return refusal(embedded)
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if any(address in block for block in _SPECIAL):
        return "special-purpose"
    if not address.is_global:
        return "non-public"
    return None


async def resolve(url: str, resolver: Resolver, *, allow_private: bool) -> Target:
    """The address to connect to for ``url``; TargetNotAllowed when it is refused or does not resolve."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise TargetNotAllowed("The URL has no host", field="webhook_url")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = await asyncio.wait_for(resolver(host, port), RESOLVE_TIMEOUT_SECONDS)
        except (OSError, TimeoutError, UnicodeError):
            raise TargetNotAllowed(f"{host} does not resolve", field="webhook_url") from None
    if not addresses:
        raise TargetNotAllowed(f"{host} does not resolve", field="webhook_url")
    if not allow_private:
        for text in addresses:
            reason = refusal(ipaddress.ip_address(text))
            if reason is not None:
                raise TargetNotAllowed(
                    f"{host} resolves to a {reason} address", field="webhook_url", reason=reason
                )
    return Target(host, port, addresses[0])
